"""G3AN's calls for the registry: config -> generator, noise, generation, clip length and the
config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from .generator import G3ANGenerator


def build_generator(cfg) -> G3ANGenerator:
    m = cfg.MODEL
    return G3ANGenerator(m.ZA_DIM, m.ZM_DIM, m.NUM_CLASSES, m.BASE_CHANNELS, m.CONV_TYPE,
                         m.ATTENTION_AFTER)


def sample_noise(generator: G3ANGenerator, cfg, count: int, device: torch.device | str = "cpu",
                 rng: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_a (count, za_dim), z_m (count, zm_dim, MODEL.ZM_STEPS))."""
    return generator.sample_noise(count, cfg.MODEL.ZM_STEPS, device, rng)


def generate(generator: G3ANGenerator, cfg, noise: tuple, labels=None,
             images=None) -> torch.Tensor:
    """Clips from (z_a, z_m) [and labels when conditional]."""
    return generator(noise[0], noise[1], labels)


def clip_frames(cfg) -> int:
    return G3ANGenerator.frames_for_steps(cfg.MODEL.ZM_STEPS)


def check_config(cfg) -> None:
    if cfg.MODEL.IMAGE_SIZE != 64 or cfg.MODEL.IMAGE_WIDTH not in (0, 64):
        raise ConfigError(f"MODEL.IMAGE_SIZE / IMAGE_WIDTH are {cfg.MODEL.IMAGE_SIZE} / "
                          f"{cfg.MODEL.IMAGE_WIDTH}; the G3AN table architecture generates 64x64 "
                          "frames")
