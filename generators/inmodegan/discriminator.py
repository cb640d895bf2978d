"""InMoDeGAN's two-stream discriminator: an image D on one random frame per video and the
Temporal Pyramid Discriminator (TPD), 2D video discriminators on time-to-channel stacks of the
video sampled at several temporal speeds (strides)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from ..stylegan.discriminator import ResidualDiscriminator


def pyramid_strides(levels: int) -> tuple[int, ...]:
    """Frame strides of an ``levels``-level temporal pyramid: 1, 2, ..., 2^(levels - 1)
    (4 levels: 16, 8, 4, 2 frames of a 16-frame clip, the thesis's best on VoxCeleb2-mini)."""
    if int(levels) < 1:
        raise ValueError(f"temporal pyramid levels is {levels}; expected >= 1")
    return tuple(2 ** i for i in range(int(levels)))


def time_to_channel(video: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, C, T, H, W) -> every ``stride``-th frame stacked on channels: (B, C * ceil(T/s), H, W)."""
    picked = video[:, :, ::stride]
    b, c, t, h, w = picked.shape
    return picked.transpose(1, 2).reshape(b, t * c, h, w)


def random_frames(video: torch.Tensor, generator: Optional[torch.Generator] = None
                  ) -> torch.Tensor:
    """One random frame of every video: (B, C, T, H, W) -> (B, C, H, W)."""
    b, c, t, h, w = video.shape
    index = torch.randint(0, t, (b,), generator=generator).to(video.device)
    return video[torch.arange(b, device=video.device), :, index]


class TemporalPyramidDiscriminator(nn.Module):
    """D_{V_i} for each temporal stride v_i (1, 2, 4, 8 -> 16, 8, 4, 2 frames of a 16-frame
    clip)."""

    def __init__(self, num_frames: int = 16, resolution: int = 64,
                 strides: Sequence[int] = (1, 2, 4, 8), channel_base: int = 32768,
                 channel_max: int = 512, img_channels: int = 3):
        super().__init__()
        if not strides or any(int(s) < 1 for s in strides):
            raise ValueError(f"temporal strides must be positive integers; got {list(strides)}")
        self.strides = [int(s) for s in strides]
        self.num_frames = num_frames
        self.discriminators = nn.ModuleList(
            ResidualDiscriminator(resolution, img_channels * len(range(0, num_frames, s)),
                                  channel_base, channel_max) for s in self.strides)

    def forward(self, video: torch.Tensor) -> list[torch.Tensor]:
        if video.shape[2] != self.num_frames:
            raise ValueError(f"TemporalPyramidDiscriminator was built for {self.num_frames} "
                             f"frames; got a video of shape {tuple(video.shape)}")
        return [d(time_to_channel(video, s)) for d, s in zip(self.discriminators, self.strides)]


class InMoDeGANDiscriminator(nn.Module):
    """D_I + TPD. Returns ``[(logits_I, 1), (logits_V0, lambda), ...]`` (eq. 5.5, lambda = 0.5)."""

    def __init__(self, num_frames: int = 16, resolution: int = 64,
                 strides: Sequence[int] = (1, 2, 4, 8), video_weight: float = 0.5,
                 channel_base: int = 32768, channel_max: int = 512):
        super().__init__()
        self.image = ResidualDiscriminator(resolution, 3, channel_base, channel_max)
        self.pyramid = TemporalPyramidDiscriminator(num_frames, resolution, strides,
                                                    channel_base, channel_max)
        self.video_weight = video_weight

    def forward(self, video: torch.Tensor) -> list[tuple[torch.Tensor, float]]:
        scores = [(self.image(random_frames(video)), 1.0)]
        scores += [(logits, self.video_weight) for logits in self.pyramid(video)]
        return scores
