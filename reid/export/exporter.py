"""Export the identity encoder alone: state dict, TorchScript and ONNX, each checked on a batch.

Every exported module takes a float tensor ``(B, 3, H, W)`` (any batch size) of normalised RGB
images, ``(rgb - pixel_mean) / pixel_std`` for RGB in [0, 1] ([-1, 1] with this project's
training transforms), and returns L2-normalised embeddings ``(B, embed_dim)``. Each file is
reloaded after writing and its output compared with the PyTorch model's on a random batch (ONNX
through onnxruntime, also at a second batch size to check the dynamic batch axis); the largest
absolute difference is logged and returned, and everything is summarised in ``export.json``.

Every file carries the same description (:func:`export_metadata`): ``backbone``,
``input_size`` (H, W), ``pixel_mean``, ``pixel_std``, ``embed_dim`` and ``encoder_config``:
in ``encoder.pth`` next to the weights, as the ``encoder.json`` extra file of the TorchScript
archive and the ``encoder.json`` metadata entry of the ONNX model, and in ``export.json``.
"""
from __future__ import annotations

import copy
import io
import json
import logging
import os
import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reid.models.checkpoint import (INPUT_KEYS, PIXEL_MEAN, PIXEL_STD, check_pixel_statistics,
                                    checkpoint_description, identity_encoder_from_checkpoint,
                                    input_description, input_description_from_cfg,
                                    read_encoder_file, save_identity_encoder)
from reid.models.identity_encoder import IdentityEncoder
from common.io import atomic_write_bytes, atomic_write_json
from common.optional import require

EXPORT_FORMATS = ("state_dict", "torchscript", "onnx")
FILE_NAMES = {"state_dict": "encoder.pth", "torchscript": "encoder.torchscript.pt",
              "onnx": "encoder.onnx"}
#: Name of the metadata entry stored inside TorchScript / ONNX exports.
METADATA_NAME = "encoder.json"
_logger = logging.getLogger("reid")


