"""MoStGAN-V generator: StyleGAN-V continuous-time motion codes plus time-dependent motion styles
that modulate the synthesis convolutions at the resolutions ``motion_resolutions`` (16 to 128 as
in the authors' release; the others keep their content style only) through MoStAtt (content
style first, then motion styles: the paper's default modulation order)."""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from ..stylegan.layers import MappingNetwork
from ..stylegan.synthesis import SynthesisNetwork
from .motion import (MotionEncoder, MotionStyleNetwork, build_hypernetwork,
                     motion_diversity_loss, motion_style_attention)


def motion_layer_indices(layer_resolutions: Sequence[int],
                         motion_resolutions: Sequence[int]) -> list[int]:
    """Indices of the styled convolutions whose output resolution lies in the inclusive range
    ``motion_resolutions`` = (lowest, highest); at least one must."""
    if len(motion_resolutions) != 2 or motion_resolutions[0] > motion_resolutions[1]:
        raise ValueError(f"motion_resolutions must be (lowest, highest); got "
                         f"{tuple(motion_resolutions)}")
    low, high = motion_resolutions
    chosen = [i for i, r in enumerate(layer_resolutions) if low <= r <= high]
    if not chosen:
        raise ValueError(f"motion_resolutions {tuple(motion_resolutions)} select no synthesis "
                         f"layer (resolutions {sorted(set(layer_resolutions))})")
    return chosen


class MoStGANVGenerator(nn.Module):
    """(z (B, z_dim), z_traj (B, zm_dim, L), times (B, n)) -> video (B, 3, n, R, R).

    ``times`` are frame indices as real numbers, any count and spacing (arbitrary-length
    sampling). Paper defaults: z / w 512, motion vectors 128, K = 8 motion styles, rank 1,
    trajectory kernel 11, conv1d hypernetworks (``hypernet="linear"``: one linear layer each),
    motion styles in the synthesis layers of resolution 16 to 128 (``motion_resolutions``).
    ``hypernetworks[j]`` belongs to styled convolution ``motion_layers[j]``.
    """

    def __init__(self, resolution: int = 256, z_dim: int = 512, w_dim: int = 512,
                 zm_dim: int = 512, num_freqs: int = 256, motion_dim: int = 128,
                 num_styles: int = 8, rank: int = 1, mapping_layers: int = 8,
                 trajectory_kernel: int = 11, anchor_spacing: float = 16.0,
                 channel_base: int = 32768, channel_max: int = 512, use_noise: bool = True,
                 hypernet: str = "conv1d", hypernet_kernel: int = 1,
                 motion_resolutions: Sequence[int] = (16, 128)):
        super().__init__()
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.motion_encoder = MotionEncoder(zm_dim, w_dim, num_freqs, trajectory_kernel,
                                            anchor_spacing=anchor_spacing)
        code_dim = self.motion_encoder.code_dim
        self.synthesis = SynthesisNetwork(resolution, w_dim, 3, channel_base, channel_max,
                                          input_code_dim=code_dim, use_noise=use_noise)
        self.motion_styles = MotionStyleNetwork(w_dim, code_dim, motion_dim, num_styles)
        shapes = self.synthesis.layer_shapes()
        self.motion_layers = motion_layer_indices(self.synthesis.layer_resolutions(),
                                                  motion_resolutions)
        self.hypernetworks = nn.ModuleList(
            build_hypernetwork(hypernet, motion_dim, shapes[j][1], shapes[j][2], rank,
                               hypernet_kernel) for j in self.motion_layers)
        self.num_styles, self.rank, self.hypernet = num_styles, rank, hypernet

    def sample_noise(self, batch: int, max_time: float, device: torch.device | str = "cpu",
                     generator: Optional[torch.Generator] = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, z_dim) and a motion-noise trajectory covering times up to ``max_time``."""
        z = torch.randn(batch, self.z_dim, device=device, generator=generator)
        return z, self.motion_encoder.sample_noise(batch, max_time, device, generator)

    def forward(self, z: torch.Tensor, z_traj: torch.Tensor, times: torch.Tensor,
                return_diversity: bool = False):
        b, n = times.shape
        w = self.mapping(z)                                               # (B, w_dim)
        codes = self.motion_encoder(z_traj, times.to(z.dtype))            # (B, n, code)
        w_frames = w.unsqueeze(1).expand(-1, n, -1).reshape(b * n, -1)
        codes = codes.reshape(b * n, -1)
        motion = self.motion_styles(w_frames, codes)                      # (B*n, K, motion_dim)
        scores: list[torch.Tensor] = []

        def transform(hyper: nn.Module):
            factors = hyper(motion)

            def apply(weight: torch.Tensor) -> torch.Tensor:
                modulated, s = motion_style_attention(weight, factors)
                scores.append(s)
                return modulated
            return apply

        transforms: list = [None] * self.synthesis.num_conv_layers
        for j, hyper in zip(self.motion_layers, self.hypernetworks):
            transforms[j] = transform(hyper)
        frames = self.synthesis(w_frames, transforms, codes)
        video = frames.reshape(b, n, *frames.shape[1:]).transpose(1, 2)
        if not return_diversity:
            return video
        diversity = torch.stack([motion_diversity_loss(s) for s in scores]).mean()
        return video, diversity

    @torch.no_grad()
    def sample(self, batch: int, num_frames: int = 16, times: Optional[torch.Tensor] = None,
               generator: Optional[torch.Generator] = None,
               noise: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
        """Videos (B, 3, n, R, R) in [-1, 1] at ``times`` (B, n) or (n,) (default 0..num_frames-1);
        any number of frames at any (non-negative) times."""
        device = self.synthesis.const.device
        if times is None:
            times = torch.arange(num_frames, dtype=torch.float32)
        times = times.float().to(device)
        if times.dim() == 1:
            times = times.unsqueeze(0).expand(batch, -1)
        if noise is None:
            noise = self.sample_noise(batch, float(times.max()), "cpu", generator)
        z, z_traj = (t.to(device) for t in noise)
        return self(z, z_traj, times).clamp(-1.0, 1.0)
