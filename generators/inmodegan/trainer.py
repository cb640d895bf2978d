"""InMoDeGAN training step and factory (thesis 5.2.4-5.2.5: non-saturating loss + R1,
lambda = 0.5, Adam lr 0.002, betas (0, 0.99))."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..stylegan.training import AdversarialTrainer, Inputs, Scored
from .discriminator import InMoDeGANDiscriminator
from .generator import InMoDeGANGenerator


class InMoDeGANTrainer(AdversarialTrainer):
    """``step(real_video (B, 3, T, R, R))`` -> losses. Real clips must have the generator's T."""

    generator: InMoDeGANGenerator

    def real_inputs(self, real: torch.Tensor) -> Inputs:
        g = self.generator
        expected = (3, g.num_frames, g.resolution, g.resolution)
        if real.dim() != 5 or tuple(real.shape[1:]) != expected:
            raise ValueError(f"InMoDeGAN expects real videos (B, {', '.join(map(str, expected))});"
                             f" got {tuple(real.shape)}")
        return {"video": real}

    def fake_inputs(self, batch_size: int, real: Inputs) -> tuple[Inputs, dict]:
        z_a, z_m = self.sample_noise(batch_size, real)
        return {"video": self.generator(z_a, z_m)}, {}

    def discriminate(self, inputs: Inputs) -> Scored:
        return self.discriminator(inputs["video"])


def build_inmodegan(resolution: int = 64, num_frames: int = 16, za_dim: int = 512,
                    zm_dim: int = 256, w_dim: int = 512, num_directions: int = 512,
                    mlp_layers: int = 8, basis: str = "svd", channel_base: int = 32768,
                    channel_max: int = 512, d_channel_base: Optional[int] = None,
                    d_channel_max: Optional[int] = None,
                    temporal_strides: Sequence[int] = (1, 2, 4, 8), video_weight: float = 0.5,
                    lr: float = 0.002, betas: tuple[float, float] = (0.0, 0.99),
                    r1_gamma: float = 1.0, r1_interval: int = 16,
                    ema_decay: Optional[float] = 0.999, use_noise: bool = True,
                    device: torch.device | str = "cpu") -> InMoDeGANTrainer:
    """Generator, discriminator, Adam optimisers and the trainer, on ``device``.

    Defaults are the thesis sizes (temporal pyramid of 4 levels, its best on VoxCeleb2-mini);
    the synthetic-clip configs pass small ``channel_base`` / ``channel_max`` / latent sizes.
    R1's weight is not given in the thesis (StyleGAN2 setting); ``r1_gamma`` is a free choice.
    """
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"InMoDeGAN resolution is {resolution}; expected a power of two "
                         "(the thesis uses 64 and 128)")
    generator = InMoDeGANGenerator(resolution, num_frames, za_dim, zm_dim, w_dim, num_directions,
                                   mlp_layers, basis, channel_base, channel_max,
                                   use_noise).to(device)
    discriminator = InMoDeGANDiscriminator(num_frames, resolution, temporal_strides, video_weight,
                                           d_channel_base or channel_base,
                                           d_channel_max or channel_max).to(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    return InMoDeGANTrainer(generator, discriminator, g_opt, d_opt, r1_gamma, r1_interval,
                            ema_decay)
