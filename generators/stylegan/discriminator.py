"""StyleGAN2 residual discriminator with a minibatch standard-deviation layer."""
from __future__ import annotations

import math

import torch
from torch import nn

from .layers import EqualConv2d, EqualLinear
from .synthesis import channels_for_resolution


class ResidualDownBlock(nn.Module):
    """conv3x3, (FIR down) conv3x3, plus a 1x1 down-sampled skip; sum scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / math.sqrt(2.0)


class MinibatchStdLayer(nn.Module):
    """Appends the standard deviation of features over groups of samples as extra channels.

    The group is the largest divisor of the batch not above ``group_size``.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, b) + 1) if b % d == 0)
        f = self.num_channels
        y = x.reshape(g, b // g, f, c // f, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()            # (b/g, F, c/F, h, w)
        y = y.mean(dim=(2, 3, 4))                                    # (b/g, F)
        y = y.reshape(b // g, f, 1, 1).repeat(g, 1, h, w)            # (b, F, h, w)
        return torch.cat([x, y], dim=1)


class ResidualDiscriminator(nn.Module):
    """Image (B, in_channels, R, R) -> logits (B,). ``features`` gives the penultimate vector,
    for projection-style conditioning by callers."""

    def __init__(self, resolution: int = 64, in_channels: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, mbstd_group: int = 4, mbstd_channels: int = 1):
        super().__init__()
        log2 = math.log2(resolution)
        if resolution < 4 or log2 != int(log2):
            raise ValueError(f"resolution must be a power of two >= 4; got {resolution}")
        self.resolution, self.in_channels = resolution, in_channels
        res = [2 ** i for i in range(int(log2), 1, -1)]             # R, R/2, ..., 4
        widths = [channels_for_resolution(r, channel_base, channel_max) for r in res]
        self.from_rgb = EqualConv2d(in_channels, widths[0], 1, activation=True)
        self.blocks = nn.Sequential(*[ResidualDownBlock(a, b)
                                      for a, b in zip(widths[:-1], widths[1:])])
        self.mbstd = MinibatchStdLayer(mbstd_group, mbstd_channels)
        last = widths[-1]
        self.conv = EqualConv2d(last + mbstd_channels, last, 3, activation=True)
        self.fc = EqualLinear(last * 16, last, activation=True)
        self.out = EqualLinear(last, 1)
        self.feature_dim = last

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.resolution, self.resolution):
            raise ValueError(f"ResidualDiscriminator expects (B, {self.in_channels}, "
                             f"{self.resolution}, {self.resolution}); got {tuple(x.shape)}")
        x = self.blocks(self.from_rgb(x))
        x = self.conv(self.mbstd(x))
        return self.fc(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x)).flatten()
