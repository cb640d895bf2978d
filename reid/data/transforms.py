"""Image transforms. Every output tensor is in **[-1, 1]** (``(x / 255 - 0.5) / 0.5``), never
ImageNet-normalised: the identity encoder converts to ImageNet statistics inside its forward.

Training: resize, random horizontal flip, zero padding + random crop back to size, optional colour
jitter, random erasing (filled with uniform random values in [-1, 1], or 0). Testing: resize only.
:class:`PairedTrainTransform` applies the same geometric operations to an RGB image and its
1-channel structure map (GCL needs the two aligned).

Randomness comes from torch's global generator, so ``torch.manual_seed`` (and the DataLoader's
per-worker seeding) makes the transforms reproducible.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision import transforms as T

InterpolationMode = T.InterpolationMode


def _to_pil(img, mode: str) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert(mode) if img.mode != mode else img
    if isinstance(img, np.ndarray):
        if img.dtype != np.uint8:
            raise TypeError(f"Expected a uint8 HxW(xC) array, got dtype {img.dtype}")
        return Image.fromarray(img).convert(mode)
    raise TypeError(f"Expected a PIL image or a uint8 numpy array, got {type(img).__name__}")


def to_signed_tensor(img) -> torch.Tensor:
    """PIL image / uint8 array -> float tensor CxHxW in [-1, 1]."""
    if not isinstance(img, torch.Tensor):
        img = TF.to_tensor(img)
    return img.mul(2.0).sub_(1.0)


class ToSignedTensor:
    """PIL image -> float tensor in [-1, 1]."""

    def __call__(self, img) -> torch.Tensor:
        return to_signed_tensor(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomErasing:
    """Erase a random rectangle of a [-1, 1] tensor (Zhong et al., as used in ReID baselines).

    Args:
        prob: probability of erasing.
        area: (min, max) erased fraction of the image area.
        aspect: (min, max) aspect ratio of the rectangle, sampled log-uniformly.
        fill: ``"random"`` (uniform values in [-1, 1] per pixel and channel) or ``"zero"``.
    """

    def __init__(self, prob: float = 0.5, area: tuple[float, float] = (0.02, 0.4),
                 aspect: tuple[float, float] = (0.3, 1 / 0.3), fill: str = "random") -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"RandomErasing prob must be in [0, 1], got {prob}")
        if fill not in ("random", "zero"):
            raise ValueError(f"RandomErasing fill must be 'random' or 'zero', got '{fill}'")
        self.prob, self.area, self.aspect, self.fill = prob, area, aspect, fill

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.prob == 0 or torch.rand(()).item() >= self.prob:
            return img
        c, h, w = img.shape[-3:]
        log_lo, log_hi = math.log(self.aspect[0]), math.log(self.aspect[1])
        for _ in range(100):
            target = h * w * float(torch.empty(()).uniform_(*self.area))
            ratio = math.exp(float(torch.empty(()).uniform_(log_lo, log_hi)))
            eh, ew = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if 0 < eh < h and 0 < ew < w:
                y = int(torch.randint(0, h - eh + 1, ()))
                x = int(torch.randint(0, w - ew + 1, ()))
                img = img.clone()
                if self.fill == "random":
                    img[..., y:y + eh, x:x + ew] = torch.empty(c, eh, ew).uniform_(-1.0, 1.0)
                else:
                    img[..., y:y + eh, x:x + ew] = 0.0
                return img
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prob={self.prob}, area={self.area}, fill={self.fill!r})"


def _check_size(size: Sequence[int]) -> tuple[int, int]:
    if len(size) != 2 or min(int(s) for s in size) <= 0:
        raise ValueError(f"Image size must be (height, width) with positive values, got {size}")
    return int(size[0]), int(size[1])


def build_train_transform(size: Sequence[int] = (256, 128), flip_prob: float = 0.5,
                          padding: int = 10, re_prob: float = 0.5, color_jitter: bool = False,
                          re_fill: str = "random") -> T.Compose:
    """Training transform: PIL RGB -> float tensor 3 x H x W in [-1, 1]."""
    size = _check_size(size)
    ops: list = [T.Resize(size, interpolation=InterpolationMode.BICUBIC)]
    if flip_prob > 0:
        ops.append(T.RandomHorizontalFlip(flip_prob))
    if padding > 0:
        ops += [T.Pad(padding, fill=0), T.RandomCrop(size)]
    if color_jitter:
        ops.append(T.ColorJitter(brightness=0.2, contrast=0.15, saturation=0.1, hue=0.0))
    ops.append(ToSignedTensor())
    if re_prob > 0:
        ops.append(RandomErasing(re_prob, fill=re_fill))
    return T.Compose(ops)


def build_test_transform(size: Sequence[int] = (256, 128)) -> T.Compose:
    """Test transform: resize, then float tensor 3 x H x W in [-1, 1]."""
    size = _check_size(size)
    return T.Compose([T.Resize(size, interpolation=InterpolationMode.BICUBIC), ToSignedTensor()])


class PairedTrainTransform:
    """The same random geometry (resize, flip, pad + crop) for an RGB image and its structure map.

    ``__call__(image, structure_map) -> (image_tensor 3xHxW, map_tensor 1xHxW)``, both in
    [-1, 1]. The image is padded with black, the map with ``map_fill`` (white = background of the
    structure renders). Colour jitter and random erasing touch the image only.
    """

    def __init__(self, size: Sequence[int] = (256, 128), flip_prob: float = 0.5,
                 padding: int = 10, re_prob: float = 0.0, color_jitter: bool = False,
                 map_fill: int = 255, re_fill: str = "random") -> None:
        self.size = _check_size(size)
        self.flip_prob = flip_prob
        self.padding = padding
        self.map_fill = map_fill
        self.jitter = (T.ColorJitter(brightness=0.2, contrast=0.15, saturation=0.1)
                       if color_jitter else None)
        self.erase = RandomErasing(re_prob, fill=re_fill) if re_prob > 0 else None

    def __call__(self, image, structure_map) -> tuple[torch.Tensor, torch.Tensor]:
        image_t, (smap_t,) = self.apply(image, [structure_map])
        return image_t, smap_t

    def apply(self, image, structure_maps: Sequence) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One random geometry for the image and every map: ``(3xHxW, [1xHxW, ...])``."""
        image = TF.resize(_to_pil(image, "RGB"), list(self.size), InterpolationMode.BICUBIC)
        smaps = [TF.resize(_to_pil(m, "L"), list(self.size), InterpolationMode.BILINEAR)
                 for m in structure_maps]
        if self.flip_prob > 0 and torch.rand(()).item() < self.flip_prob:
            image, smaps = TF.hflip(image), [TF.hflip(m) for m in smaps]
        if self.padding > 0:
            p = self.padding
            h, w = self.size
            top = int(torch.randint(0, 2 * p + 1, ()))
            left = int(torch.randint(0, 2 * p + 1, ()))
            image = TF.crop(TF.pad(image, [p], fill=0), top, left, h, w)
            smaps = [TF.crop(TF.pad(m, [p], fill=self.map_fill), top, left, h, w) for m in smaps]
        if self.jitter is not None:
            image = self.jitter(image)
        image_t = to_signed_tensor(image)
        if self.erase is not None:
            image_t = self.erase(image_t)
        return image_t, [to_signed_tensor(m) for m in smaps]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, flip_prob={self.flip_prob}, "
                f"padding={self.padding}, map_fill={self.map_fill})")
