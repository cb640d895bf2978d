"""The real clips of a video-GAN run: ``DATA.*`` -> a :class:`VideoClipDataset`.

>>> dataset = build_dataset(cfg)      # the embedded synthetic clips are built first when missing
"""
from __future__ import annotations

from .config import frame_size
from .registry import video_gan_of
from .video_dataset import VideoClipDataset

__all__ = ["build_dataset", "generator_frames"]


def generator_frames(cfg) -> int:
    """Frames per training clip of ``MODEL.NAME`` at the configured sizes."""
    return video_gan_of(cfg).clip_frames(cfg)


def build_dataset(cfg) -> VideoClipDataset:
    """The clip dataset of DATA.*; the embedded synthetic clips are built first when missing."""
    d = cfg.DATA
    source = d.SOURCE
    if source == "synthetic":
        from .action_clips import ensure_action_clips

        ensure_action_clips(d.ROOT, clips_per_action=d.SYNTHETIC_CLIPS_PER_ACTION,
                            seed=d.SYNTHETIC_SEED, image_size=frame_size(cfg))
        source = "frames"
    dataset = VideoClipDataset(d.ROOT, generator_frames(cfg), frame_size(cfg), source,
                               d.LABELS_CSV, d.LABELS_FROM_FOLDER, d.STRIDE_MIN, d.STRIDE_MAX,
                               d.RESIZE, d.HFLIP, seed=cfg.SEED)
    if cfg.MODEL.NUM_CLASSES and dataset.num_classes != cfg.MODEL.NUM_CLASSES:
        raise ValueError(f"MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES} but {d.ROOT} has "
                         f"{dataset.num_classes} labelled classes {dataset.classes}; set "
                         "MODEL.NUM_CLASSES to match (0 = unconditional)")
    return dataset
