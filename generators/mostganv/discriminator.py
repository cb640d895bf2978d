"""MoStGAN-V discriminators over a few sparse frames of a clip (3 by default).

Both see the frames and the differences of every frame pair (eq. 4) and end with a projection on
the time gaps between the frames (sinusoids and an MLP):
logit = fc(h) + <h, embed(gaps)> / sqrt(dim).

* :class:`FrameFusionDiscriminator` (the paper's, after StyleGAN-V): a 2D trunk extracts
  features of every image (frame or difference) on its own down to ``fusion_resolution`` (16),
  where the per-image features of a clip are concatenated on channels (each image's width
  halved first, as StyleGAN-V does) and the rest of the discriminator runs on the clip;
* :class:`SparseFrameDiscriminator` (``MODEL.MOSTGANV.DISCRIMINATOR stacked``): the images are
  stacked on the input channels of one residual 2D discriminator.
"""
from __future__ import annotations

import math
from itertools import combinations

import torch
from torch import nn

from ..stylegan.discriminator import MinibatchStdLayer, ResidualDiscriminator, ResidualDownBlock
from ..stylegan.layers import EqualConv2d, EqualLinear
from ..stylegan.synthesis import channels_for_resolution

DISCRIMINATORS = ("fusion", "stacked")


def frame_pair_differences(video: torch.Tensor) -> torch.Tensor:
    """(B, C, n, H, W) -> differences x_j - x_i of every pair i < j: (B, C, n(n-1)/2, H, W)."""
    n = video.shape[2]
    pairs = list(combinations(range(n), 2))
    first = torch.tensor([i for i, _ in pairs], device=video.device)
    second = torch.tensor([j for _, j in pairs], device=video.device)
    return video[:, :, second] - video[:, :, first]


