"""Saving and loading identity-encoder checkpoints with explicit key reports.

Accepted inputs of :func:`load_identity_encoder`:

* this project's encoder file (``format == "gcl-reid-identity-encoder"``): the architecture is
  rebuilt from its ``encoder_config``;
* a training checkpoint ``{"models": {"E_id": state_dict, ...}, ...}``;
* other code bases' state dicts (fast-reid, torchreid, SpCL / cluster-contrast, ``module.``
  prefixes, ...), remapped by :mod:`reid.models.key_mapping`.

Missing, unexpected and shape-mismatched keys are always reported by name.

Layout of an encoder file (version 2; :func:`checkpoint_description` reads it)::

    {"format": "gcl-reid-identity-encoder", "version": 2,
     "encoder_config": {"backbone", "last_stride", "num_parts", "embed_dim"},  # rebuilds E_id
     "state_dict": {name: tensor},
     "backbone": "resnet50", "embed_dim": 512,     # copies of encoder_config, for readers
     "input_size": [H, W],                         # absent when the writer did not know it
     "pixel_mean": [m_r, m_g, m_b], "pixel_std": [s_r, s_g, s_b],
     ...extra entries (e.g. "output")}

The encoder input is ``(rgb - pixel_mean) / pixel_std`` for RGB in [0, 1]. Version 1 files hold
only ``format`` / ``version`` / ``encoder_config`` / ``state_dict`` (and ``input_size`` when
written by the exporter); they still load, and were all written for [-1, 1] inputs.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import torch
import yaml

from common.io import atomic_save
from common.serialization import load_checkpoint_file
from common.state_dict import KeyReport, load_state_dict_with_report, unwrap_state_dict

from .identity_encoder import IdentityEncoder, build_identity_encoder
from .key_mapping import remap_state_keys

ENCODER_FORMAT = "gcl-reid-identity-encoder"
ENCODER_FORMAT_VERSION = 2
#: The training transforms' normalisation (:func:`reid.data.transforms.to_signed_tensor`): RGB in
#: [0, 1] -> ``(rgb - PIXEL_MEAN) / PIXEL_STD`` = [-1, 1], the input E_id is built for. No config
#: key changes it; E_id converts to its backbone's (ImageNet) statistics inside ``forward``.
PIXEL_MEAN = (0.5, 0.5, 0.5)
PIXEL_STD = (0.5, 0.5, 0.5)
#: Entries of an encoder file that describe how to prepare its input.
INPUT_KEYS = ("input_size", "pixel_mean", "pixel_std")
_RESERVED = ("format", "version", "encoder_config", "state_dict", "backbone",
             "embed_dim") + INPUT_KEYS


def check_input_size(value: Any, where: str = "input_size") -> list[int]:
    """``(height, width)`` as a list of two positive ints; ValueError naming ``where`` else."""
    try:
        size = [int(v) for v in value]
        ok = len(size) == 2 and min(size) > 0 and all(float(v) == s for v, s in zip(value, size))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{where}: expected (height, width) as two positive integers, "
                         f"got {value!r}")
    return size


def check_pixel_statistics(value: Any, where: str = "pixel_mean",
                           positive: bool = False) -> list[float]:
    """Three finite per-channel (R, G, B) values in [0, 1] pixel units; ``positive`` for a std."""
    try:
        stats = [float(v) for v in value]
        ok = len(stats) == 3 and all(math.isfinite(v) for v in stats)
    except (TypeError, ValueError):
        ok = False
    if not ok or (positive and min(stats) <= 0):
        what = "positive " if positive else ""
        raise ValueError(f"{where}: expected three finite {what}values (R, G, B, for pixels in "
                         f"[0, 1]), got {value!r}")
    return stats


def input_description(input_size: Sequence[int] | None, pixel_mean: Sequence[float] = PIXEL_MEAN,
                      pixel_std: Sequence[float] = PIXEL_STD, where: str = "encoder input"
                      ) -> dict[str, Any]:
    """Validated ``input_size`` / ``pixel_mean`` / ``pixel_std`` entries (no ``input_size`` when
    it is None)."""
    described: dict[str, Any] = {}
    if input_size is not None:
        described["input_size"] = check_input_size(input_size, f"{where}: input_size")
    described["pixel_mean"] = check_pixel_statistics(pixel_mean, f"{where}: pixel_mean")
    described["pixel_std"] = check_pixel_statistics(pixel_std, f"{where}: pixel_std",
                                                    positive=True)
    return described


def input_description_from_cfg(cfg) -> dict[str, Any]:
    """The input a config trains with: ``INPUT.SIZE`` and the transforms' normalisation."""
    return input_description(cfg.INPUT.SIZE, where="config INPUT.SIZE")


