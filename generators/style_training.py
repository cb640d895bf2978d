"""What the style-based models (InMoDeGAN, MoStGAN-V) share between config and networks.

:func:`style_arguments` maps the shared ``MODEL.STYLE.*`` / ``SOLVER.*`` keys onto the
arguments of the models' factories (:func:`generators.inmodegan.build_inmodegan`,
:func:`generators.mostganv.build_mostganv`; each model's package adds its own keys),
:func:`build_style_trainer` / :func:`build_style_generator` build from them and
:func:`check_style_config` checks the shared values. Training itself is the adversarial trainer
of :mod:`generators.stylegan.training` (non-saturating loss, lazy R1, generator EMA) run by
:class:`generators.training.VideoGANTrainer`.
"""
from __future__ import annotations

import inspect
from typing import Callable, Optional

import torch
from torch import nn

from common.config import ConfigError

__all__ = ["build_style_generator", "build_style_trainer", "check_style_config",
           "style_arguments"]


def style_arguments(cfg) -> dict:
    """The keyword arguments every style factory takes, from ``cfg`` (no device)."""
    m, s, st = cfg.MODEL, cfg.SOLVER, cfg.MODEL.STYLE
    return dict(resolution=m.IMAGE_SIZE, w_dim=st.W_DIM, channel_base=st.CHANNEL_BASE,
                channel_max=st.CHANNEL_MAX, d_channel_base=st.D_CHANNEL_BASE or None,
                d_channel_max=st.D_CHANNEL_MAX or None, use_noise=st.USE_NOISE,
                lr=s.G_LR, betas=tuple(s.BETAS), r1_gamma=s.R1_GAMMA,
                r1_interval=s.R1_INTERVAL,
                ema_decay=s.EMA_DECAY if s.EMA_DECAY >= 0 else None)


def build_style_trainer(factory: Callable, cfg, arguments: dict,
                        device: torch.device | str = "cpu"):
    """``factory(**arguments, device=device)`` (generator, discriminator, optimisers, EMA);
    ``SOLVER.D_LR`` then sets the discriminator's learning rate."""
    model = factory(**arguments, device=device)
    for group in model.d_optimizer.param_groups:
        group["lr"] = cfg.SOLVER.D_LR
    return model


def build_style_generator(generator_class: type, arguments: dict) -> nn.Module:
    """The bare generator (for sampling from saved weights): the factory arguments that its
    constructor takes."""
    accepted = inspect.signature(generator_class.__init__).parameters
    return generator_class(**{k: v for k, v in arguments.items() if k in accepted})


def check_style_config(cfg, model_checks: Optional[Callable] = None) -> None:
    """The shared values (resolution, frames, unconditional, motion basis), then
    ``model_checks(cfg)``, then the R1 and EMA settings."""
    m = cfg.MODEL
    size = m.IMAGE_SIZE
    if size < 8 or size & (size - 1):
        raise ConfigError(f"MODEL.IMAGE_SIZE is {size}; the style-based generators need a power "
                          "of two >= 8")
    if m.NUM_FRAMES < 2:
        raise ConfigError(f"MODEL.NUM_FRAMES is {m.NUM_FRAMES}; expected >= 2")
    if m.NUM_CLASSES:
        raise ConfigError(f"MODEL.NUM_CLASSES is {m.NUM_CLASSES}; {m.NAME} is unconditional "
                          "(set 0)")
    if m.INMODEGAN.BASIS not in ("svd", "qr"):
        raise ConfigError(f"MODEL.INMODEGAN.BASIS is '{m.INMODEGAN.BASIS}'; expected svd or qr")
    if model_checks is not None:
        model_checks(cfg)
    if cfg.SOLVER.R1_INTERVAL < 1:
        raise ConfigError(f"SOLVER.R1_INTERVAL is {cfg.SOLVER.R1_INTERVAL}; expected >= 1")
    if cfg.SOLVER.EMA_DECAY >= 1.0:
        raise ConfigError(f"SOLVER.EMA_DECAY is {cfg.SOLVER.EMA_DECAY}; expected < 1 "
                          "(negative = no EMA)")
