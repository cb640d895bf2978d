"""ImaGINator (thesis chapter 3): one image + a motion label + noise -> video.

:mod:`.generator` (encoder / decoder networks, table 3.1), :mod:`.trainer` (algorithm 1 on the
image + video discriminator trainer), :mod:`.sampling` (every label from one image),
:mod:`.hooks` (config -> networks, noise, generation); ``SPEC`` registers it as
``MODEL.NAME imaginator``.
"""
from ..registry import VideoGANSpec
from . import hooks
from .generator import (DECODER_TABLE, ENCODER_CHANNELS, ImageEncoder, ImaginatorGenerator,
                        frame_size)
from .sampling import imaginator_all_labels, write_samples
from .trainer import ImaginatorTrainer, build_trainer

SPEC = VideoGANSpec(
    name="imaginator", build_generator=hooks.build_generator, build_trainer=build_trainer,
    sample_noise=hooks.sample_noise, generate=hooks.generate, clip_frames=hooks.clip_frames,
    conditioning=("image", "label"), check_config=hooks.check_config,
    write_samples=write_samples, sample_options=("image", "seed"),
    default_overrides={"MODEL.NUM_CLASSES": 10, "MODEL.VIDEO_D": "3d",
                       "MODEL.IMAGE_D_FRAMES": 16},
    family="bce", summary="image + label + noise -> 32 frames (thesis chapter 3)")

__all__ = ["DECODER_TABLE", "ENCODER_CHANNELS", "ImageEncoder", "ImaginatorGenerator",
           "ImaginatorTrainer", "SPEC", "build_trainer", "frame_size", "imaginator_all_labels",
           "write_samples"]
