"""ImaGINator's calls for the registry: config -> generator, noise, generation, clip length and
the config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from ..config import frame_size
from .generator import ImaginatorGenerator


def build_generator(cfg) -> ImaginatorGenerator:
    m = cfg.MODEL
    return ImaginatorGenerator(m.NUM_CLASSES, m.BASE_CHANNELS, m.Z_DIM, m.LATENT_DIM,
                               m.CONV_TYPE, image_size=frame_size(cfg))


def sample_noise(generator: ImaginatorGenerator, cfg, count: int,
                 device: torch.device | str = "cpu",
                 rng: torch.Generator | None = None) -> tuple[torch.Tensor]:
    """(z (count, z_dim),)."""
    return (generator.sample_noise(count, device, rng),)


def generate(generator: ImaginatorGenerator, cfg, noise: tuple, labels=None,
             images=None) -> torch.Tensor:
    """The clips animating ``images`` (B, 3, H, W) with ``labels`` and noise z."""
    return generator(images, labels, noise[0])


def clip_frames(cfg) -> int:
    return ImaginatorGenerator.num_frames


def check_config(cfg) -> None:
    height, width = cfg.MODEL.IMAGE_SIZE, cfg.MODEL.IMAGE_WIDTH or cfg.MODEL.IMAGE_SIZE
    if min(height, width) < 16 or height % 16 or width % 16:
        raise ConfigError(f"MODEL.IMAGE_SIZE / IMAGE_WIDTH are {height} / {width}; ImaGINator "
                          "needs a frame height and width that are multiples of 16")
