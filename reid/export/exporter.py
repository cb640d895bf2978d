"""Export the identity encoder alone: state dict, TorchScript and ONNX, each checked on a batch.

Every exported module takes images in [-1, 1] as a float tensor ``(B, 3, H, W)`` (any batch size)
and returns L2-normalised embeddings ``(B, embed_dim)``. Each file is reloaded after writing and
its output compared with the PyTorch model's on a random batch (ONNX through onnxruntime, also
at a second batch size to check the dynamic batch axis); the largest absolute difference is
logged and returned, and everything is summarised in ``export.json``.
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

from reid.models.checkpoint import load_identity_encoder, save_identity_encoder
from reid.models.identity_encoder import IdentityEncoder
from reid.utils.io import atomic_write_bytes, atomic_write_json

EXPORT_FORMATS = ("state_dict", "torchscript", "onnx")
FILE_NAMES = {"state_dict": "encoder.pth", "torchscript": "encoder.torchscript.pt",
              "onnx": "encoder.onnx"}
#: Name of the metadata entry stored inside TorchScript / ONNX exports.
METADATA_NAME = "encoder.json"
_logger = logging.getLogger("reid")


class NormalisedEncoder(nn.Module):
    """Export wrapper: images in [-1, 1] -> L2-normalised identity embeddings."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, images: torch.Tensor) -> torch.Tensor:
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


def export_metadata(model: IdentityEncoder, input_size: Sequence[int]) -> dict[str, Any]:
    """What a consumer of an exported file needs to know."""
    return {"encoder_config": model.config(), "input_size": [int(s) for s in input_size],
            "embed_dim": model.embed_dim, "input_range": [-1.0, 1.0], "output": "l2-normalised",
            "torch_version": torch.__version__}


def _max_abs_diff(a: torch.Tensor | np.ndarray, b: torch.Tensor) -> float:
    return float((torch.as_tensor(np.asarray(a)) - b.detach().cpu()).abs().max())


def _export_state_dict(model: IdentityEncoder, path: str, meta: dict,
                       batches: Sequence[torch.Tensor], references: Sequence[torch.Tensor]
                       ) -> list[float]:
    save_identity_encoder(model, path, extra={"input_size": meta["input_size"],
                                              "output": meta["output"]})
    reloaded, report = load_identity_encoder(path)
    if not report.clean:
        raise RuntimeError(f"{path}: reloaded encoder does not match:\n{report.summary()}")
    wrapper = NormalisedEncoder(reloaded).eval()
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
    import onnx
    import onnxruntime

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
                   tolerance: float = 1e-4, seed: int = 0) -> dict[str, Any]:
    """Write the encoder in every requested format below ``output_dir`` and check each one.

    Returns the summary also written to ``output_dir/export.json``: per format the file, the
    largest absolute difference to the PyTorch output over the check batches (``batch`` images
    and a single image, to exercise the dynamic batch axis) and ``ok`` (difference within
    ``tolerance``); ``ok`` at the top is True when every format passed.
    """
    formats = parse_formats(formats)
    model = getattr(model, "module", model)
    if not isinstance(model, IdentityEncoder):
        raise TypeError(f"export_encoder expects an IdentityEncoder, got {type(model).__name__}")
    if len(input_size) != 2 or min(input_size) < 1 or batch < 1:
        raise ValueError(f"export_encoder: input_size must be (height, width) and batch >= 1; "
                         f"got input_size={tuple(input_size)}, batch={batch}")
    model = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    wrapper = NormalisedEncoder(model).eval()
    meta = export_metadata(model, input_size)
    generator = torch.Generator().manual_seed(seed)
    height, width = (int(s) for s in input_size)
    batches = [torch.rand(n, 3, height, width, generator=generator) * 2 - 1
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


def export_from_checkpoint(weights: str, output_dir: str, cfg=None,
                           formats: str | Iterable[str] = EXPORT_FORMATS,
                           batch: int = 4) -> dict[str, Any]:
    """Load E_id from any accepted checkpoint and export it (``cfg.INPUT.SIZE`` as input size).

    The resolved config is saved as ``output_dir/config.yaml``; key mismatches while loading are
    logged by name and recorded in the summary.
    """
    from reid.config import get_cfg_defaults, save_config

    cfg = cfg if cfg is not None else get_cfg_defaults()
    formats = parse_formats(formats)
    model, report = load_identity_encoder(weights, cfg)
    os.makedirs(output_dir, exist_ok=True)
    save_config(cfg, os.path.join(output_dir, "config.yaml"))
    summary = export_encoder(model, output_dir, formats, input_size=tuple(cfg.INPUT.SIZE),
                             batch=batch)
    summary["weights"] = os.path.abspath(weights)
    summary["key_report"] = {"missing": report.missing, "unexpected": report.unexpected,
                             "shape_mismatch": report.shape_mismatch}
    atomic_write_json(os.path.join(output_dir, "export.json"), summary)
    return summary