def images_per_clip(num_frames: int, use_differences: bool) -> int:
    """Frames plus, with differences, one image per frame pair."""
    return num_frames + (num_frames * (num_frames - 1) // 2 if use_differences else 0)


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


class _SparseFrameInput(nn.Module):
    """What both discriminators share: the input check, frames + pair differences and the
    time-gap projection of the final features."""

    num_frames: int
    use_differences: bool
    time_embedding: TimeGapEmbedding

    def clip_images(self, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, n, H, W) -> frames then pair differences, (B, 3, m, H, W)."""
        if video.dim() != 5 or video.shape[2] != self.num_frames:
            raise ValueError(f"{type(self).__name__} expects (B, 3, {self.num_frames}, H, W); "
                             f"got {tuple(video.shape)}")
        stacks = [video]
        if self.use_differences:
            stacks.append(frame_pair_differences(video))
        return torch.cat(stacks, dim=2)

    def project(self, feats: torch.Tensor, out: nn.Module, times: torch.Tensor) -> torch.Tensor:
        """logits (B,) = out(feats) + <feats, embed(time gaps)> / sqrt(dim)."""
        embed = self.time_embedding((times[:, 1:] - times[:, :-1]).to(feats.dtype))
        projection = (feats * embed).sum(1) / math.sqrt(feats.shape[1])
        return out(feats).flatten() + projection


class SparseFrameDiscriminator(_SparseFrameInput):
    """(video (B, 3, n, R, R), times (B, n)) -> logits (B,); frames and differences stacked on
    the input channels."""

    def __init__(self, resolution: int = 256, num_frames: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, use_differences: bool = True):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"SparseFrameDiscriminator needs >= 2 frames; got {num_frames}")
        self.num_frames, self.use_differences = num_frames, use_differences
        images = images_per_clip(num_frames, use_differences)
        self.backbone = ResidualDiscriminator(resolution, 3 * images, channel_base, channel_max)
        self.time_embedding = TimeGapEmbedding(num_frames - 1, self.backbone.feature_dim)

    def forward(self, video: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        x = self.clip_images(video)
        b, c, n, h, w = x.shape
        feats = self.backbone.features(x.transpose(1, 2).reshape(b, n * c, h, w))
        return self.project(feats, self.backbone.out, times)


class FrameFusionDiscriminator(_SparseFrameInput):
    """(video (B, 3, n, R, R), times (B, n)) -> logits (B,); per-image features fused at
    ``fusion_resolution`` (a power of two in [4, R]).

    Per image: fromRGB and residual down blocks R -> fusion_resolution, the last one to half the
    usual width; per clip: the m images' features concatenated on channels (m * width / 2),
    residual down blocks to 4x4, minibatch std, conv, fc, output + time-gap projection.
    """

    def __init__(self, resolution: int = 256, num_frames: int = 3, channel_base: int = 32768,
                 channel_max: int = 512, use_differences: bool = True,
                 fusion_resolution: int = 16, mbstd_group: int = 4):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"FrameFusionDiscriminator needs >= 2 frames; got {num_frames}")
        for name, value in (("resolution", resolution), ("fusion_resolution", fusion_resolution)):
            if value < 4 or value & (value - 1):
                raise ValueError(f"{name} is {value}; expected a power of two >= 4")
        if fusion_resolution > resolution:
            raise ValueError(f"fusion_resolution {fusion_resolution} is above the resolution "
                             f"{resolution}")
        self.num_frames, self.use_differences = num_frames, use_differences
        self.resolution, self.fusion_resolution = resolution, fusion_resolution
        self.images = images_per_clip(num_frames, use_differences)

        def width(r: int) -> int:
            return channels_for_resolution(r, channel_base, channel_max)

        self.frame_channels = max(1, width(fusion_resolution) // 2)
        frame_res = [r for r in (2 ** i for i in range(int(math.log2(resolution)), 1, -1))
                     if r > fusion_resolution]                    # R, ..., 2 * fusion
        widths = [width(r) for r in frame_res] + [self.frame_channels]
        self.from_rgb = EqualConv2d(3, widths[0], 1, activation=True)
        self.frame_blocks = nn.Sequential(*[ResidualDownBlock(a, b)
                                            for a, b in zip(widths[:-1], widths[1:])])
        previous = self.images * self.frame_channels
        video_blocks = []
        r = fusion_resolution
        while r > 4:
            video_blocks.append(ResidualDownBlock(previous, width(r // 2)))
            previous, r = width(r // 2), r // 2
        self.video_blocks = nn.Sequential(*video_blocks)
        last = width(4)
        self.mbstd = MinibatchStdLayer(mbstd_group, 1)
        self.conv = EqualConv2d(previous + 1, last, 3, activation=True)
        self.fc = EqualLinear(last * 16, last, activation=True)
        self.out = EqualLinear(last, 1)
        self.feature_dim = last
        self.time_embedding = TimeGapEmbedding(num_frames - 1, last)

    def frame_features(self, video: torch.Tensor) -> torch.Tensor:
        """Features of every frame and difference on its own: (B, m, C_f, f, f) at the fusion
        resolution f."""
        x = self.clip_images(video)
        b, c, m, h, w = x.shape
        if (h, w) != (self.resolution, self.resolution):
            raise ValueError(f"FrameFusionDiscriminator expects frames of {self.resolution}x"
                             f"{self.resolution}; got {h}x{w}")
        feats = self.frame_blocks(self.from_rgb(x.transpose(1, 2).reshape(b * m, c, h, w)))
        return feats.reshape(b, m, *feats.shape[1:])

    def forward(self, video: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        per_image = self.frame_features(video)
        x = self.video_blocks(per_image.flatten(1, 2))                    # (B, m * C_f, f, f)
        feats = self.fc(self.conv(self.mbstd(x)).flatten(1))
        return self.project(feats, self.out, times)


def build_discriminator(kind: str = "fusion", resolution: int = 256, num_frames: int = 3,
                        channel_base: int = 32768, channel_max: int = 512,
                        use_differences: bool = True, fusion_resolution: int = 16) -> nn.Module:
    """``kind`` fusion (the paper's) or stacked."""
    if kind == "fusion":
        return FrameFusionDiscriminator(resolution, num_frames, channel_base, channel_max,
                                        use_differences, fusion_resolution)
    if kind == "stacked":
        return SparseFrameDiscriminator(resolution, num_frames, channel_base, channel_max,
                                        use_differences)
    raise ValueError(f"discriminator '{kind}': expected one of {', '.join(DISCRIMINATORS)}")
