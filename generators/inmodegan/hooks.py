"""InMoDeGAN's calls for the registry: config -> trainer / generator, noise, generation, clip
length and the config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from ..style_training import (build_style_generator, build_style_trainer, check_style_config,
                              style_arguments)
from .generator import InMoDeGANGenerator
from .trainer import InMoDeGANTrainer, build_inmodegan


def build_arguments(cfg) -> dict:
    """Keyword arguments of :func:`~generators.inmodegan.build_inmodegan` for ``cfg``."""
    m, i = cfg.MODEL, cfg.MODEL.INMODEGAN
    return dict(style_arguments(cfg), num_frames=m.NUM_FRAMES, za_dim=m.ZA_DIM, zm_dim=m.ZM_DIM,
                num_directions=i.NUM_DIRECTIONS, mlp_layers=m.STYLE.MAPPING_LAYERS,
                basis=i.BASIS, temporal_strides=tuple(i.TEMPORAL_STRIDES),
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
    if max(m.INMODEGAN.TEMPORAL_STRIDES) >= m.NUM_FRAMES:
        raise ConfigError(f"MODEL.INMODEGAN.TEMPORAL_STRIDES {m.INMODEGAN.TEMPORAL_STRIDES} "
                          f"must be below MODEL.NUM_FRAMES = {m.NUM_FRAMES}")


def check_config(cfg) -> None:
    check_style_config(cfg, _check_inmodegan)
