"""MoStGAN-V: StyleGAN-V style video generator with time-dependent motion styles, low-rank
hypernetworks and motion-style attention modulation (MoStAtt); sparse-frame discriminator with
time-gap conditioning and frame differences; motion diversity regulariser; arbitrary-length
sampling."""
from .discriminator import SparseFrameDiscriminator, TimeGapEmbedding, frame_pair_differences
from .generator import MoStGANVGenerator
from .motion import (LowRankHyperNetwork, MotionEncoder, MotionStyleNetwork,
                     motion_diversity_loss, motion_style_attention, motion_styles)
from .trainer import MoStGANVTrainer, build_mostganv, sample_frame_times

__all__ = [
    "SparseFrameDiscriminator", "TimeGapEmbedding", "frame_pair_differences", "MoStGANVGenerator",
    "LowRankHyperNetwork", "MotionEncoder", "MotionStyleNetwork", "motion_diversity_loss",
    "motion_style_attention", "motion_styles", "MoStGANVTrainer", "build_mostganv",
    "sample_frame_times",
]
