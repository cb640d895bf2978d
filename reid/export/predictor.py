"""A ready-to-use encoder: images in, L2-normalised identity embeddings out.

>>> encoder = load_encoder("outputs/export")          # folder, encoder.pth or TorchScript file
>>> features = encoder([np.asarray(img1), pil_img2])  # (2, 512), rows of unit length

Accepted images (one, a batch, or a list of them; any size, resized to the file's input size):

* uint8 RGB: numpy arrays ``(H, W, 3)`` / ``(N, H, W, 3)``, PIL images (converted to RGB),
  tensors ``(3, H, W)`` / ``(B, 3, H, W)`` or channels-last ``(B, H, W, 3)``;
* float tensors ``(3, H, W)`` / ``(B, 3, H, W)``: RGB **in [0, 1]** (as ``uint8 / 255``, e.g.
  torchvision's ``to_tensor``), normalised with the file's ``pixel_mean`` / ``pixel_std`` like
  uint8 images;
* already-normalised float tensors, ``(rgb - pixel_mean) / pixel_std`` ([-1, 1] for this
  project's encoders), only with ``normalized=True``: they go to the encoder as they are.

Float tensors whose values fit neither convention (e.g. [0, 255] floats, or normalised values
without ``normalized=True``) raise ValueError: they are never silently mis-normalised.
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

from reid.models.checkpoint import (PIXEL_MEAN, PIXEL_STD, checkpoint_description,
                                    identity_encoder_from_checkpoint, input_description,
                                    read_encoder_file)

from .exporter import FILE_NAMES, METADATA_NAME, NormalisedEncoder, input_range

DEFAULT_INPUT_SIZE = (256, 128)
#: Slack on the range checks of float inputs (rounding of a conversion done elsewhere).
RANGE_TOLERANCE = 1e-3
_logger = logging.getLogger("reid")


def _is_pil_image(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert")


def _as_float_batch(images: Any, normalized: bool = False) -> torch.Tensor:
    """One batch-like input -> float tensor (B, 3, H, W), not yet resized or range-checked.

    uint8 images become RGB in [0, 1] (``/ 255``); float tensors are returned as they are (RGB
    in [0, 1], or already normalised with ``normalized=True``). ``normalized=True`` with uint8
    images is a ValueError: uint8 pixels are never normalised values.
    """
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
        images = images.permute(0, 3, 1, 2)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"cannot embed images of type {type(images).__name__}: pass uint8 numpy "
                        "arrays (H, W, 3) / (N, H, W, 3), PIL images, tensors, or a list of "
                        "those")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4:
        raise ValueError(f"image tensors must be (B, 3, H, W) or (3, H, W); got shape "
                         f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        if normalized:
            raise ValueError("normalized=True applies to float tensors of normalised images; "
                             "got uint8 images (pass them without normalized=True)")
        if images.shape[1] != 3 and images.shape[-1] == 3:  # HWC uint8 tensors
            images = images.permute(0, 3, 1, 2)
        images = images.float().div_(255.0)
    elif not images.is_floating_point():
        raise ValueError(f"image tensors must be uint8 or float (RGB in [0, 1], or normalised "
                         f"with normalized=True); got {images.dtype}")
    if images.shape[1] != 3:
        raise ValueError(f"image tensors must have 3 colour channels in dim 1; got shape "
                         f"{tuple(images.shape)}")
    return images.float()


def _value_range(images: torch.Tensor) -> tuple[float, float]:
    values = images.detach()
    return float(values.min()), float(values.max())


class EncoderPredictor(nn.Module):
    """Embeds batches of images (uint8 HWC arrays, PIL images, tensors) into unit-length features.

    ``model`` maps normalised float images ``(rgb - pixel_mean) / pixel_std`` at ``input_size``
    to L2-normalised embeddings (an exported :class:`NormalisedEncoder` or a TorchScript module).
    ``pixel_mean`` / ``pixel_std`` default to ``metadata``'s, else the training transforms'
    0.5 / 0.5 ([-1, 1]). Inputs of other sizes are resized (bilinear, antialiased). See the
    module docstring for the accepted inputs. The predictor is in eval mode and computes
    without gradients.
    """

    def __init__(self, model: nn.Module, input_size: Sequence[int] = DEFAULT_INPUT_SIZE,
                 metadata: dict | None = None, pixel_mean: Sequence[float] | None = None,
                 pixel_std: Sequence[float] | None = None) -> None:
        super().__init__()
        self.model = model
        self.metadata = dict(metadata or {})
        if pixel_mean is None:
            pixel_mean = self.metadata.get("pixel_mean", PIXEL_MEAN)
        if pixel_std is None:
            pixel_std = self.metadata.get("pixel_std", PIXEL_STD)
        described = input_description(input_size, pixel_mean, pixel_std,
                                      where="EncoderPredictor")
        self.input_size = tuple(described["input_size"])
        self.pixel_mean, self.pixel_std = described["pixel_mean"], described["pixel_std"]
        self.metadata.update(described)
        self.input_range = tuple(input_range(self.pixel_mean, self.pixel_std))
        mean = torch.tensor(self.pixel_mean).view(1, 3, 1, 1)
        std = torch.tensor(self.pixel_std).view(1, 3, 1, 1)
        self.register_buffer("_mean", mean, persistent=False)
        self.register_buffer("_std", std, persistent=False)
        self.register_buffer("_low", -mean / std, persistent=False)
        self.register_buffer("_high", (1 - mean) / std, persistent=False)
        self.eval()

    @property
    def device(self) -> torch.device:
        return self._mean.device

    @property
    def embed_dim(self) -> int | None:
        return self.metadata.get("embed_dim")

    def prepare(self, images: Any, normalized: bool = False) -> torch.Tensor:
        """Any accepted input -> normalised float tensor (B, 3, H, W) at ``input_size``.

        ``normalized=False`` (default): float tensors must be RGB in [0, 1]; they and uint8
        images are normalised with the file's ``pixel_mean`` / ``pixel_std``. ``normalized=True``:
        float tensors are already normalised and must lie in ``input_range``. ValueError names
        the values found and the accepted conventions otherwise.
        """
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("cannot embed an empty list of images")
            parts = [_as_float_batch(img, normalized) for img in images]
            if len({p.shape[-2:] for p in parts}) == 1:
                return self._resize(self._normalise(torch.cat(parts), normalized))
            return torch.cat([self._resize(self._normalise(p, normalized)) for p in parts])
        return self._resize(self._normalise(_as_float_batch(images, normalized), normalized))

    def _normalise(self, batch: torch.Tensor, normalized: bool) -> torch.Tensor:
        """Check the value range of ``batch`` and bring it to the encoder's normalised input."""
        batch = batch.to(self.device)
        if not batch.numel():
            return batch
        if not bool(torch.isfinite(batch).all()):
            raise ValueError("float images contain NaN or infinite values")
        low, high = _value_range(batch)
        if normalized:
            lo, hi = self.input_range
            channel_low = batch.detach().amin(dim=(0, 2, 3)).view(1, 3, 1, 1)
            channel_high = batch.detach().amax(dim=(0, 2, 3)).view(1, 3, 1, 1)
            if bool((channel_low < self._low - RANGE_TOLERANCE).any()
                    or (channel_high > self._high + RANGE_TOLERANCE).any()):
                raise ValueError(
                    f"normalized=True: float images must be (rgb - pixel_mean) / pixel_std with "
                    f"RGB in [0, 1], i.e. within [{lo:.3g}, {hi:.3g}] for this encoder (per "
                    f"channel from -pixel_mean / pixel_std to (1 - pixel_mean) / pixel_std, "
                    f"pixel_mean={self.pixel_mean}, pixel_std={self.pixel_std}); got values "
                    f"in [{low:.3g}, {high:.3g}]")
            return batch
        if low < -RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
            hint = ("they look like [0, 255] pixels: pass uint8 images or divide by 255"
                    if high > 1.0 + RANGE_TOLERANCE and low >= -RANGE_TOLERANCE else
                    "if they are already normalised ((rgb - pixel_mean) / pixel_std, within "
                    f"[{self.input_range[0]:.3g}, {self.input_range[1]:.3g}] for this encoder), "
                    "pass normalized=True")
            raise ValueError(f"float images are read as RGB in [0, 1]; got values in "
                             f"[{low:.3g}, {high:.3g}]: {hint}")
        return (batch - self._mean) / self._std

    def _resize(self, batch: torch.Tensor) -> torch.Tensor:
        if tuple(batch.shape[-2:]) == self.input_size:
            return batch
        resized = F.interpolate(batch, size=self.input_size, mode="bilinear",
                                align_corners=False, antialias=True)
        return torch.clamp(resized, min=self._low, max=self._high)

    def forward(self, images: Any, batch_size: int | None = None,
                normalized: bool = False) -> torch.Tensor:
        """L2-normalised embeddings (B, embed_dim) on the predictor's device.

        ``normalized``: see :meth:`prepare` (float inputs are RGB in [0, 1] unless True).
        """
        batch = self.prepare(images, normalized=normalized)
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


