"""E_str: encodes a 1-channel structure map (256 x 128, in [-1, 1]) into 128 x 64 x 32 features."""
from __future__ import annotations

import torch
from torch import nn

from .layers import ASPP, ConvNormAct, ResidualBlock, init_weights_kaiming


class StructureEncoder(nn.Module):
    """Instance norm + LeakyReLU(0.2) convolutions, two stride-2 downsamplings, residual blocks, ASPP.

    Layout for ``out_channels = 128`` (base = out_channels // 8 = 16)::

        conv3x3/2 1->16, conv3x3 16->32, conv3x3 32->32, conv3x3/2 32->64,
        4 x residual(64), ASPP(64, dilations 3/6/9) -> 128 channels at H/4 x W/4.
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 128, num_res_blocks: int = 4,
                 dilations: tuple[int, ...] = (3, 6, 9)):
        super().__init__()
        if out_channels % 8:
            raise ValueError(f"StructureEncoder out_channels must be a multiple of 8, got {out_channels}")
        base = out_channels // 8
        mid = out_channels // 2
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.net = nn.Sequential(
            ConvNormAct(in_channels, base, 3, 2, 1, norm="in"),
            ConvNormAct(base, 2 * base, 3, 1, 1, norm="in"),
            ConvNormAct(2 * base, 2 * base, 3, 1, 1, norm="in"),
            ConvNormAct(2 * base, mid, 3, 2, 1, norm="in"),
            *[ResidualBlock(mid, norm="in") for _ in range(num_res_blocks)],
            ASPP(mid, dilations=dilations, norm="in"),
        )
        init_weights_kaiming(self)

    def forward(self, structure: torch.Tensor) -> torch.Tensor:
        if structure.dim() != 4 or structure.shape[1] != self.in_channels:
            raise ValueError(
                f"StructureEncoder expects (B, {self.in_channels}, H, W) structure maps, "
                f"got shape {tuple(structure.shape)}")
        return self.net(structure)
