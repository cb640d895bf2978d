"""MoStGAN-V discriminator over a few sparse frames of a clip (3 by default).

The frames and the differences of every frame pair (eq. 4) are stacked on channels and scored by
a residual 2D discriminator; the time gaps between the frames, embedded with sinusoids and an
MLP, condition the output by projection: logit = fc(h) + <h, embed(gaps)> / sqrt(dim).
"""
from __future__ import annotations

import math
from itertools import combinations

import torch
from torch import nn

from ..stylegan.discriminator import ResidualDiscriminator
from ..stylegan.layers import EqualLinear


def frame_pair_differences(video: torch.Tensor) -> torch.Tensor:
    """(B, C, n, H, W) -> differences x_j - x_i of every pair i < j: (B, C, n(n-1)/2, H, W)."""
    n = video.shape[2]
    pairs = list(combinations(range(n), 2))
    first = torch.tensor([i for i, _ in pairs], device=video.device)
    second = torch.tensor([j for _, j in pairs], device=video.device)
    return video[:, :, second] - video[:, :, first]


class TimeGapEmbedding(nn.Module):
    """Gaps (B, n-1) -> sinusoidal features at fixed frequencies -> MLP -> (B, out_dim)."""

    def __init__(self, num_gaps: int, out_dim: int, num_freqs: int = 16, max_period: float = 256.0):
        super().__init__()
        periods = torch.logspace(0.0, math.log10(max_period), num_freqs)
        self.register_buffer("frequencies", 2 * math.pi / periods)
        self.mlp = nn.Sequential(EqualLinear(num_gaps * 2 * num_freqs, out_dim, activation=True),
                                 EqualLinear(out_dim, out_dim))

    def forward(self, gaps: torch.Tensor) -> torch.Tensor:
        angle = gaps.unsqueeze(-1) * self.frequencies
        feats = torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1)
        return self.mlp(feats.flatten(1))


class SparseFrameDiscriminator(nn.Module):
    """(video (B, 3, n, R, R), times (B, n)) -> logits (B,)."""

    def __init__(self, resolution: int = 256, num_frames: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, use_differences: bool = True):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"SparseFrameDiscriminator needs >= 2 frames; got {num_frames}")
        self.num_frames, self.use_differences = num_frames, use_differences
        pairs = num_frames * (num_frames - 1) // 2 if use_differences else 0
        self.backbone = ResidualDiscriminator(resolution, 3 * (num_frames + pairs), channel_base,
                                              channel_max)
        self.time_embedding = TimeGapEmbedding(num_frames - 1, self.backbone.feature_dim)

    def forward(self, video: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        if video.dim() != 5 or video.shape[2] != self.num_frames:
            raise ValueError(f"SparseFrameDiscriminator expects (B, 3, {self.num_frames}, H, W); "
                             f"got {tuple(video.shape)}")
        stacks = [video]
        if self.use_differences:
            stacks.append(frame_pair_differences(video))
        x = torch.cat(stacks, dim=2)
        b, c, n, h, w = x.shape
        feats = self.backbone.features(x.transpose(1, 2).reshape(b, n * c, h, w))
        embed = self.time_embedding((times[:, 1:] - times[:, :-1]).to(feats.dtype))
        projection = (feats * embed).sum(1) / math.sqrt(feats.shape[1])
        return self.backbone.out(feats).flatten() + projection
