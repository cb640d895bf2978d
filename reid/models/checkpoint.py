"""Saving and loading identity-encoder checkpoints with explicit key reports.

Accepted inputs of :func:`load_identity_encoder`:

* this project's encoder file (``format == "gcl-reid-identity-encoder"``): the architecture is
  rebuilt from its ``encoder_config``;
* a training checkpoint ``{"models": {"E_id": state_dict, ...}, ...}``;
* other code bases' state dicts (fast-reid, torchreid, SpCL / cluster-contrast, ``module.``
  prefixes, ...), remapped by :mod:`reid.models.key_mapping`.

Missing, unexpected and shape-mismatched keys are always reported by name.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import torch

from reid.utils.io import atomic_save
from reid.utils.state_dict import KeyReport, load_state_dict_with_report, unwrap_state_dict

from .identity_encoder import IdentityEncoder, build_identity_encoder
from .key_mapping import remap_state_keys

ENCODER_FORMAT = "gcl-reid-identity-encoder"
ENCODER_FORMAT_VERSION = 1
_RESERVED = ("format", "version", "encoder_config", "state_dict")


def save_identity_encoder(model: IdentityEncoder, path: str,
                          extra: Mapping[str, Any] | None = None) -> str:
    """Write ``model`` atomically as a self-describing encoder file; returns ``path``.

    ``extra`` entries (e.g. ``input_size``, ``epoch``) are stored next to the weights.
    """
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if not isinstance(model, IdentityEncoder):
        raise TypeError(f"save_identity_encoder expects an IdentityEncoder, got "
                        f"{type(model).__name__}")
    clash = [k for k in (extra or {}) if k in _RESERVED]
    if clash:
        raise ValueError(f"save_identity_encoder: extra keys {clash} are reserved")
    payload = {"format": ENCODER_FORMAT, "version": ENCODER_FORMAT_VERSION,
               "encoder_config": model.config(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    payload.update(dict(extra or {}))
    return atomic_save(payload, path)


def read_encoder_file(path: str) -> Any:
    """``torch.load`` a checkpoint with a clear error for absent or unreadable files."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"identity-encoder checkpoint not found: '{path}' (expected a file written by "
            "save_identity_encoder / tools/export.py, a training checkpoint, or a fast-reid / "
            "torchreid state dict)")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise RuntimeError(f"cannot read checkpoint '{path}': {exc}") from exc


def split_encoder_checkpoint(obj: Any, source: str
                             ) -> tuple[dict | None, Mapping[str, torch.Tensor]]:
    """(encoder_config or None, the E_id state dict) of any accepted checkpoint object."""
    if isinstance(obj, Mapping) and obj.get("format") == ENCODER_FORMAT:
        version = obj.get("version", 0)
        if version > ENCODER_FORMAT_VERSION:
            raise RuntimeError(f"{source}: encoder file version {version} is newer than this code "
                               f"understands ({ENCODER_FORMAT_VERSION})")
        return dict(obj["encoder_config"]), obj["state_dict"]
    if isinstance(obj, Mapping) and isinstance(obj.get("models"), Mapping):
        models = obj["models"]
        if "E_id" not in models:
            raise RuntimeError(f"{source}: training checkpoint has no 'E_id' under 'models' "
                               f"(found: {', '.join(map(str, models))})")
        config = obj.get("encoder_config")
        return (dict(config) if isinstance(config, Mapping) else None), unwrap_state_dict(
            models["E_id"], source)
    return None, unwrap_state_dict(obj, source)


def load_identity_encoder(path: str, cfg=None, device: str | torch.device = "cpu",
                          strict: bool = False) -> tuple[IdentityEncoder, KeyReport]:
    """Build E_id and load weights from ``path``; returns ``(model, key_report)``.

    The architecture comes from the file when it describes itself, else from ``cfg.MODEL``
    (default config when ``cfg`` is None). ``strict=True`` raises on any key mismatch.
    The model is returned in eval mode on ``device``.
    """
    return identity_encoder_from_checkpoint(read_encoder_file(path), path, cfg, device, strict)


def identity_encoder_from_checkpoint(obj: Any, source: str, cfg=None,
                                     device: str | torch.device = "cpu",
                                     strict: bool = False) -> tuple[IdentityEncoder, KeyReport]:
    """:func:`load_identity_encoder` for a checkpoint object already read from ``source``."""
    config, state = split_encoder_checkpoint(obj, source)
    if config is not None:
        model = IdentityEncoder(**config)
    else:
        if cfg is None:
            from reid.config import get_cfg_defaults

            cfg = get_cfg_defaults()
        model = build_identity_encoder(cfg, pretrained=False)
    state = remap_state_keys(state, model.state_dict().keys())
    report = load_state_dict_with_report(model, state, strict=strict, source=source)
    return model.to(device).eval(), report