class NormalisedEncoder(nn.Module):
    """Export wrapper: normalised images -> L2-normalised identity embeddings.

    Input: float ``(B, 3, H, W)`` = ``(rgb - pixel_mean) / pixel_std`` for RGB in [0, 1], with
    the encoder file's statistics (default: the training transforms' 0.5 / 0.5, i.e. [-1, 1]).
    E_id itself takes [-1, 1] images (it converts to its backbone's statistics inside), so other
    statistics are first mapped back onto [-1, 1] with one multiply-add; with the default ones the
    images go to E_id unchanged.
    """

    def __init__(self, encoder: nn.Module, pixel_mean: Sequence[float] = PIXEL_MEAN,
                 pixel_std: Sequence[float] = PIXEL_STD) -> None:
        super().__init__()
        self.encoder = encoder
        mean = check_pixel_statistics(pixel_mean, "NormalisedEncoder: pixel_mean")
        std = check_pixel_statistics(pixel_std, "NormalisedEncoder: pixel_std", positive=True)
        self.pixel_mean, self.pixel_std = tuple(mean), tuple(std)
        self.remaps_input = (self.pixel_mean, self.pixel_std) != (PIXEL_MEAN, PIXEL_STD)
        # (x * std + mean) is RGB in [0, 1]; * 2 - 1 gives E_id's [-1, 1]
        self.register_buffer("input_scale", torch.tensor(std).view(1, 3, 1, 1) * 2,
                             persistent=False)
        self.register_buffer("input_shift", torch.tensor(mean).view(1, 3, 1, 1) * 2 - 1,
                             persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.remaps_input:
            images = images * self.input_scale + self.input_shift
        return F.normalize(self.encoder(images), p=2.0, dim=1)


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"state_dict,onnx"`` or a sequence -> a validated tuple of format names."""
    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = tuple(formats)
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ValueError(f"export formats {list(unknown) or list(formats)} not understood; "
                         f"choose from {', '.join(EXPORT_FORMATS)}")
    return formats


def input_range(pixel_mean: Sequence[float], pixel_std: Sequence[float]) -> list[float]:
    """[low, high] of ``(rgb - mean) / std`` over RGB in [0, 1] and the three channels."""
    return [min(-m / s for m, s in zip(pixel_mean, pixel_std)),
            max((1 - m) / s for m, s in zip(pixel_mean, pixel_std))]


def export_metadata(model: IdentityEncoder, input_size: Sequence[int],
                    pixel_mean: Sequence[float] = PIXEL_MEAN,
                    pixel_std: Sequence[float] = PIXEL_STD) -> dict[str, Any]:
    """What a consumer of an exported file needs to know (stored in every exported file)."""
    described = input_description(input_size, pixel_mean, pixel_std, where="export")
    return {"encoder_config": model.config(), "backbone": model.backbone_name,
            **described, "embed_dim": model.embed_dim,
            "input": "float (B, 3, H, W) = (rgb - pixel_mean) / pixel_std, RGB in [0, 1]",
            "input_range": input_range(described["pixel_mean"], described["pixel_std"]),
            "output": "l2-normalised", "torch_version": torch.__version__}


def _max_abs_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor) -> float:
    return float((torch.as_tensor(np.asarray(a)) - b.detach().cpu()).abs().max())


def _export_state_dict(model: IdentityEncoder, path: str, meta: dict,
                       batches: Sequence[torch.Tensor], references: Sequence[torch.Tensor]
                       ) -> list[float]:
    inputs = {key: meta[key] for key in INPUT_KEYS}
    save_identity_encoder(model, path, extra={"output": meta["output"]}, **inputs)
    obj = read_encoder_file(path)
    reloaded, report = identity_encoder_from_checkpoint(obj, path)
    if not report.clean:
        raise RuntimeError(f"{path}: reloaded encoder does not match:\n{report.summary()}")
    described = checkpoint_description(obj, path)
    if any(described.get(key) != value for key, value in inputs.items()):
        raise RuntimeError(f"{path}: reloaded input description {described} differs from the "
                           f"exported one {inputs}")
    wrapper = NormalisedEncoder(reloaded, meta["pixel_mean"], meta["pixel_std"]).eval()
    with torch.no_grad():
        return [_max_abs_diff(wrapper(x), ref) for x, ref in zip(batches, references)]


def _export_torchscript(wrapper: nn.Module, path: str, meta: dict,
                        batches: Sequence[torch.Tensor], references: Sequence[torch.Tensor]
                        ) -> list[float]:
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # TorchScript is deprecated upstream but remains the most portable C++/Python format
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(wrapper, batches[0], check_trace=False)
        torch.jit.save(traced, buffer, _extra_files={METADATA_NAME: json.dumps(meta)})
        atomic_write_bytes(path, buffer.getvalue())
        loaded = torch.jit.load(path, map_location="cpu")
    with torch.no_grad():
        return [_max_abs_diff(loaded(x), ref) for x, ref in zip(batches, references)]


def _onnx_bytes(wrapper: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    """ONNX model bytes with a dynamic batch axis (TorchScript-based exporter, else dynamo)."""
    names = {"input_names": ["images"], "output_names": ["features"]}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (example,), buffer, dynamo=False, opset_version=opset,
                              dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                              **names)
        return buffer.getvalue()
    except Exception as exc:  # exporter removed or op unsupported: try the dynamo exporter
        _logger.info("TorchScript-based ONNX exporter failed (%s); using the dynamo exporter",
                     exc)
    program = torch.onnx.export(wrapper, (example,), dynamo=True, opset_version=max(opset, 18),
                                dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
                                **names)
    return program.model_proto.SerializeToString()


def _export_onnx(wrapper: nn.Module, path: str, meta: dict, batches: Sequence[torch.Tensor],
                 references: Sequence[torch.Tensor], opset: int = 17) -> list[float]:
    onnx = require("onnx", purpose="ONNX export")
    onnxruntime = require("onnxruntime", purpose="the ONNX export check")
    require("onnxscript", purpose="ONNX export")

    proto = onnx.load_from_string(_onnx_bytes(wrapper, batches[0], opset))
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, json.dumps(meta)
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    return [_max_abs_diff(session.run(None, {input_name: x.numpy()})[0], ref)
            for x, ref in zip(batches, references)]


def export_encoder(model: IdentityEncoder, output_dir: str,
                   formats: str | Iterable[str] = EXPORT_FORMATS,
                   input_size: Sequence[int] = (256, 128), batch: int = 4,
                   tolerance: float = 1e-4, seed: int = 0, *,
                   pixel_mean: Sequence[float] = PIXEL_MEAN,
                   pixel_std: Sequence[float] = PIXEL_STD) -> dict[str, Any]:
    """Write the encoder in every requested format below ``output_dir`` and check each one.

    ``input_size`` (H, W) and ``pixel_mean`` / ``pixel_std`` (RGB in [0, 1] -> encoder input)
    describe the input the encoder was trained with; every file records them.
    Returns the summary also written to ``output_dir/export.json``: the metadata of
    :func:`export_metadata`, per format the file, the largest absolute difference to the PyTorch
    output over the check batches (``batch`` images and a single image, to exercise the dynamic
    batch axis) and ``ok`` (difference within ``tolerance``); ``ok`` at the top is True when
    every format passed.
    """
    formats = parse_formats(formats)
    model = getattr(model, "module", model)
    if not isinstance(model, IdentityEncoder):
        raise TypeError(f"export_encoder expects an IdentityEncoder, got {type(model).__name__}")
    if len(input_size) != 2 or min(input_size) < 1 or batch < 1:
        raise ValueError(f"export_encoder: input_size must be (height, width) and batch >= 1; "
                         f"got input_size={tuple(input_size)}, batch={batch}")
    model = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    meta = export_metadata(model, input_size, pixel_mean, pixel_std)
    wrapper = NormalisedEncoder(model, meta["pixel_mean"], meta["pixel_std"]).eval()
    generator = torch.Generator().manual_seed(seed)
    height, width = meta["input_size"]
    mean = torch.tensor(meta["pixel_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(meta["pixel_std"]).view(1, 3, 1, 1)
    batches = [(torch.rand(n, 3, height, width, generator=generator) - mean) / std
               for n in dict.fromkeys((batch, 1))]
    with torch.no_grad():
        references = [wrapper(x) for x in batches]

    os.makedirs(output_dir, exist_ok=True)
    exporters = {
        "state_dict": lambda path: _export_state_dict(model, path, meta, batches, references),
        "torchscript": lambda path: _export_torchscript(wrapper, path, meta, batches, references),
        "onnx": lambda path: _export_onnx(wrapper, path, meta, batches, references),
    }
    results: dict[str, Any] = {}
    for name in formats:
        path = os.path.join(output_dir, FILE_NAMES[name])
        diff = max(exporters[name](path))
        results[name] = {"file": FILE_NAMES[name], "max_abs_diff": diff,
                         "ok": diff <= tolerance, "bytes": os.path.getsize(path)}
        _logger.info("exported %-11s -> %s (max |diff| vs PyTorch = %.3g)", name, path, diff)
    summary = {**meta, "check_batch_sizes": [int(x.shape[0]) for x in batches],
               "tolerance": tolerance, "formats": results,
               "ok": all(r["ok"] for r in results.values())}
    atomic_write_json(os.path.join(output_dir, "export.json"), summary)
    return summary


def format_export_summary(summary: dict[str, Any]) -> str:
    """A small table of the export checks for the console."""
    lines = [f"{'format':<12} {'file':<24} {'max |diff|':>11}  check",
             "-" * 56]
    for name, result in summary["formats"].items():
        lines.append(f"{name:<12} {result['file']:<24} {result['max_abs_diff']:>11.3g}  "
                     f"{'ok' if result['ok'] else 'FAILED'}")
    return "\n".join(lines)


def resolve_input_description(described: dict[str, Any], cfg, source: str
                              ) -> tuple[dict[str, Any], dict[str, str]]:
    """``(input_size / pixel_mean / pixel_std, where each came from)``: the checkpoint's own
    entries (``described``, see :func:`reid.models.checkpoint.checkpoint_description`), the
    config (``INPUT.SIZE``, the training transforms' normalisation) for those it lacks.

    Falling back to the config is logged as a warning; a config ``INPUT.SIZE`` that differs from
    the checkpoint's is logged as ignored.
    """
    from_cfg = input_description_from_cfg(cfg)
    resolved: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in INPUT_KEYS:
        in_file = key in described
        resolved[key] = described[key] if in_file else from_cfg[key]
        sources[key] = "checkpoint" if in_file else "config"
    fallback = [key for key in INPUT_KEYS if sources[key] == "config"]
    if fallback:
        _logger.warning("%s does not record its %s: using the config's (%s); pass the config the "
                        "encoder was trained with (--config / INPUT.SIZE) if that is wrong",
                        source, ", ".join(fallback),
                        ", ".join(f"{key}={resolved[key]}" for key in fallback))
    elif resolved["input_size"] != from_cfg["input_size"]:
        _logger.info("%s was trained at %dx%d: config INPUT.SIZE %s ignored", source,
                     *resolved["input_size"], tuple(from_cfg["input_size"]))
    return resolved, sources


def _export_config(cfg, model: IdentityEncoder, input_size: Sequence[int]):
    """A copy of ``cfg`` that describes the exported encoder (architecture and input size)."""
    cfg = cfg.clone()
    cfg.defrost()
    config = model.config()
    cfg.MODEL.BACKBONE, cfg.MODEL.LAST_STRIDE = config["backbone"], config["last_stride"]
    cfg.MODEL.NUM_PARTS, cfg.MODEL.EMBED_DIM = config["num_parts"], config["embed_dim"]
    cfg.INPUT.SIZE = tuple(int(s) for s in input_size)
    cfg.freeze()
    return cfg


def export_from_checkpoint(weights: str, output_dir: str, cfg=None,
                           formats: str | Iterable[str] = EXPORT_FORMATS,
                           batch: int = 4, trust_pickle: bool | None = None) -> dict[str, Any]:
    """Load E_id from any accepted checkpoint and export it.

    Architecture, input size and normalisation come from the checkpoint when it records them
    (this project's encoder files and training checkpoints); ``cfg`` (default config when None)
    is only the fallback for checkpoints that do not (third-party state dicts), which is
    logged, and ``summary["input_source"]`` says per entry where it came from. The config as
    used (INPUT.SIZE and MODEL architecture set to the exported encoder's) is saved as
    ``output_dir/config.yaml``; key mismatches while loading are logged by name and recorded in
    the summary. ``trust_pickle``: see :func:`reid.models.checkpoint.read_encoder_file`.

    Refused before anything is written: weights that leave tensors of the encoder unloaded
    (:class:`~reid.models.PartialLoadError` listing them, unless ``cfg.MODEL.PARTIAL_LOAD``) and
    an encoder with NaN / inf values (:class:`~reid.models.NonFiniteWeightsError`).
    """
    from reid.config import get_cfg_defaults, save_config
    from reid.models.weight_checks import check_complete_load, check_finite_weights

    cfg = cfg if cfg is not None else get_cfg_defaults()
    formats = parse_formats(formats)
    obj = read_encoder_file(weights, trust_pickle)
    model, report = identity_encoder_from_checkpoint(obj, weights, cfg)
    check_complete_load(report, "--weights", bool(cfg.MODEL.PARTIAL_LOAD))
    check_finite_weights(model, f"export of {weights}")
    inputs, sources = resolve_input_description(checkpoint_description(obj, weights), cfg,
                                                weights)
    os.makedirs(output_dir, exist_ok=True)
    save_config(_export_config(cfg, model, inputs["input_size"]),
                os.path.join(output_dir, "config.yaml"))
    summary = export_encoder(model, output_dir, formats, input_size=inputs["input_size"],
                             batch=batch, pixel_mean=inputs["pixel_mean"],
                             pixel_std=inputs["pixel_std"])
    summary["weights"] = os.path.abspath(weights)
    summary["input_source"] = sources
    summary["key_report"] = {"missing": report.missing, "unexpected": report.unexpected,
                             "shape_mismatch": report.shape_mismatch}
    atomic_write_json(os.path.join(output_dir, "export.json"), summary)
    return summary