def _torchscript_encoder(path: str, device: torch.device) -> tuple[nn.Module, dict]:
    """The TorchScript module and its ``encoder.json`` metadata ({} if it has none)."""
    extra = {METADATA_NAME: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript deprecation notice
        module = torch.jit.load(path, map_location=device, _extra_files=extra)
    return module, json.loads(extra[METADATA_NAME] or "{}")


def _checkpoint_encoder(path: str, strict: bool, trust_pickle: bool | None
                        ) -> tuple[nn.Module, dict]:
    """A :class:`NormalisedEncoder` built from an encoder / training checkpoint and its metadata.

    ``strict``: a RuntimeError listing the missing, unexpected and shape-mismatched keys when
    the weights do not fit the architecture; else a logged warning.
    """
    obj = read_encoder_file(path, trust_pickle)
    encoder, report = identity_encoder_from_checkpoint(obj, path)
    if not report.clean:
        if strict:
            raise RuntimeError(
                f"{path}: the weights do not match the encoder architecture "
                f"{encoder.config()} (mismatched tensors would keep random values):\n"
                f"{report.summary()}\npass strict=False to load it anyway")
        _logger.warning("encoder loaded with key mismatches (strict=False):\n%s",
                        report.summary())
    metadata = {"encoder_config": encoder.config(), "backbone": encoder.backbone_name,
                "embed_dim": encoder.embed_dim, **checkpoint_description(obj, path)}
    module = NormalisedEncoder(encoder, metadata.get("pixel_mean", PIXEL_MEAN),
                               metadata.get("pixel_std", PIXEL_STD))
    return module, metadata


def load_encoder(path: str, device: str | torch.device = "cpu", strict: bool = True,
                 trust_pickle: bool | None = None) -> EncoderPredictor:
    """A ready :class:`EncoderPredictor` from an export folder, ``encoder.pth`` or TorchScript.

    ``encoder.pth`` may also be any checkpoint :func:`reid.models.load_identity_encoder`
    accepts that describes its architecture. Input size and normalisation come from the file
    (a file that does not record its input size is resized to 256x128, with a warning).

    ``strict=True`` (default): weights that do not fit the architecture are a RuntimeError
    listing the missing, unexpected and shape-mismatched keys by name; ``strict=False`` loads
    what fits and logs the same list as a warning. ``trust_pickle``: see
    :func:`reid.models.checkpoint.read_encoder_file`. Accepted images: see the module docstring.
    """
    path = _resolve_encoder_path(os.fspath(path))
    device = torch.device(device)
    if _is_torchscript_archive(path):
        module, metadata = _torchscript_encoder(path, device)
    else:
        module, metadata = _checkpoint_encoder(path, strict, trust_pickle)
    input_size = metadata.get("input_size")
    if not input_size:
        _logger.warning("%s does not record its input size: images are resized to %dx%d",
                        path, *DEFAULT_INPUT_SIZE)
        input_size = DEFAULT_INPUT_SIZE
    return EncoderPredictor(module, input_size, metadata).to(device)
