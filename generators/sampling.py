"""Sampling with trained generators: :func:`load_generator` and the shared writers (MP4 / GIF
grids and PNG strips, input images).

What ``tools/sample_video.py`` writes for each model is its spec's ``write_samples``
(:mod:`generators.registry`), in the model's package:

* G3AN (:mod:`generators.g3an.sampling`): a fixed appearance z_a with varied motions z_m (rows
  share z_a), and a fixed motion with varied appearances (rows share z_m); z_m with more time
  steps gives longer clips.
* ImaGINator (:mod:`generators.imaginator.sampling`): one input image animated with every label.
* InMoDeGAN (:mod:`generators.inmodegan.sampling`): the same codes with all motion directions,
  only the ``active`` ones or all but the ``inactive`` ones; optical-flow motion statistics per
  direction as JSON.
* MoStGAN-V (:mod:`generators.mostganv.sampling`): clips of any number of frames.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from common.finite import refuse_non_finite_load
from common.optional import require
from common.serialization import load_checkpoint_file

from .training import build_generator
from .video_io import (frame_strip, frames_to_tensor, read_frames_folder, video_grid, write_image,
                       write_video)

__all__ = ["SampleOptionError", "first_frame_of", "load_generator", "read_input_image",
           "write_clip_set"]


class SampleOptionError(ValueError):
    """A sampling option the model does not support (the tool reports it as a usage error)."""


def load_generator(cfg, weights: str, device: str | torch.device = "cpu") -> nn.Module:
    """The generator of ``cfg`` with the ``G`` weights of a training checkpoint, in eval mode.

    Weights holding NaN or infinity (a diverged run) are refused with
    :class:`~common.finite.NonFiniteWeightsError` naming the file and the tensors: they
    would only generate NaN (black) frames."""
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"generator weights not found: {weights} (expected "
                                "OUTPUT_DIR/checkpoint_last.pth or generator_final.pth of a run)")
    state = load_checkpoint_file(weights, what="generator checkpoint")
    if "G" not in state:
        raise ValueError(f"{weights}: no 'G' entry (keys: {sorted(state)[:10]}); expected a "
                         "checkpoint written by tools/train_video_gan.py")
    if state.get("model") and state["model"] != cfg.MODEL.NAME.lower():
        raise ValueError(f"{weights} holds a '{state['model']}' generator but MODEL.NAME is "
                         f"'{cfg.MODEL.NAME}'")
    refuse_non_finite_load(state["G"], weights, what="generator weights")
    generator = build_generator(cfg)
    generator.load_state_dict(state["G"])
    return generator.to(device).eval()


def read_input_image(path: str, size=64) -> torch.Tensor:
    """(3, H, W) in [-1, 1] from an image file (resized, centre-cropped); ``size`` an int
    (square, 64 by default) or (H, W) (e.g. ``generator.image_size``)."""
    from .video_dataset import resize_and_crop

    if not os.path.isfile(path):
        raise FileNotFoundError(f"input image not found: {path}")
    frame = np.asarray(require("imageio.v3", extra="video",
                               purpose="reading the input image").imread(path))
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    video = frames_to_tensor(frame[None, ..., :3])
    return resize_and_crop(video, _shorter(size), size)[:, 0]


def write_clip_set(videos: torch.Tensor, out_dir: str, name: str, columns: int,
                   fps: int = 8) -> list[str]:
    """``name``.mp4 and ``name``.gif (grid, ``columns`` clips per row) and ``name``.png strip."""
    grid = video_grid(videos, columns=columns)
    every = max(1, videos.shape[2] // 8)
    return [write_video(os.path.join(out_dir, f"{name}.mp4"), grid, fps),
            write_video(os.path.join(out_dir, f"{name}.gif"), grid, fps),
            write_image(os.path.join(out_dir, f"{name}.png"), frame_strip(videos, every))]


def _shorter(size) -> int:
    return size if isinstance(size, int) else min(size)


def first_frame_of(folder: str, size=64) -> torch.Tensor:
    """The first frame of a clip folder as (3, H, W) in [-1, 1] (``size``: int or (H, W))."""
    from .video_dataset import resize_and_crop

    video = frames_to_tensor(read_frames_folder(folder, [0]))
    return resize_and_crop(video, _shorter(size), size)[:, 0]
