"""G: decodes structure features and the part-pooled appearance code into an RGB image in [-1, 1]."""
from __future__ import annotations

import torch
from torch import nn

from reid.config.validation import ADAIN_INPUTS

from .layers import MLP, AdaINResidualBlock, ConvNormAct, init_weights_kaiming


class AppearanceDecoder(nn.Module):
    """AdaIN decoder: residual blocks modulated by the appearance code, then two x2 upsamplings.

    Residual block k is driven by two MLPs (one for the AdaIN scales, one for the biases; each
    outputs the parameters of both AdaIN layers of the block) that read a code_dim slice of the
    appearance code (B, code_dim, num_parts), chosen by ``adain_input``:

    * ``"stripe"``: part stripe k, ``parts[:, :, k]``;
    * ``"flat_slice"``: as the authors' code, slice k of the code flattened channel-major
      (``parts.reshape(B, -1)``, index c * num_parts + p): channels
      k * code_dim / num_parts .. (k + 1) * code_dim / num_parts - 1 of every stripe.

    Upsampling stages: nearest x2, conv5x5 with layer norm, LeakyReLU(0.2); then two conv3x3 and
    a conv1x1 to 3 channels, tanh.

    Input: structure features (B, C, h, w) with C = ``in_channels``; output (B, 3, 4h, 4w).
    """

    def __init__(self, in_channels: int = 128, code_dim: int = 2048, num_parts: int = 4,
                 mlp_dim: int = 512, num_res_blocks: int = 4, out_channels: int = 3,
                 adain_input: str = "stripe"):
        super().__init__()
        if num_res_blocks != num_parts:
            raise ValueError(
                f"AppearanceDecoder: one residual block per appearance part is required, got "
                f"num_res_blocks={num_res_blocks} and num_parts={num_parts}")
        if adain_input not in ADAIN_INPUTS:
            raise ValueError(f"AppearanceDecoder: adain_input must be one of {ADAIN_INPUTS}, "
                             f"got {adain_input!r}")
        self.adain_input = adain_input
        self.in_channels = in_channels
        self.code_dim = code_dim
        self.num_parts = num_parts
        self.res_blocks = nn.ModuleList(AdaINResidualBlock(in_channels) for _ in range(num_res_blocks))
        self.scale_mlps = nn.ModuleList(MLP(code_dim, 2 * in_channels, mlp_dim, 3) for _ in range(num_parts))
        self.bias_mlps = nn.ModuleList(MLP(code_dim, 2 * in_channels, mlp_dim, 3) for _ in range(num_parts))
        c = in_channels
        self.upsample = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvNormAct(c, c // 2, 5, 1, 2, norm="ln"),
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvNormAct(c // 2, c // 4, 5, 1, 2, norm="ln"),
            ConvNormAct(c // 4, c // 4, 3, 1, 1),
            ConvNormAct(c // 4, c // 4, 3, 1, 1),
            ConvNormAct(c // 4, out_channels, 1, act=False),
            nn.Tanh(),
        )
        init_weights_kaiming(self)

    def adain_parameters(self, parts: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(scale, bias) per residual block, each (B, 2 * in_channels), from parts (B, D, P)."""
        if parts.dim() != 3 or parts.shape[1] != self.code_dim or parts.shape[2] != self.num_parts:
            raise ValueError(
                f"AppearanceDecoder expects an appearance code of shape (B, {self.code_dim}, "
                f"{self.num_parts}), got {tuple(parts.shape)}")
        if self.adain_input == "flat_slice":
            codes = parts.reshape(parts.shape[0], -1).split(self.code_dim, dim=1)
        else:
            codes = parts.unbind(dim=2)
        return [(self.scale_mlps[k](code), self.bias_mlps[k](code))
                for k, code in enumerate(codes)]

    def forward(self, structure_features: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        if structure_features.dim() != 4 or structure_features.shape[1] != self.in_channels:
            raise ValueError(
                f"AppearanceDecoder expects structure features (B, {self.in_channels}, h, w), got "
                f"{tuple(structure_features.shape)}")
        if structure_features.shape[0] != parts.shape[0]:
            raise ValueError(
                f"batch sizes differ: structure features {structure_features.shape[0]}, "
                f"appearance code {parts.shape[0]}")
        x = structure_features
        for block, (scale, bias) in zip(self.res_blocks, self.adain_parameters(parts)):
            x = block(x, scale, bias)
        return self.upsample(x)


Generator = AppearanceDecoder
