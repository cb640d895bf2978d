"""InMoDeGAN (thesis chapter 5, "MintGAN"): interpretable motion decomposition for video GANs.

Appearance net -> w_0, motion net (GRU + MLP) -> magnitudes A_t over an orthonormal motion bank,
w_t = w_0 + sum of magnitudes x directions, StyleGAN2 synthesis per frame; image D + temporal
pyramid D; non-saturating loss + R1; direction manipulation and optical-flow interpretation.
:mod:`.hooks` maps the config onto it and ``SPEC`` registers it as ``MODEL.NAME inmodegan``.
"""
from ..registry import VideoGANSpec
from . import hooks
from .discriminator import (InMoDeGANDiscriminator, TemporalPyramidDiscriminator, pyramid_strides,
                            random_frames, time_to_channel)
from .flow_stats import direction_motion_statistics, farneback_flow, flow_statistics
from .generator import InMoDeGANGenerator
from .motion import (AppearanceNet, MotionBank, MotionNet, direction_mask,
                     linear_motion_decomposition)
from .sampling import inmodegan_samples, write_motion_statistics, write_samples
from .trainer import InMoDeGANTrainer, build_inmodegan

SPEC = VideoGANSpec(
    name="inmodegan", build_generator=hooks.build_generator, build_trainer=hooks.build_trainer,
    sample_noise=hooks.sample_noise, generate=hooks.generate, clip_frames=hooks.clip_frames,
    check_config=hooks.check_config, write_samples=write_samples,
    sample_options=("count", "num_frames", "active", "inactive", "stats_directions", "seed"),
    family="style", summary="appearance + motion directions over a StyleGAN2 synthesis net "
                            "(thesis chapter 5)")

__all__ = [
    "InMoDeGANDiscriminator", "TemporalPyramidDiscriminator", "pyramid_strides", "random_frames",
    "time_to_channel",
    "direction_motion_statistics", "farneback_flow", "flow_statistics", "InMoDeGANGenerator",
    "AppearanceNet", "MotionBank", "MotionNet", "direction_mask", "linear_motion_decomposition",
    "InMoDeGANTrainer", "SPEC", "build_inmodegan", "inmodegan_samples",
    "write_motion_statistics", "write_samples",
]
