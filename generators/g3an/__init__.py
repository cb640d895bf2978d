"""G3AN (thesis chapter 4, CVPR 2020): appearance z_a and motion z_m -> video.

:mod:`.generator` (G3 modules, F-SA), :mod:`.trainer` (hooks on the image + video discriminator
trainer), :mod:`.sampling` (fixed appearance / fixed motion sets), :mod:`.hooks` (config ->
networks, noise, generation); ``SPEC`` registers it as ``MODEL.NAME g3an``.
"""
from ..registry import VideoGANSpec
from . import hooks
from .generator import G3_TABLE, G3ANGenerator, G3Module
from .sampling import g3an_manipulations, write_samples
from .trainer import G3ANTrainer, build_trainer

SPEC = VideoGANSpec(
    name="g3an", build_generator=hooks.build_generator, build_trainer=build_trainer,
    sample_noise=hooks.sample_noise, generate=hooks.generate, clip_frames=hooks.clip_frames,
    conditioning=("label",), check_config=hooks.check_config, write_samples=write_samples,
    sample_options=("appearances", "motions", "steps", "label", "seed"),
    default_overrides={"MODEL.NUM_CLASSES": 0, "MODEL.VIDEO_D": "2+1d",
                       "MODEL.IMAGE_D_FRAMES": 1},
    family="bce", summary="appearance z_a + motion z_m -> 16 + 4 (steps - 1) frames "
                          "(thesis chapter 4)")

__all__ = ["G3ANGenerator", "G3ANTrainer", "G3Module", "G3_TABLE", "SPEC", "build_trainer",
           "g3an_manipulations", "write_samples"]
