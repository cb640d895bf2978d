"""Video GANs (ImaGINator, G3AN, InMoDeGAN, MoStGAN-V) for synthetic-data augmentation of human
videos.

>>> from generators import G3ANGenerator, load_generator_config
>>> g = G3ANGenerator()
>>> video = g(*g.sample_noise(2))            # (2, 3, 16, 64, 64) in [-1, 1]

Layout: one package per model (:mod:`generators.imaginator`, :mod:`generators.g3an`,
:mod:`generators.inmodegan`, :mod:`generators.mostganv`), each defining its ``SPEC`` for
:mod:`generators.registry` (the one list of models); shared pieces: :mod:`generators.layers`,
:mod:`generators.discriminators`, :mod:`generators.losses`, :mod:`generators.stylegan`
(StyleGAN2 blocks), :mod:`generators.adversarial` (the trainer base class),
:mod:`generators.bce_training` / :mod:`generators.style_training` (the two model families);
:mod:`generators.config`, :mod:`generators.data` / :mod:`generators.video_dataset` /
:mod:`generators.video_io` (clips), :mod:`generators.action_clips` (synthetic human actions),
:mod:`generators.training` / :mod:`generators.train_loop`, :mod:`generators.sampling`,
:mod:`generators.metrics`, :mod:`generators.evaluation`.
Heavy submodules are imported on first use.
"""
from .config import get_generator_defaults, load_generator_config
from .discriminators import ImageDiscriminator, VideoDiscriminator2Plus1D, VideoDiscriminator3D
from .g3an import G3ANGenerator, G3Module
from .imaginator import ImageEncoder, ImaginatorGenerator
from .layers import (FactorizedSelfAttention, SpatialSelfAttention, TemporalSelfAttention,
                     VideoUpsampling, count_parameters, g3_fusion, init_gan_weights, label_map,
                     skip_fusion)
from .registry import (VideoGANSpec, available_video_gans, get_video_gan, register_video_gan,
                       unregister_video_gan)
from .video_dataset import VideoClipDataset

__all__ = [
    "FactorizedSelfAttention", "G3ANGenerator", "G3Module", "ImageDiscriminator", "ImageEncoder",
    "ImaginatorGenerator", "SpatialSelfAttention", "TemporalSelfAttention", "VideoClipDataset",
    "VideoDiscriminator2Plus1D", "VideoDiscriminator3D", "VideoGANSpec", "VideoUpsampling",
    "available_video_gans", "count_parameters", "g3_fusion", "get_generator_defaults",
    "get_video_gan", "init_gan_weights", "label_map", "load_generator_config",
    "register_video_gan", "skip_fusion", "unregister_video_gan",
]
