"""MoStGAN-V training step (sparse training on a few frames per clip) and factory."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..stylegan.training import AdversarialTrainer, Inputs, Scored
from .discriminator import build_discriminator
from .generator import MoStGANVGenerator


def sample_frame_times(batch: int, clip_length: int, num_frames: int = 3,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``num_frames`` distinct sorted frame indices per clip, uniformly at random: (B, n) long."""
    if num_frames > clip_length:
        raise ValueError(f"cannot pick {num_frames} distinct frames from clips of {clip_length}")
    order = torch.rand(batch, clip_length, generator=generator).argsort(dim=1)
    return order[:, :num_frames].sort(dim=1).values


class MoStGANVTrainer(AdversarialTrainer):
    """``step(real_video (B, 3, T, R, R))``: picks ``num_frames`` random frames per clip, renders
    fakes at the same times; G loss adds ``diversity_weight`` x the motion diversity loss."""

    generator: MoStGANVGenerator

    def __init__(self, *args, num_frames: int = 3, diversity_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_frames, self.diversity_weight = num_frames, diversity_weight

    def real_inputs(self, real: torch.Tensor) -> Inputs:
        res = self.generator.resolution
        if real.dim() != 5 or real.shape[1] != 3 or real.shape[3:] != (res, res):
            raise ValueError(f"MoStGAN-V expects real videos (B, 3, T, {res}, {res}); got "
                             f"{tuple(real.shape)}")
        times = sample_frame_times(real.shape[0], real.shape[2], self.num_frames)
        index = times.to(real.device)
        frames = real[torch.arange(real.shape[0], device=real.device)[:, None], :, index]
        return {"video": frames.permute(0, 2, 1, 3, 4), "times": times.float().to(real.device)}

    def sample_noise(self, batch_size: int, inputs: Inputs):
        """z and a motion-noise trajectory covering the latest frame time of the iteration."""
        times = inputs["times"]
        return self.generator.sample_noise(batch_size, float(times.max()), times.device)

    def fake_inputs(self, batch_size: int, real: Inputs) -> tuple[Inputs, dict]:
        times = real["times"]
        z, z_traj = self.sample_noise(batch_size, real)
        video, diversity = self.generator(z, z_traj, times, return_diversity=True)
        extra = {"diversity": self.diversity_weight * diversity} if self.diversity_weight else {}
        return {"video": video, "times": times}, extra

    def discriminate(self, inputs: Inputs) -> Scored:
        return [(self.discriminator(inputs["video"], inputs["times"]), 1.0)]


def build_mostganv(resolution: int = 256, z_dim: int = 512, w_dim: int = 512, zm_dim: int = 512,
                   num_freqs: int = 256, motion_dim: int = 128, num_styles: int = 8,
                   rank: int = 1, mapping_layers: int = 8, trajectory_kernel: int = 11,
                   anchor_spacing: float = 16.0, channel_base: int = 32768,
                   channel_max: int = 512, d_channel_base: Optional[int] = None,
                   d_channel_max: Optional[int] = None, num_frames: int = 3,
                   use_differences: bool = True, diversity_weight: float = 1.0,
                   lr: float = 0.0025, betas: tuple[float, float] = (0.0, 0.99),
                   r1_gamma: float = 1.0, r1_interval: int = 16,
                   ema_decay: Optional[float] = 0.999, use_noise: bool = True,
                   hypernet: str = "conv1d", hypernet_kernel: int = 1,
                   motion_resolutions: Sequence[int] = (16, 128),
                   discriminator: str = "fusion", fusion_resolution: int = 16,
                   device: torch.device | str = "cpu") -> MoStGANVTrainer:
    """Generator, sparse-frame discriminator, Adam optimisers and the trainer on ``device``.

    Defaults follow the paper where it gives values (K = 8 motion styles, motion vectors 128,
    rank 1, conv1d hypernetworks, 3 frames per clip, frame differences on, per-frame features
    fused at a low resolution in D), the authors' release where the paper names no number
    (hypernetwork kernel 1, motion styles at 16..128, fusion at 16) and StyleGAN-V / StyleGAN2
    otherwise. ``discriminator``: ``"fusion"`` or ``"stacked"``
    (:mod:`generators.mostganv.discriminator`).
    """
    generator = MoStGANVGenerator(resolution, z_dim, w_dim, zm_dim, num_freqs, motion_dim,
                                  num_styles, rank, mapping_layers, trajectory_kernel,
                                  anchor_spacing, channel_base, channel_max, use_noise,
                                  hypernet, hypernet_kernel, motion_resolutions).to(device)
    discriminator = build_discriminator(discriminator, resolution, num_frames,
                                        d_channel_base or channel_base,
                                        d_channel_max or channel_max, use_differences,
                                        fusion_resolution).to(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    return MoStGANVTrainer(generator, discriminator, g_opt, d_opt, r1_gamma=r1_gamma,
                           r1_interval=r1_interval, ema_decay=ema_decay, num_frames=num_frames,
                           diversity_weight=diversity_weight)
