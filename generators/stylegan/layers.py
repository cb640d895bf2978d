"""Equalised-learning-rate layers, the mapping network and the modulated convolution.

Modulated convolution (StyleGAN2): per sample ``b`` the weight is scaled per input channel by the
style ``s_b``, optionally transformed (MoStGAN-V's motion-style attention hooks in here), then
demodulated so that every output channel has unit expected norm; the batch is run as ONE grouped
convolution (``groups = B``) instead of a loop over samples.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch
from torch import nn
from torch.nn import functional as F

WeightTransform = Callable[[torch.Tensor], torch.Tensor]

_FIR = (1.0, 3.0, 3.0, 1.0)


def _fir_kernel(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    k = torch.tensor(_FIR, device=device, dtype=dtype)
    k = k[:, None] * k[None, :]
    return k / k.sum()


def upsample2d(x: torch.Tensor) -> torch.Tensor:
    """x2 up-sampling: zero insertion followed by the [1, 3, 3, 1] low-pass filter (gain 4)."""
    c = x.shape[1]
    kernel = (_fir_kernel(x.device, x.dtype) * 4).expand(c, 1, 4, 4)
    return F.conv_transpose2d(x, kernel, stride=2, padding=1, groups=c)


def downsample2d(x: torch.Tensor) -> torch.Tensor:
    """x2 down-sampling: the [1, 3, 3, 1] low-pass filter, then every second pixel."""
    c = x.shape[1]
    kernel = _fir_kernel(x.device, x.dtype).expand(c, 1, 4, 4)
    return F.conv2d(x, kernel, stride=2, padding=1, groups=c)


class EqualLinear(nn.Module):
    """Linear layer with run-time weight scaling 1/sqrt(fan_in) (equalised learning rate)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0, lr_mul: float = 1.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        out = F.linear(x, self.weight * self.scale, bias)
        if self.activation:
            out = F.leaky_relu(out, 0.2) * math.sqrt(2.0)
        return out


class EqualConv2d(nn.Module):
    """2D convolution with equalised learning rate; optional FIR down-sampling before it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: bool = False, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.activation = activation
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = downsample2d(x)
        out = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)
        if self.activation:
            out = F.leaky_relu(out, 0.2) * math.sqrt(2.0)
        return out


def normalize_2nd_moment(x: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim`` (the pixel norm of the mapping input)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (B, z_dim) -> w (B, w_dim): pixel norm then ``num_layers`` equalised FC + LeakyReLU.

    ``lr_mul`` = 0.01 as in StyleGAN2. Keeps a running mean of w (``w_avg``) for truncation.
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, num_layers: int = 8,
                 hidden_dim: Optional[int] = None, lr_mul: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        hidden_dim = hidden_dim or w_dim
        dims = [z_dim] + [hidden_dim] * (num_layers - 1) + [w_dim]
        self.layers = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activation=True)
                                      for a, b in zip(dims[:-1], dims[1:])])
        self.z_dim, self.w_dim, self.w_avg_beta = z_dim, w_dim, w_avg_beta
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        if z.shape[-1] != self.z_dim:
            raise ValueError(f"MappingNetwork expects z with last dimension {self.z_dim}; got "
                             f"{tuple(z.shape)}")
        w = self.layers(normalize_2nd_moment(z))
        if self.training and self.w_avg_beta is not None:
            with torch.no_grad():
                flat = w.detach().reshape(-1, self.w_dim).mean(0)
                self.w_avg.copy_(flat.lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1.0:
            w = self.w_avg.lerp(w, truncation_psi)
        return w


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     demodulate: bool = True, padding: int = 0,
                     weight_transform: Optional[WeightTransform] = None,
                     eps: float = 1e-8) -> torch.Tensor:
    """Per-sample modulated (and demodulated) convolution as one grouped convolution.

    x: (B, I, H, W); weight: (O, I, k, k); styles: (B, I). ``weight_transform`` receives the
    modulated per-sample weights (B, O, I, k, k) and returns a tensor of the same shape; it runs
    before demodulation.
    """
    batch, in_channels, height, width = x.shape
    out_channels, w_in, kh, kw = weight.shape
    if w_in != in_channels or styles.shape != (batch, in_channels):
        raise ValueError(f"modulated_conv2d: x {tuple(x.shape)}, weight {tuple(weight.shape)}, "
                         f"styles {tuple(styles.shape)} do not agree (expected styles (B, I))")
    w = weight.unsqueeze(0) * styles[:, None, :, None, None]                 # (B, O, I, k, k)
    if weight_transform is not None:
        w = weight_transform(w)
    if demodulate:
        w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + eps).rsqrt()
    out = F.conv2d(x.reshape(1, batch * in_channels, height, width),
                   w.reshape(batch * out_channels, in_channels, kh, kw),
                   padding=padding, groups=batch)
    return out.reshape(batch, out_channels, *out.shape[2:])


class ModulatedConv2d(nn.Module):
    """Style-modulated k x k convolution (affine w -> style, bias init 1), optional x2 up-sampling
    of the input (FIR) before the convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.up = demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor,
                weight_transform: Optional[WeightTransform] = None) -> torch.Tensor:
        if self.up:
            x = upsample2d(x)
        styles = self.affine(w)
        return modulated_conv2d(x, self.weight * self.scale, styles, self.demodulate,
                                self.kernel_size // 2, weight_transform)


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise scaled by a learned strength (initialised to 0)."""

    def __init__(self):
        super().__init__()
        self.strength = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device,
                                dtype=x.dtype)
        return x + self.strength * noise


class ToRGB(nn.Module):
    """1x1 modulated convolution without demodulation to image channels, plus bias."""

    def __init__(self, in_channels: int, w_dim: int, out_channels: int = 3):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor,
                skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + upsample2d(skip)
        return out
