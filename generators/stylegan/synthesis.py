"""StyleGAN2 synthesis network with skip (toRGB) outputs and noise inputs.

A learned 4x4 constant (optionally concatenated with a per-sample input code, as StyleGAN-V
does with its motion codes) is up-sampled block by block to the output resolution. Every
block: [x2 up-sampling + styled 3x3 conv], styled 3x3 conv, toRGB whose output is added to the
up-sampled RGB of the previous block.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .layers import ModulatedConv2d, NoiseInjection, ToRGB, WeightTransform


def channels_for_resolution(resolution: int, channel_base: int = 32768,
                            channel_max: int = 512, channel_min: int = 1) -> int:
    """StyleGAN2's width rule: channel_base / resolution, clipped to [channel_min, channel_max]."""
    return int(max(channel_min, min(channel_base // resolution, channel_max)))


class StyledLayer(nn.Module):
    """Modulated conv (optionally with x2 up-sampling) + noise + bias + LeakyReLU(0.2) * sqrt 2."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, up: bool = False,
                 kernel_size: int = 3, use_noise: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, w_dim, up=up)
        self.noise = NoiseInjection() if use_noise else None
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor,
                weight_transform: Optional[WeightTransform] = None,
                noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.conv(x, w, weight_transform)
        if self.noise is not None:
            x = self.noise(x, noise)
        return F.leaky_relu(x + self.bias, 0.2) * math.sqrt(2.0)


class SynthesisBlock(nn.Module):
    """One resolution: (up + conv0), conv1, toRGB. The first block (4x4) has no conv0."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, first: bool,
                 img_channels: int = 3, use_noise: bool = True):
        super().__init__()
        self.first = first
        self.conv0 = None if first else StyledLayer(in_channels, out_channels, w_dim, up=True,
                                                    use_noise=use_noise)
        self.conv1 = StyledLayer(in_channels if first else out_channels, out_channels, w_dim,
                                 use_noise=use_noise)
        self.to_rgb = ToRGB(out_channels, w_dim, img_channels)

    @property
    def styled_layers(self) -> list[StyledLayer]:
        return [layer for layer in (self.conv0, self.conv1) if layer is not None]


class SynthesisNetwork(nn.Module):
    """w -> image (B, img_channels, R, R), R a power of two >= 4.

    ``ws``: (B, w_dim) broadcast to every layer, or (B, num_ws, w_dim) one per layer (order: the
    styled convolutions of each block, then its toRGB). ``layer_transforms``: optional weight
    transforms, one per styled convolution (``num_conv_layers`` of them, ``None`` entries allowed).
    ``input_code``: (B, input_code_dim) concatenated to the constant, when ``input_code_dim`` > 0.
    """

    def __init__(self, resolution: int = 64, w_dim: int = 512, img_channels: int = 3,
                 channel_base: int = 32768, channel_max: int = 512, input_code_dim: int = 0,
                 use_noise: bool = True):
        super().__init__()
        log2 = math.log2(resolution)
        if resolution < 4 or log2 != int(log2):
            raise ValueError(f"resolution must be a power of two >= 4; got {resolution}")
        self.resolution, self.w_dim, self.input_code_dim = resolution, w_dim, input_code_dim
        self.resolutions = [2 ** i for i in range(2, int(log2) + 1)]
        widths = [channels_for_resolution(r, channel_base, channel_max) for r in self.resolutions]
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        blocks = []
        previous = widths[0] + input_code_dim
        for index, width in enumerate(widths):
            blocks.append(SynthesisBlock(previous, width, w_dim, first=index == 0,
                                         img_channels=img_channels, use_noise=use_noise))
            previous = width
        self.blocks = nn.ModuleList(blocks)
        self.styled_layers = [layer for block in self.blocks for layer in block.styled_layers]
        self.num_conv_layers = len(self.styled_layers)
        self.num_ws = self.num_conv_layers + len(self.blocks)

    def layer_shapes(self) -> list[tuple[int, int, int]]:
        """(out_channels, in_channels, kernel) of every styled convolution, in order."""
        return [(l.conv.out_channels, l.conv.in_channels, l.conv.kernel_size)
                for l in self.styled_layers]

    def layer_resolutions(self) -> list[int]:
        """Output resolution of every styled convolution, in order (both convolutions of the
        block at resolution r, the up-sampling one included, give r)."""
        return [resolution for resolution, block in zip(self.resolutions, self.blocks)
                for _ in block.styled_layers]

    def forward(self, ws: torch.Tensor,
                layer_transforms: Optional[Sequence[Optional[WeightTransform]]] = None,
                input_code: Optional[torch.Tensor] = None) -> torch.Tensor:
        if ws.dim() == 2:
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        if ws.dim() != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be (B, {self.w_dim}) or (B, {self.num_ws}, {self.w_dim}); "
                             f"got {tuple(ws.shape)}")
        if layer_transforms is not None and len(layer_transforms) != self.num_conv_layers:
            raise ValueError(f"layer_transforms has {len(layer_transforms)} entries; expected "
                             f"{self.num_conv_layers} (one per styled convolution)")
        transforms = list(layer_transforms) if layer_transforms is not None else \
            [None] * self.num_conv_layers
        batch = ws.shape[0]
        x = self.const.expand(batch, -1, -1, -1)
        if self.input_code_dim:
            if input_code is None or input_code.shape != (batch, self.input_code_dim):
                raise ValueError(f"input_code must be (B, {self.input_code_dim}); got "
                                 f"{None if input_code is None else tuple(input_code.shape)}")
            x = torch.cat([x, input_code[:, :, None, None].expand(-1, -1, 4, 4)], dim=1)
        w_index, t_index, image = 0, 0, None
        for block in self.blocks:
            for layer in block.styled_layers:
                x = layer(x, ws[:, w_index], transforms[t_index])
                w_index += 1
                t_index += 1
            image = block.to_rgb(x, ws[:, w_index], image)
            w_index += 1
        return image