def save_identity_encoder(model: IdentityEncoder, path: str,
                          extra: Mapping[str, Any] | None = None, *,
                          input_size: Sequence[int] | None = None,
                          pixel_mean: Sequence[float] = PIXEL_MEAN,
                          pixel_std: Sequence[float] = PIXEL_STD) -> str:
    """Write ``model`` atomically as a self-describing encoder file; returns ``path``.

    The file records the architecture (``encoder_config``, ``backbone``, ``embed_dim``) and its
    input: ``input_size`` (H, W) the encoder was trained at (not recorded when None: readers then
    fall back to a config and say so) and the ``pixel_mean`` / ``pixel_std`` that turn RGB in
    [0, 1] into the encoder's input (default: the training transforms' [-1, 1]). ``extra``
    entries (e.g. ``epoch``) are stored next to them; see the module docstring for the layout.
    """
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if not isinstance(model, IdentityEncoder):
        raise TypeError(f"save_identity_encoder expects an IdentityEncoder, got "
                        f"{type(model).__name__}")
    clash = [k for k in (extra or {}) if k in _RESERVED]
    if clash:
        raise ValueError(f"save_identity_encoder: extra keys {clash} are reserved (pass "
                         f"input_size / pixel_mean / pixel_std as arguments)")
    payload = {"format": ENCODER_FORMAT, "version": ENCODER_FORMAT_VERSION,
               "encoder_config": model.config(),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "backbone": model.backbone_name, "embed_dim": model.embed_dim,
               **input_description(input_size, pixel_mean, pixel_std,
                                   where=f"save_identity_encoder({os.path.basename(path)})")}
    payload.update(dict(extra or {}))
    return atomic_save(payload, path)


def read_encoder_file(path: str, trust_pickle: bool | None = None) -> Any:
    """Read a checkpoint weights-only, with a clear error for absent or unreadable files.

    ``trust_pickle`` allows full unpickling of a legacy / third-party file (see
    :func:`common.serialization.load_checkpoint_file`)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"identity-encoder checkpoint not found: '{path}' (expected a file written by "
            "save_identity_encoder / tools/export.py, a training checkpoint, or a fast-reid / "
            "torchreid state dict)")
    return load_checkpoint_file(path, trust_pickle=trust_pickle,
                                what="identity-encoder checkpoint")


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


def checkpoint_description(obj: Any, source: str) -> dict[str, Any]:
    """What a checkpoint object records about its encoder, validated (see the module docstring).

    A subset of ``backbone``, ``embed_dim``, ``input_size`` (H, W), ``pixel_mean``, ``pixel_std``:

    * encoder files: every entry they hold; ``backbone`` / ``embed_dim`` from ``encoder_config``
      and the [-1, 1] normalisation (:data:`PIXEL_MEAN` / :data:`PIXEL_STD`) for version 1 files,
      which predate those entries;
    * training checkpoints: ``backbone`` / ``embed_dim`` from ``encoder_config``, ``input_size``
      from the stored config (``INPUT.SIZE``), the training transforms' normalisation;
    * anything else (third-party state dicts): nothing, ``{}``.
    """
    if not isinstance(obj, Mapping):
        return {}
    described: dict[str, Any] = {}
    config = obj.get("encoder_config")
    if isinstance(config, Mapping):
        described.update({k: config[k] for k in ("backbone", "embed_dim") if k in config})
    if obj.get("format") == ENCODER_FORMAT:
        described.update({k: obj[k] for k in ("backbone", "embed_dim") if k in obj})
        described.update(input_description(obj.get("input_size"), obj.get("pixel_mean", PIXEL_MEAN),
                                           obj.get("pixel_std", PIXEL_STD), where=source))
    elif isinstance(obj.get("models"), Mapping):
        size = _training_config_input_size(obj.get("config"))
        described.update(input_description(size, where=f"{source}: stored config"))
    return described


def _training_config_input_size(config: Any) -> list | None:
    """``INPUT.SIZE`` of a training checkpoint's config (YAML text), None if it has none."""
    try:
        data = yaml.safe_load(config) if isinstance(config, str) else None
        return list(data["INPUT"]["SIZE"])
    except (yaml.YAMLError, KeyError, TypeError):
        return None


def load_identity_encoder(path: str, cfg=None, device: str | torch.device = "cpu",
                          strict: bool = False, trust_pickle: bool | None = None
                          ) -> tuple[IdentityEncoder, KeyReport]:
    """Build E_id and load weights from ``path``; returns ``(model, key_report)``.

    The architecture comes from the file when it describes itself, else from ``cfg.MODEL``
    (default config when ``cfg`` is None). ``strict=True`` raises on any key mismatch.
    The model is returned in eval mode on ``device``. ``trust_pickle``: see
    :func:`read_encoder_file`.
    """
    return identity_encoder_from_checkpoint(read_encoder_file(path, trust_pickle), path, cfg,
                                            device, strict)


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
