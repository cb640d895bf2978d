"""A ready-to-use encoder: images in, L2-normalised identity embeddings out.

>>> encoder = load_encoder("outputs/export")          # folder, encoder.pth or TorchScript file
>>> features = encoder([np.asarray(img1), pil_img2])  # (2, 512), rows of unit length
"""
from __future__ import annotations

import json
import logging
import os
import warnings
import zipfile
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from reid.models.checkpoint import identity_encoder_from_checkpoint, read_encoder_file

from .exporter import FILE_NAMES, METADATA_NAME, NormalisedEncoder

DEFAULT_INPUT_SIZE = (256, 128)
_logger = logging.getLogger("reid")


def _is_pil_image(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert")


def _as_float_batch(images: Any) -> torch.Tensor:
    """One batch-like input -> float tensor (B, 3, H, W) in [-1, 1] (not yet resized)."""
    if _is_pil_image(images):
        images = np.asarray(images.convert("RGB"))
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or images.shape[-1] != 3:
            raise ValueError(f"numpy images must be uint8 RGB arrays (H, W, 3) or (N, H, W, 3); "
                             f"got dtype {images.dtype} and shape {images.shape}")
        if not images.flags.writeable:  # e.g. np.asarray of a PIL image
            images = images.copy()
        images = torch.from_numpy(np.ascontiguousarray(images))
        images = images.unsqueeze(0) if images.dim() == 3 else images
        return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if isinstance(images, torch.Tensor):
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.dim() != 4:
            raise ValueError(f"image tensors must be (B, 3, H, W) or (3, H, W); got shape "
                             f"{tuple(images.shape)}")
        if images.dtype == torch.uint8:
            if images.shape[1] != 3 and images.shape[-1] == 3:  # HWC uint8 tensors
                images = images.permute(0, 3, 1, 2)
            images = images.float().div_(127.5).sub_(1.0)
        elif not images.is_floating_point():
            raise ValueError(f"image tensors must be float in [-1, 1] or uint8; got {images.dtype}")
        if images.shape[1] != 3:
            raise ValueError(f"image tensors must have 3 colour channels in dim 1; got shape "
                             f"{tuple(images.shape)}")
        if images.numel() and float(images.detach().abs().max()) > 1.0 + 1e-3:
            raise ValueError("float image tensors must be in [-1, 1] (got values up to "
                             f"{float(images.detach().abs().max()):.3g}); pass uint8 images "
                             "or rescale with x / 127.5 - 1")
        return images.float()
    raise TypeError(f"cannot embed images of type {type(images).__name__}: pass uint8 numpy "
                    "arrays (H, W, 3) / (N, H, W, 3), PIL images, tensors, or a list of those")


class EncoderPredictor(nn.Module):
    """Embeds batches of images (uint8 HWC arrays, PIL images, tensors) into unit-length features.

    ``model`` maps float images in [-1, 1] at ``input_size`` to L2-normalised embeddings (an
    exported :class:`NormalisedEncoder` or a TorchScript module). Inputs of other sizes are resized
    (bilinear, antialiased). The predictor is in eval mode and computes without gradients.
    """

    def __init__(self, model: nn.Module, input_size: Sequence[int] = DEFAULT_INPUT_SIZE,
                 metadata: dict | None = None) -> None:
        super().__init__()
        self.model = model
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.metadata = dict(metadata or {})
        self.register_buffer("_device_probe", torch.zeros(0), persistent=False)
        self.eval()

    @property
    def device(self) -> torch.device:
        return self._device_probe.device

    @property
    def embed_dim(self) -> int | None:
        return self.metadata.get("embed_dim")

    def prepare(self, images: Any) -> torch.Tensor:
        """Any accepted input -> float tensor (B, 3, H, W) in [-1, 1] at ``input_size``."""
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("cannot embed an empty list of images")
            parts = [_as_float_batch(img) for img in images]
            if len({p.shape[-2:] for p in parts}) == 1:
                return self._resize(torch.cat(parts).to(self.device))
            return torch.cat([self._resize(p.to(self.device)) for p in parts])
        return self._resize(_as_float_batch(images).to(self.device))

    def _resize(self, batch: torch.Tensor) -> torch.Tensor:
        if tuple(batch.shape[-2:]) == self.input_size:
            return batch
        return F.interpolate(batch, size=self.input_size, mode="bilinear", align_corners=False,
                             antialias=True).clamp_(-1.0, 1.0)

    def forward(self, images: Any, batch_size: int | None = None) -> torch.Tensor:
        """L2-normalised embeddings (B, embed_dim) on the predictor's device."""
        batch = self.prepare(images)
        with torch.no_grad():
            if not batch_size or batch.shape[0] <= batch_size:
                return self.model(batch)
            return torch.cat([self.model(chunk) for chunk in batch.split(batch_size)])

    def train(self, mode: bool = True) -> "EncoderPredictor":
        """Always stays in eval mode: BatchNorm statistics must not change at inference."""
        return super().train(False)


def _is_torchscript_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _resolve_encoder_path(path: str) -> str:
    if os.path.isdir(path):
        for fmt in ("state_dict", "torchscript"):
            candidate = os.path.join(path, FILE_NAMES[fmt])
            if os.path.isfile(candidate):
                return candidate
        raise FileNotFoundError(
            f"no exported encoder in folder '{path}': expected {FILE_NAMES['state_dict']} or "
            f"{FILE_NAMES['torchscript']} (written by tools/export.py)")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"encoder file not found: '{path}' (expected an exported "
                                f"{FILE_NAMES['state_dict']}, a TorchScript file, or a folder "
                                "holding them)")
    if path.endswith(".onnx"):
        raise ValueError(f"'{path}' is an ONNX model: run it with onnxruntime; load_encoder "
                         "takes the exported encoder.pth or the TorchScript file")
    return path


def load_encoder(path: str, device: str | torch.device = "cpu") -> EncoderPredictor:
    """A ready :class:`EncoderPredictor` from an export folder, ``encoder.pth`` or TorchScript.

    ``encoder.pth`` may also be any checkpoint :func:`reid.models.load_identity_encoder`
    accepts that describes its architecture (key mismatches are reported by name and logged).
    """
    path = _resolve_encoder_path(os.fspath(path))
    device = torch.device(device)
    if _is_torchscript_archive(path):
        extra = {METADATA_NAME: ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript deprecation notice
            module = torch.jit.load(path, map_location=device, _extra_files=extra)
        metadata = json.loads(extra[METADATA_NAME] or "{}")
    else:
        obj = read_encoder_file(path)
        encoder, report = identity_encoder_from_checkpoint(obj, path)
        if not report.clean:
            _logger.warning("encoder loaded with key mismatches:\n%s", report.summary())
        module = NormalisedEncoder(encoder)
        metadata = {"encoder_config": encoder.config(), "embed_dim": encoder.embed_dim}
        if isinstance(obj, dict) and "input_size" in obj:
            metadata["input_size"] = list(obj["input_size"])
    input_size = metadata.get("input_size") or DEFAULT_INPUT_SIZE
    return EncoderPredictor(module, input_size, metadata).to(device)
