"""Spectral-normalised discriminators: image (2D), video (3D) and video ((2+1)D).

All return raw logits of shape (B,); the sigmoid of the tables is folded into the
binary-cross-entropy-with-logits loss (the same function, numerically stable).
``image_size`` (an int or (H, W), multiples of 16; default 64 = the tables) sets the frame size:
the last spatial kernel becomes (H/16, W/16) so that any such size ends in one logit.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import label_map, one_hot_labels, spectral


def _frame_size(image_size) -> tuple[int, int]:
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 16 or size[0] % 16 or size[1] % 16:
        raise ValueError(f"discriminator frame size {image_size}: expected (H, W), multiples "
                         "of 16")
    return int(size[0]), int(size[1])


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def _width(base: int, multiple: int) -> int:
    return max(1, base * multiple)


class ImageDiscriminator(nn.Module):
    """D_I, thesis table 3.2: five 4x4 convolutions 64-128-256-512-1 on 64x64 frames."""

    def __init__(self, base_channels: int = 64, in_channels: int = 3, image_size=64):
        super().__init__()
        self.image_size = _frame_size(image_size)
        last = (self.image_size[0] // 16, self.image_size[1] // 16)
        c = [_width(base_channels, m) for m in (1, 2, 4, 8)]
        layers: list[nn.Module] = []
        previous = in_channels
        for width in c:
            layers += [spectral(nn.Conv2d(previous, width, 4, 2, 1)), _lrelu()]
            previous = width
        layers.append(spectral(nn.Conv2d(previous, 1, last, 1, 0)))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != self.image_size:
            raise ValueError(f"ImageDiscriminator expects {self.image_size[0]}x"
                             f"{self.image_size[1]} frames; got {tuple(images.shape)}")
        return self.net(images).flatten()


class VideoDiscriminator3D(nn.Module):
    """D_V, thesis table 3.3: 4x4x4 convolutions 64-128-256-512 (stride 2) and a final 2x4x4 one,
    on 32 frames of 64x64; the label map is concatenated to the output of Conv1."""

    def __init__(self, base_channels: int = 64, num_classes: int = 0, in_channels: int = 3,
                 image_size=64):
        super().__init__()
        self.num_classes = num_classes
        self.image_size = _frame_size(image_size)
        last = (2, self.image_size[0] // 16, self.image_size[1] // 16)
        c = [_width(base_channels, m) for m in (1, 2, 4, 8)]
        self.conv1 = nn.Sequential(spectral(nn.Conv3d(in_channels, c[0], 4, 2, 1)), _lrelu())
        self.rest = nn.Sequential(
            spectral(nn.Conv3d(c[0] + num_classes, c[1], 4, 2, 1)), _lrelu(),
            spectral(nn.Conv3d(c[1], c[2], 4, 2, 1)), _lrelu(),
            spectral(nn.Conv3d(c[2], c[3], 4, 2, 1)), _lrelu(),
            spectral(nn.Conv3d(c[3], 1, last, 1, 0)),
        )

    def forward(self, video: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if video.shape[2:] != (32, *self.image_size):
            raise ValueError(f"VideoDiscriminator3D expects (B, 3, 32, {self.image_size[0]}, "
                             f"{self.image_size[1]}); got {tuple(video.shape)}")
        h = self.conv1(video)
        onehot = one_hot_labels(labels, self.num_classes, video.shape[0], video.device)
        if self.num_classes:
            h = torch.cat([h, label_map(onehot, h.shape[2:])], dim=1)
        return self.rest(h).flatten()


class VideoDiscriminator2Plus1D(nn.Module):
    """G3AN's video discriminator on 16 frames of 64x64: four (spatial 1x4x4 stride 2, temporal
    4x1x1 valid) pairs 64-128-256-512, then 1x4x4 and 4x1x1 valid convolutions to one logit.
    Time shrinks 16 -> 13 -> 10 -> 7 -> 4 -> 1. With classes, the label map joins after pair 1."""

    def __init__(self, base_channels: int = 64, num_classes: int = 0, in_channels: int = 3,
                 image_size=64):
        super().__init__()
        self.num_classes = num_classes
        self.image_size = _frame_size(image_size)
        last = (1, self.image_size[0] // 16, self.image_size[1] // 16)
        c = [_width(base_channels, m) for m in (1, 2, 4, 8)]

        def pair(cin: int, cout: int) -> list[nn.Module]:
            return [spectral(nn.Conv3d(cin, cout, (1, 4, 4), (1, 2, 2), (0, 1, 1))), _lrelu(),
                    spectral(nn.Conv3d(cout, cout, (4, 1, 1), 1, 0)), _lrelu()]

        self.first = nn.Sequential(*pair(in_channels, c[0]))
        self.rest = nn.Sequential(
            *pair(c[0] + num_classes, c[1]), *pair(c[1], c[2]), *pair(c[2], c[3]),
            spectral(nn.Conv3d(c[3], c[3], last, 1, 0)), _lrelu(),
            spectral(nn.Conv3d(c[3], 1, (4, 1, 1), 1, 0)),
        )

    def forward(self, video: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if video.shape[2:] != (16, *self.image_size):
            raise ValueError(f"VideoDiscriminator2Plus1D expects (B, 3, 16, {self.image_size[0]}, "
                             f"{self.image_size[1]}); got {tuple(video.shape)}")
        h = self.first(video)
        if self.num_classes:
            onehot = one_hot_labels(labels, self.num_classes, video.shape[0], video.device)
            h = torch.cat([h, label_map(onehot, h.shape[2:])], dim=1)
        return self.rest(h).flatten()
