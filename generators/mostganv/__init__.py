"""MoStGAN-V: StyleGAN-V style video generator with time-dependent motion styles, low-rank
(conv1d or linear) hypernetworks and motion-style attention modulation (MoStAtt) at chosen
synthesis resolutions; sparse-frame discriminator (per-frame features fused at a low resolution,
or frames stacked on channels) with time-gap conditioning and frame differences; motion
diversity regulariser; arbitrary-length
sampling. :mod:`.hooks` maps the config onto it and ``SPEC`` registers it as
``MODEL.NAME mostganv``."""
from ..registry import VideoGANSpec
from . import hooks
from .discriminator import (DISCRIMINATORS, FrameFusionDiscriminator, SparseFrameDiscriminator,
                            TimeGapEmbedding, build_discriminator, frame_pair_differences)
from .generator import MoStGANVGenerator, motion_layer_indices
from .motion import (HYPERNETWORKS, Conv1dHyperNetwork, LowRankHyperNetwork, MotionEncoder,
                     MotionStyleNetwork, build_hypernetwork, motion_diversity_loss,
                     motion_style_attention, motion_styles)
from .sampling import mostganv_samples, write_samples
from .trainer import MoStGANVTrainer, build_mostganv, sample_frame_times

SPEC = VideoGANSpec(
    name="mostganv", build_generator=hooks.build_generator, build_trainer=hooks.build_trainer,
    sample_noise=hooks.sample_noise, generate=hooks.generate, clip_frames=hooks.clip_frames,
    check_config=hooks.check_config, write_samples=write_samples,
    sample_options=("count", "num_frames", "seed"),
    family="style", summary="StyleGAN-V with motion styles; clips of any length")

__all__ = [
    "DISCRIMINATORS", "FrameFusionDiscriminator", "SparseFrameDiscriminator", "TimeGapEmbedding",
    "build_discriminator", "frame_pair_differences", "MoStGANVGenerator", "motion_layer_indices",
    "HYPERNETWORKS", "Conv1dHyperNetwork", "build_hypernetwork", "LowRankHyperNetwork",
    "MotionEncoder", "MotionStyleNetwork", "motion_diversity_loss", "motion_style_attention",
    "motion_styles", "MoStGANVTrainer", "SPEC", "build_mostganv", "mostganv_samples",
    "sample_frame_times", "write_samples",
]
