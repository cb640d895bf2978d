"""Building blocks shared by the GCL structure encoder, decoder and discriminator.

Convolutions use reflection padding and LeakyReLU(0.2), as in the authors' networks; the padded
convolution itself is :class:`~reid.models.gcl.reflect_conv.ReflectConv2d`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .reflect_conv import ReflectConv2d, reflection_pad  # noqa: F401 (re-exported)


def _same_dtype(x: torch.Tensor):
    """Autocast off for a normalisation layer: it then runs in the dtype of its input.

    Under bfloat16 autocast the norms would otherwise run in float32 and every activation would
    be converted to float32 after each norm and back to bfloat16 before the next convolution.
    The CPU and CUDA norm kernels accumulate their statistics in float32 for bfloat16 inputs.
    """
    return torch.autocast(x.device.type, enabled=False)


class InstanceNorm2d(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (no affine, no running statistics) kept in the input's dtype under autocast."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(channels, eps=eps, affine=False, track_running_stats=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _same_dtype(x):
            return F.instance_norm(x, eps=self.eps)


class LayerNorm2d(nn.GroupNorm):
    """Layer norm over (C, H, W) of each sample with a per-channel affine transform
    (``GroupNorm(1, C)``), kept in the input's dtype under autocast."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(1, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with _same_dtype(x):
            return F.group_norm(x, 1, self.weight.to(x.dtype), self.bias.to(x.dtype), self.eps)


def _norm(kind: str, channels: int) -> Optional[nn.Module]:
    if kind == "in":
        return InstanceNorm2d(channels)
    if kind == "ln":
        return LayerNorm2d(channels)
    if kind == "none":
        return None
    raise ValueError(f"unknown normalisation {kind!r}; expected 'in', 'ln' or 'none'")


class ConvNormAct(nn.Module):
    """Reflection-padded convolution, optional normalisation, optional LeakyReLU(0.2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 norm: str = "none", act: bool = True, dilation: int = 1):
        super().__init__()
        conv = ReflectConv2d if padding > 0 else nn.Conv2d
        self.conv = conv(in_ch, out_ch, kernel, stride, padding=padding, dilation=dilation)
        self.norm = _norm(norm, out_ch)
        self.act = nn.LeakyReLU(0.2, inplace=True) if act else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        return x


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (instance norm or none)."""

    def __init__(self, channels: int, norm: str = "in"):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, 1, 1, norm=norm, act=True),
            ConvNormAct(channels, channels, 3, 1, 1, norm=norm, act=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def adaptive_instance_norm(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                           eps: float = 1e-5) -> torch.Tensor:
    """Instance-normalise ``x`` (B, C, H, W), then apply per-sample ``scale``/``bias`` (B, C),
    in the dtype of ``x`` (also under autocast)."""
    with _same_dtype(x):
        x = F.instance_norm(x, eps=eps)
        return torch.addcmul(bias.to(x.dtype)[:, :, None, None], x, scale.to(x.dtype)[:, :, None, None])


class AdaINResidualBlock(nn.Module):
    """Residual block whose two normalisations are AdaIN layers driven by external parameters.

    ``forward(x, scale, bias)`` takes ``scale`` and ``bias`` of shape (B, 2 * C): the first C
    values drive the first AdaIN layer, the last C the second.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.conv1 = ReflectConv2d(channels, channels, 3, 1, 1)
        self.conv2 = ReflectConv2d(channels, channels, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        c = self.channels
        h = self.act(adaptive_instance_norm(self.conv1(x), scale[:, :c], bias[:, :c]))
        h = adaptive_instance_norm(self.conv2(h), scale[:, c:], bias[:, c:])
        return x + h


class MLP(nn.Module):
    """``num_layers`` linear layers with LeakyReLU(0.2) between them (none after the last)."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int, num_layers: int = 3):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MLP needs at least one layer, got num_layers={num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a 1x1 branch plus 3x3 branches at dilations 3, 6 and 9.

    Output channels are twice the input channels (64 -> 128 in the structure encoder).
    """

    def __init__(self, channels: int, dilations: tuple[int, ...] = (3, 6, 9), norm: str = "in"):
        super().__init__()
        part = channels // 2
        self.point = ConvNormAct(channels, part, 1, norm=norm, act=False)
        self.dilated = nn.ModuleList(
            nn.Sequential(
                ConvNormAct(channels, part, 1, norm=norm, act=True),
                ConvNormAct(part, part, 3, 1, d, norm=norm, act=False, dilation=d),
            )
            for d in dilations
        )
        self.fuse = ConvNormAct(part * (1 + len(dilations)), 2 * channels, 1, norm=norm, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.point(x)] + [branch(x) for branch in self.dilated]
        return self.fuse(torch.cat(branches, dim=1))


def init_weights_kaiming(module: nn.Module) -> None:
    """Kaiming-normal (fan-in) weights and zero biases for every conv / linear layer."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def init_weights_gaussian(module: nn.Module, std: float = 0.02) -> None:
    """N(0, std) weights and zero biases for every conv / linear layer (discriminator init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
