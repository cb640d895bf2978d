"""InMoDeGAN's calls for the registry: config -> trainer / generator, noise, generation, clip
length and the config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from ..style_training import (build_style_generator, build_style_trainer, check_style_config,
                              style_arguments)
from .discriminator import pyramid_strides
from .generator import InMoDeGANGenerator
from .trainer import InMoDeGANTrainer, build_inmodegan


def temporal_strides(cfg) -> tuple[int, ...]:
    """The pyramid's frame strides: MODEL.INMODEGAN.TEMPORAL_STRIDES when given, else the powers
    of two of MODEL.INMODEGAN.TEMPORAL_LEVELS levels."""
    i = cfg.MODEL.INMODEGAN
    return tuple(int(s) for s in i.TEMPORAL_STRIDES) or pyramid_strides(i.TEMPORAL_LEVELS)


def build_arguments(cfg) -> dict:
    """Keyword arguments of :func:`~generators.inmodegan.build_inmodegan` for ``cfg``."""
    m, i = cfg.MODEL, cfg.MODEL.INMODEGAN
    return dict(style_arguments(cfg), num_frames=m.NUM_FRAMES, za_dim=m.ZA_DIM, zm_dim=m.ZM_DIM,
                num_directions=i.NUM_DIRECTIONS, mlp_layers=m.STYLE.MAPPING_LAYERS,
                basis=i.BASIS, temporal_strides=temporal_strides(cfg),
                video_weight=i.VIDEO_WEIGHT)


def build_trainer(cfg, device: torch.device | str = "cpu") -> InMoDeGANTrainer:
    return build_style_trainer(build_inmodegan, cfg, build_arguments(cfg), device)


def build_generator(cfg) -> InMoDeGANGenerator:
    return build_style_generator(InMoDeGANGenerator, build_arguments(cfg))


def sample_noise(generator: InMoDeGANGenerator, cfg, count: int,
                 device: torch.device | str = "cpu", rng: torch.Generator | None = None):
    """(z_a (count, za_dim), z_m (count, MODEL.NUM_FRAMES - 1, zm_dim))."""
    return generator.sample_noise(count, cfg.MODEL.NUM_FRAMES, device, rng)


def generate(generator: InMoDeGANGenerator, cfg, noise: tuple, labels=None,
             images=None) -> torch.Tensor:
    """Clips in [-1, 1] with every motion direction (unconditional)."""
    return generator.sample(noise[0].shape[0], noise=noise)


def clip_frames(cfg) -> int:
    return cfg.MODEL.NUM_FRAMES


def _check_inmodegan(cfg) -> None:
    m = cfg.MODEL
    if m.INMODEGAN.NUM_DIRECTIONS > m.STYLE.W_DIM:
        raise ConfigError(f"MODEL.INMODEGAN.NUM_DIRECTIONS is {m.INMODEGAN.NUM_DIRECTIONS}; "
                          f"at most MODEL.STYLE.W_DIM = {m.STYLE.W_DIM} orthonormal directions")
    i = m.INMODEGAN
    if not isinstance(i.TEMPORAL_LEVELS, int) or i.TEMPORAL_LEVELS < 1:
        raise ConfigError(f"MODEL.INMODEGAN.TEMPORAL_LEVELS is {i.TEMPORAL_LEVELS}; expected an "
                          "integer >= 1 (4: 16, 8, 4, 2 frames, the thesis's VoxCeleb2-mini best)")
    explicit = tuple(i.TEMPORAL_STRIDES)
    if explicit and (len(explicit) != i.TEMPORAL_LEVELS
                     or any(not isinstance(s, int) or s < 1 for s in explicit)):
        raise ConfigError(f"MODEL.INMODEGAN.TEMPORAL_STRIDES is {list(explicit)}; expected [] "
                          f"(powers of two) or MODEL.INMODEGAN.TEMPORAL_LEVELS = "
                          f"{i.TEMPORAL_LEVELS} positive integers")
    strides = temporal_strides(cfg)
    if max(strides) >= m.NUM_FRAMES:
        raise ConfigError(f"MODEL.INMODEGAN.TEMPORAL_LEVELS {i.TEMPORAL_LEVELS} gives frame "
                          f"strides {list(strides)}; the largest must be below MODEL.NUM_FRAMES "
                          f"= {m.NUM_FRAMES} (fewer levels or explicit "
                          "MODEL.INMODEGAN.TEMPORAL_STRIDES)")


def check_config(cfg) -> None:
    check_style_config(cfg, _check_inmodegan)
