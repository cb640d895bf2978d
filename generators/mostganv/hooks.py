"""MoStGAN-V's calls for the registry: config -> trainer / generator, noise, generation, clip
length and the config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from ..style_training import (build_style_generator, build_style_trainer, check_style_config,
                              style_arguments)
from .generator import MoStGANVGenerator
from .trainer import MoStGANVTrainer, build_mostganv


def build_arguments(cfg) -> dict:
    """Keyword arguments of :func:`~generators.mostganv.build_mostganv` for ``cfg``."""
    m, v = cfg.MODEL, cfg.MODEL.MOSTGANV
    return dict(style_arguments(cfg), z_dim=m.Z_DIM, zm_dim=m.ZM_DIM, num_freqs=v.NUM_FREQS,
                motion_dim=v.MOTION_DIM, num_styles=v.NUM_STYLES, rank=v.RANK,
                mapping_layers=m.STYLE.MAPPING_LAYERS, trajectory_kernel=v.TRAJECTORY_KERNEL,
                anchor_spacing=v.ANCHOR_SPACING, num_frames=v.SPARSE_FRAMES,
                use_differences=v.FRAME_DIFFERENCES, diversity_weight=cfg.SOLVER.DIVERSITY_WEIGHT)


def build_trainer(cfg, device: torch.device | str = "cpu") -> MoStGANVTrainer:
    return build_style_trainer(build_mostganv, cfg, build_arguments(cfg), device)


def build_generator(cfg) -> MoStGANVGenerator:
    arguments = build_arguments(cfg)
    arguments.pop("num_frames")  # the discriminator's sparse frames, not a generator size
    return build_style_generator(MoStGANVGenerator, arguments)


def sample_noise(generator: MoStGANVGenerator, cfg, count: int,
                 device: torch.device | str = "cpu", rng: torch.Generator | None = None):
    """(z (count, z_dim), a motion-noise trajectory covering MODEL.NUM_FRAMES frames)."""
    return generator.sample_noise(count, float(cfg.MODEL.NUM_FRAMES - 1), device, rng)


def generate(generator: MoStGANVGenerator, cfg, noise: tuple, labels=None,
             images=None) -> torch.Tensor:
    """MODEL.NUM_FRAMES frames in [-1, 1] (unconditional)."""
    return generator.sample(noise[0].shape[0], num_frames=cfg.MODEL.NUM_FRAMES, noise=noise)


def clip_frames(cfg) -> int:
    return cfg.MODEL.NUM_FRAMES


def _check_mostganv(cfg) -> None:
    m = cfg.MODEL
    if not 2 <= m.MOSTGANV.SPARSE_FRAMES <= m.NUM_FRAMES:
        raise ConfigError(f"MODEL.MOSTGANV.SPARSE_FRAMES is {m.MOSTGANV.SPARSE_FRAMES}; expected "
                          f"2..MODEL.NUM_FRAMES ({m.NUM_FRAMES})")


def check_config(cfg) -> None:
    check_style_config(cfg, _check_mostganv)
