"""D: multi-scale PatchGAN discriminator (256x128, 128x64, 64x32), LSGAN outputs."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvNormAct, ResidualBlock, init_weights_gaussian


class PatchDiscriminator(nn.Module):
    """One scale: conv1x1, conv3x3, two stride-2 stages, residual blocks, conv1x1 -> 1 score map."""

    def __init__(self, in_channels: int = 3, base_channels: int = 32, num_res_blocks: int = 4):
        super().__init__()
        c = base_channels
        self.net = nn.Sequential(
            ConvNormAct(in_channels, c, 1),
            ConvNormAct(c, c, 3, 1, 1),
            ConvNormAct(c, c, 3, 2, 1),
            ConvNormAct(c, c, 3, 1, 1),
            ConvNormAct(c, 2 * c, 3, 2, 1),
            *[ResidualBlock(2 * c, norm="none") for _ in range(num_res_blocks)],
            nn.Conv2d(2 * c, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleDiscriminator(nn.Module):
    """PatchGAN discriminators on the image and on 2x and 4x average-pooled copies.

    ``forward(x)`` returns a list of score maps, finest scale first.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 32, num_scales: int = 3,
                 num_res_blocks: int = 4):
        super().__init__()
        if num_scales < 1:
            raise ValueError(f"MultiScaleDiscriminator needs num_scales >= 1, got {num_scales}")
        self.in_channels = in_channels
        self.scales = nn.ModuleList(
            PatchDiscriminator(in_channels, base_channels, num_res_blocks) for _ in range(num_scales))
        init_weights_gaussian(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"MultiScaleDiscriminator expects images (B, {self.in_channels}, H, W), got "
                f"{tuple(x.shape)}")
        outputs = []
        for i, scale in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outputs.append(scale(x))
        return outputs
