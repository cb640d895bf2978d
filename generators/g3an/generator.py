"""G3AN generator (thesis chapter 4, CVPR 2020): appearance z_a and motion z_m -> video.

Five G3 modules G^3_0..G^3_4, each with three streams:
  * spatial G_S: transposed 2D convolution (1 x k x k) of the appearance features,
  * temporal G_T: transposed 1D convolution (k x 1 x 1) of the motion features,
  * video G_V: transposed (1+2)D convolution of the joint features,
followed by the spatio-temporal fusion F_V = [F_S replicated over time, F_V' + F_T replicated over
space]. Widths 512, 512, 256, 128, 64 (x base/64); spatial size 4, 8, 16, 32, 64; time 4, 8, 16,
16, 16 for one z_m step (a z_m with k steps gives 16 + 4 (k - 1) frames). F-SA sits on the video
stream after G^3_3 (paper notation, the fourth module; configurable). A 1x3x3 convolution + tanh
maps the last video features to RGB. Conditional generation concatenates the one-hot label to z_m
(the input of G_T only).
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import (FactorizedSelfAttention, VideoUpsampling, g3_fusion, init_gan_weights,
                     make_activation, one_hot_labels, spectral)

# (out-channel multiple of base, temporal (k, s, p), spatial (k, s, p))
G3_TABLE = (
    (8, (4, 1, 0), (4, 1, 0)),   # G^3_0: T 1 -> 4,  1 -> 4
    (8, (4, 2, 1), (4, 2, 1)),   # G^3_1: T 4 -> 8,  4 -> 8
    (4, (4, 2, 1), (4, 2, 1)),   # G^3_2: T 8 -> 16, 8 -> 16
    (2, (1, 1, 0), (4, 2, 1)),   # G^3_3: T 16,      16 -> 32
    (1, (1, 1, 0), (4, 2, 1)),   # G^3_4: T 16,      32 -> 64
)


def _maybe_sn(conv: nn.Module, use_sn: bool) -> nn.Module:
    return spectral(conv) if use_sn else conv


class G3Module(nn.Module):
    """One G^3_n module: spatial, temporal and video streams plus their fusion."""

    def __init__(self, in_spatial: int, in_video: int, in_temporal: int, out_channels: int,
                 temporal: tuple[int, int, int], spatial: tuple[int, int, int],
                 conv_type: str = "1+2d", spectral_norm: bool = True):
        super().__init__()
        kt, st, pt = temporal
        ks, ss, ps = spatial
        self.video = VideoUpsampling(in_video, out_channels, out_channels, temporal, spatial,
                                     conv_type, activation="relu", spectral_norm=spectral_norm)
        self.spatial = nn.Sequential(
            _maybe_sn(nn.ConvTranspose3d(in_spatial, out_channels, (1, ks, ks), (1, ss, ss),
                                         (0, ps, ps), bias=False), spectral_norm),
            nn.BatchNorm3d(out_channels), make_activation("relu"))
        self.temporal = nn.Sequential(
            _maybe_sn(nn.ConvTranspose3d(in_temporal, out_channels, (kt, 1, 1), (st, 1, 1),
                                         (pt, 0, 0), bias=False), spectral_norm),
            nn.BatchNorm3d(out_channels), make_activation("relu"))

    def forward(self, f_s: torch.Tensor, f_v: torch.Tensor, f_t: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f_s = self.spatial(f_s)     # (B, C, 1, H, W)
        f_t = self.temporal(f_t)    # (B, C, T, 1, 1)
        f_v = self.video(f_v)       # (B, C, T, H, W)
        return f_s, g3_fusion(f_v, f_s, f_t), f_t


class G3ANGenerator(nn.Module):
    """G(z_a, z_m[, label]) -> video (B, 3, T, 64, 64), T = 16 for one z_m time step."""

    def __init__(self, za_dim: int = 128, zm_dim: int = 10, num_classes: int = 0,
                 base_channels: int = 64, conv_type: str = "1+2d", attention_after: int = 3,
                 spectral_norm: bool = True):
        super().__init__()
        self.za_dim, self.zm_dim, self.num_classes = za_dim, zm_dim, num_classes
        if not -1 <= attention_after < len(G3_TABLE):
            raise ValueError(f"attention_after={attention_after}: expected -1 (none) or a module "
                             f"index 0..{len(G3_TABLE) - 1}")
        self.attention_after = attention_after
        modules = []
        in_s, in_v, in_t = za_dim, za_dim + zm_dim, zm_dim + num_classes
        for multiple, temporal, spatial in G3_TABLE:
            out = max(1, base_channels * multiple)
            modules.append(G3Module(in_s, in_v, in_t, out, temporal, spatial, conv_type,
                                    spectral_norm))
            in_s, in_v, in_t = out, 2 * out, out
        self.blocks = nn.ModuleList(modules)
        self.attention = None
        if attention_after >= 0:
            channels = 2 * max(1, base_channels * G3_TABLE[attention_after][0])
            self.attention = FactorizedSelfAttention(channels, spectral_norm=spectral_norm)
        self.to_rgb = nn.Conv3d(in_v, 3, (1, 3, 3), 1, (0, 1, 1))
        init_gan_weights(self)

    @staticmethod
    def frames_for_steps(steps: int) -> int:
        """Frames produced by a z_m with ``steps`` time steps."""
        return 16 + 4 * (steps - 1)

    def sample_noise(self, batch: int, steps: int = 1, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_a (B, za_dim), z_m (B, zm_dim, steps)) from N(0, I)."""
        z_a = torch.randn(batch, self.za_dim, device=device, generator=generator)
        z_m = torch.randn(batch, self.zm_dim, steps, device=device, generator=generator)
        return z_a, z_m

    def forward(self, z_a: torch.Tensor, z_m: torch.Tensor,
                labels: torch.Tensor | None = None) -> torch.Tensor:
        if z_a.dim() != 2 or z_a.shape[1] != self.za_dim:
            raise ValueError(f"z_a must be (B, {self.za_dim}); got {tuple(z_a.shape)}")
        if z_m.dim() == 2:
            z_m = z_m.unsqueeze(-1)
        if z_m.dim() != 3 or z_m.shape[:2] != (z_a.shape[0], self.zm_dim):
            raise ValueError(f"z_m must be (B, {self.zm_dim}) or (B, {self.zm_dim}, steps); got "
                             f"{tuple(z_m.shape)}")
        batch, _, steps = z_m.shape
        za5 = z_a[:, :, None, None, None]
        zm5 = z_m[:, :, :, None, None]
        f_v = torch.cat([za5.expand(-1, -1, steps, -1, -1), zm5], dim=1)
        f_t = zm5
        if self.num_classes:
            onehot = one_hot_labels(labels, self.num_classes, batch, z_a.device)
            f_t = torch.cat([zm5, onehot[:, :, None, None, None].expand(-1, -1, steps, 1, 1)], 1)
        f_s = za5
        for index, block in enumerate(self.blocks):
            f_s, f_v, f_t = block(f_s, f_v, f_t)
            if self.attention is not None and index == self.attention_after:
                f_v = self.attention(f_v)
        return torch.tanh(self.to_rgb(f_v))
