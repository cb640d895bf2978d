"""MoStGAN-V: StyleGAN-V style video generator with time-dependent motion styles, low-rank
hypernetworks and motion-style attention modulation (MoStAtt); sparse-frame discriminator with
time-gap conditioning and frame differences; motion diversity regulariser; arbitrary-length
sampling. :mod:`.hooks` maps the config onto it and ``SPEC`` registers it as
``MODEL.NAME mostganv``."""
from ..registry import VideoGANSpec
from . import hooks
from .discriminator import SparseFrameDiscriminator, TimeGapEmbedding, frame_pair_differences
from .generator import MoStGANVGenerator
from .motion import (LowRankHyperNetwork, MotionEncoder, MotionStyleNetwork,
                     motion_diversity_loss, motion_style_attention, motion_styles)
from .sampling import mostganv_samples, write_samples
from .trainer import MoStGANVTrainer, build_mostganv, sample_frame_times

SPEC = VideoGANSpec(
    name="mostganv", build_generator=hooks.build_generator, build_trainer=hooks.build_trainer,
    sample_noise=hooks.sample_noise, generate=hooks.generate, clip_frames=hooks.clip_frames,
    check_config=hooks.check_config, write_samples=write_samples,
    sample_options=("count", "num_frames", "seed"),
    family="style", summary="StyleGAN-V with motion styles; clips of any length")

__all__ = [
    "SparseFrameDiscriminator", "TimeGapEmbedding", "frame_pair_differences", "MoStGANVGenerator",
    "LowRankHyperNetwork", "MotionEncoder", "MotionStyleNetwork", "motion_diversity_loss",
    "motion_style_attention", "motion_styles", "MoStGANVTrainer", "SPEC", "build_mostganv",
    "mostganv_samples", "sample_frame_times", "write_samples",
]
