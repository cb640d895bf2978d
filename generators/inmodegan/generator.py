"""InMoDeGAN generator: G_A, G_M, motion bank, LMD and a StyleGAN2 synthesis net per frame."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..stylegan.synthesis import SynthesisNetwork
from .motion import (AppearanceNet, MotionBank, MotionNet, direction_mask,
                     linear_motion_decomposition)


class InMoDeGANGenerator(nn.Module):
    """(z_a (B, za_dim), z_m (B, T-1, zm_dim)) -> video (B, 3, T, R, R).

    Paper sizes are the defaults (z_a 512, z_m 256, w 512, N = 512 directions, 8-layer MLPs,
    StyleGAN2 widths); ``channel_base`` / ``channel_max`` shrink the synthesis net.
    ``mask`` (N,) multiplies the magnitudes: 0 deactivates a direction (alpha = 0).
    """

    def __init__(self, resolution: int = 64, num_frames: int = 16, za_dim: int = 512,
                 zm_dim: int = 256, w_dim: int = 512, num_directions: int = 512,
                 mlp_layers: int = 8, basis: str = "svd", channel_base: int = 32768,
                 channel_max: int = 512, use_noise: bool = True):
        super().__init__()
        if num_frames < 2:
            raise ValueError(f"num_frames must be >= 2; got {num_frames}")
        self.resolution, self.num_frames = resolution, num_frames
        self.za_dim, self.zm_dim, self.w_dim, self.num_directions = za_dim, zm_dim, w_dim, \
            num_directions
        self.appearance = AppearanceNet(za_dim, w_dim, mlp_layers)
        self.motion = MotionNet(za_dim, zm_dim, num_directions, w_dim, mlp_layers)
        self.motion_bank = MotionBank(num_directions, w_dim, basis)
        self.synthesis = SynthesisNetwork(resolution, w_dim, 3, channel_base, channel_max,
                                          use_noise=use_noise)

    def sample_noise(self, batch: int, num_frames: Optional[int] = None,
                     device: torch.device | str = "cpu",
                     generator: Optional[torch.Generator] = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """z_a (B, za_dim) and z_m (B, T-1, zm_dim) from N(0, I); any T >= 2 (longer videos)."""
        frames = num_frames or self.num_frames
        z_a = torch.randn(batch, self.za_dim, device=device, generator=generator)
        z_m = torch.randn(batch, frames - 1, self.zm_dim, device=device, generator=generator)
        return z_a, z_m

    def mask(self, active: Optional[list[int]] = None, inactive: Optional[list[int]] = None
             ) -> torch.Tensor:
        return direction_mask(self.num_directions, active, inactive,
                              self.motion_bank.matrix.device)

    def latent_codes(self, z_a: torch.Tensor, z_m: torch.Tensor,
                     mask: Optional[torch.Tensor] = None,
                     magnitudes: Optional[torch.Tensor] = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """(w (B, T, w_dim), A (B, T-1, N)). ``magnitudes`` replaces G_M's output (pre-defined
        trajectories); ``mask`` then switches directions on / off."""
        w0 = self.appearance(z_a)
        a = self.motion(z_a, z_m) if magnitudes is None else magnitudes
        if mask is not None:
            a = a * mask
        return linear_motion_decomposition(w0, a, self.motion_bank.directions()), a

    def synthesize(self, w: torch.Tensor) -> torch.Tensor:
        """Per-frame synthesis of (B, T, w_dim) latents -> (B, 3, T, R, R)."""
        b, t, _ = w.shape
        frames = self.synthesis(w.reshape(b * t, -1))
        return frames.reshape(b, t, *frames.shape[1:]).transpose(1, 2)

    def forward(self, z_a: torch.Tensor, z_m: torch.Tensor, mask: Optional[torch.Tensor] = None,
                magnitudes: Optional[torch.Tensor] = None) -> torch.Tensor:
        w, _ = self.latent_codes(z_a, z_m, mask, magnitudes)
        return self.synthesize(w)

    @torch.no_grad()
    def sample(self, batch: int, num_frames: Optional[int] = None,
               active: Optional[list[int]] = None, inactive: Optional[list[int]] = None,
               generator: Optional[torch.Generator] = None,
               noise: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> torch.Tensor:
        """Videos (B, 3, T, R, R) in [-1, 1]; only ``active`` / all but ``inactive`` directions."""
        device = self.motion_bank.matrix.device
        z_a, z_m = noise if noise is not None else self.sample_noise(batch, num_frames, "cpu",
                                                                     generator)
        mask = self.mask(active, inactive) if active is not None or inactive else None
        return self(z_a.to(device), z_m.to(device), mask).clamp(-1.0, 1.0)
