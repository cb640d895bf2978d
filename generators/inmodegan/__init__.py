"""InMoDeGAN (thesis chapter 5, "MintGAN"): interpretable motion decomposition for video GANs.

Appearance net -> w_0, motion net (GRU + MLP) -> magnitudes A_t over an orthonormal motion bank,
w_t = w_0 + sum of magnitudes x directions, StyleGAN2 synthesis per frame; image D + temporal
pyramid D; non-saturating loss + R1; direction manipulation and optical-flow interpretation.
"""
from .discriminator import (InMoDeGANDiscriminator, TemporalPyramidDiscriminator, random_frames,
                            time_to_channel)
from .flow_stats import direction_motion_statistics, farneback_flow, flow_statistics
from .generator import InMoDeGANGenerator
from .motion import (AppearanceNet, MotionBank, MotionNet, direction_mask,
                     linear_motion_decomposition)
from .trainer import InMoDeGANTrainer, build_inmodegan

__all__ = [
    "InMoDeGANDiscriminator", "TemporalPyramidDiscriminator", "random_frames", "time_to_channel",
    "direction_motion_statistics", "farneback_flow", "flow_statistics", "InMoDeGANGenerator",
    "AppearanceNet", "MotionBank", "MotionNet", "direction_mask", "linear_motion_decomposition",
    "InMoDeGANTrainer", "build_inmodegan",
]
