"""Video GANs (ImaGINator, G3AN, InMoDeGAN, MoStGAN-V) for synthetic-data augmentation of human
videos.

>>> from generators import G3ANGenerator, load_generator_config
>>> g = G3ANGenerator()
>>> video = g(*g.sample_noise(2))            # (2, 3, 16, 64, 64) in [-1, 1]

Layout: :mod:`generators.layers` (shared blocks), :mod:`generators.imaginator`,
:mod:`generators.g3an`, :mod:`generators.discriminators`, :mod:`generators.video_dataset` /
:mod:`generators.video_io` (clips), :mod:`generators.action_clips` (synthetic human actions),
:mod:`generators.training`, :mod:`generators.sampling`, :mod:`generators.metrics`,
:mod:`generators.evaluation`, :mod:`generators.bench`, :mod:`generators.config`.
Heavy submodules are imported on first use.
"""
from .config import get_generator_defaults, load_generator_config
from .discriminators import ImageDiscriminator, VideoDiscriminator2Plus1D, VideoDiscriminator3D
from .g3an import G3ANGenerator, G3Module
from .imaginator import ImageEncoder, ImaginatorGenerator
from .layers import (FactorizedSelfAttention, SpatialSelfAttention, TemporalSelfAttention,
                     VideoUpsampling, count_parameters, g3_fusion, init_gan_weights, label_map,
                     skip_fusion)
from .video_dataset import VideoClipDataset

__all__ = [
    "FactorizedSelfAttention", "G3ANGenerator", "G3Module", "ImageDiscriminator", "ImageEncoder",
    "ImaginatorGenerator", "SpatialSelfAttention", "TemporalSelfAttention", "VideoClipDataset",
    "VideoDiscriminator2Plus1D", "VideoDiscriminator3D", "VideoUpsampling", "count_parameters",
    "g3_fusion", "get_generator_defaults", "init_gan_weights", "label_map",
    "load_generator_config", "skip_fusion",
]
