"""MoStGAN-V's calls for the registry: config -> trainer / generator, noise, generation, clip
length and the config values it supports."""
from __future__ import annotations

import torch

from common.config import ConfigError

from ..style_training import (build_style_generator, build_style_trainer, check_style_config,
                              style_arguments)
from .discriminator import DISCRIMINATORS
from .generator import MoStGANVGenerator
from .motion import HYPERNETWORKS
from .trainer import MoStGANVTrainer, build_mostganv


def build_arguments(cfg) -> dict:
    """Keyword arguments of :func:`~generators.mostganv.build_mostganv` for ``cfg``."""
    m, v = cfg.MODEL, cfg.MODEL.MOSTGANV
    return dict(style_arguments(cfg), z_dim=m.Z_DIM, zm_dim=m.ZM_DIM, num_freqs=v.NUM_FREQS,
                motion_dim=v.MOTION_DIM, num_styles=v.NUM_STYLES, rank=v.RANK,
                mapping_layers=m.STYLE.MAPPING_LAYERS, trajectory_kernel=v.TRAJECTORY_KERNEL,
                anchor_spacing=v.ANCHOR_SPACING, num_frames=v.SPARSE_FRAMES,
                use_differences=v.FRAME_DIFFERENCES, diversity_weight=cfg.SOLVER.DIVERSITY_WEIGHT,
                hypernet=v.HYPERNET, hypernet_kernel=v.HYPERNET_KERNEL,
                motion_resolutions=tuple(v.MOTION_RESOLUTIONS), discriminator=v.DISCRIMINATOR,
                fusion_resolution=v.FUSION_RESOLUTION)


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


def _power_of_two(value) -> bool:
    return isinstance(value, int) and value >= 4 and not value & (value - 1)


def _check_mostganv(cfg) -> None:
    m, v = cfg.MODEL, cfg.MODEL.MOSTGANV
    if not 2 <= v.SPARSE_FRAMES <= m.NUM_FRAMES:
        raise ConfigError(f"MODEL.MOSTGANV.SPARSE_FRAMES is {v.SPARSE_FRAMES}; expected "
                          f"2..MODEL.NUM_FRAMES ({m.NUM_FRAMES})")
    if v.HYPERNET not in HYPERNETWORKS:
        raise ConfigError(f"MODEL.MOSTGANV.HYPERNET is '{v.HYPERNET}'; expected one of "
                          f"{', '.join(HYPERNETWORKS)}")
    if v.HYPERNET_KERNEL < 1 or v.HYPERNET_KERNEL % 2 == 0:
        raise ConfigError(f"MODEL.MOSTGANV.HYPERNET_KERNEL is {v.HYPERNET_KERNEL}; expected an "
                          "odd size >= 1 (1, 3, 5, ...)")
    bounds = tuple(v.MOTION_RESOLUTIONS)
    if len(bounds) != 2 or not all(_power_of_two(r) for r in bounds) or bounds[0] > bounds[1]:
        raise ConfigError(f"MODEL.MOSTGANV.MOTION_RESOLUTIONS is {list(bounds)}; expected "
                          "[lowest, highest], powers of two >= 4 with lowest <= highest")
    if bounds[0] > m.IMAGE_SIZE:
        raise ConfigError(f"MODEL.MOSTGANV.MOTION_RESOLUTIONS {list(bounds)} selects no "
                          f"synthesis layer: the lowest is above MODEL.IMAGE_SIZE = "
                          f"{m.IMAGE_SIZE}")
    if v.DISCRIMINATOR not in DISCRIMINATORS:
        raise ConfigError(f"MODEL.MOSTGANV.DISCRIMINATOR is '{v.DISCRIMINATOR}'; expected one "
                          f"of {', '.join(DISCRIMINATORS)}")
    if v.DISCRIMINATOR == "fusion" and (not _power_of_two(v.FUSION_RESOLUTION)
                                        or v.FUSION_RESOLUTION > m.IMAGE_SIZE):
        raise ConfigError(f"MODEL.MOSTGANV.FUSION_RESOLUTION is {v.FUSION_RESOLUTION}; expected "
                          f"a power of two in 4..MODEL.IMAGE_SIZE ({m.IMAGE_SIZE})")


def check_config(cfg) -> None:
    check_style_config(cfg, _check_mostganv)
