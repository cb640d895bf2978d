"""Sampling and manipulation with trained generators, written as MP4 / GIF grids and PNG strips.

* G3AN: a fixed appearance z_a with varied motions z_m (rows share z_a), and a fixed motion with
  varied appearances (rows share z_m); z_m with more time steps gives longer clips.
* ImaGINator: one input image animated with every label.
* InMoDeGAN: the same codes with all motion directions, only the ``active`` ones or all but the
  ``inactive`` ones; optical-flow motion statistics per direction as JSON.
* MoStGAN-V: clips of any number of frames.
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


@torch.no_grad()
def g3an_manipulations(generator, appearances: int = 4, motions: int = 4, steps: int = 1,
                       labels: torch.Tensor | None = None, seed: int = 0
                       ) -> dict[str, torch.Tensor]:
    """{"fixed_appearance": (A*M, 3, T, H, W) rows of one z_a with M motions,
    "fixed_motion": (M*A, ...) rows of one z_m with A appearances}."""
    gen = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    z_a = torch.randn(appearances, generator.za_dim, generator=gen)
    z_m = torch.randn(motions, generator.zm_dim, steps, generator=gen)
    za_rows = z_a.repeat_interleave(motions, 0)
    zm_rows = z_m.repeat(appearances, 1, 1)
    cond = None
    if generator.num_classes:
        cond = labels if labels is not None else torch.zeros(1, dtype=torch.long)
        cond = cond.reshape(-1)[:1].expand(appearances * motions).to(device)
    fixed_a = generator(za_rows.to(device), zm_rows.to(device), cond)
    zm_rows = z_m.repeat_interleave(appearances, 0)
    za_rows = z_a.repeat(motions, 1)
    fixed_m = generator(za_rows.to(device), zm_rows.to(device), cond)
    return {"fixed_appearance": fixed_a.cpu(), "fixed_motion": fixed_m.cpu()}


@torch.no_grad()
def imaginator_all_labels(generator, image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One (3, 64, 64) image in [-1, 1] animated with every label: (num_classes, 3, 32, 64, 64)
    (one clip when the model is unconditional)."""
    device = next(generator.parameters()).device
    count = max(1, generator.num_classes)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.z_dim, generator=gen).expand(count, -1).to(device)
    images = image.to(device).unsqueeze(0).expand(count, -1, -1, -1)
    labels = torch.arange(count, device=device) if generator.num_classes else None
    return generator(images, labels, z).cpu()


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


@torch.no_grad()
def style_video_samples(generator, name: str, count: int = 4, num_frames: int | None = None,
                        seed: int = 0, active: list[int] | None = None,
                        inactive: list[int] | None = None) -> torch.Tensor:
    """(count, 3, T, R, R) clips of an InMoDeGAN or MoStGAN-V generator from seeded codes.

    ``num_frames``: any length >= 2 (default: InMoDeGAN's training length, MoStGAN-V 16).
    ``active`` / ``inactive``: InMoDeGAN motion directions kept / switched off (same codes).
    """
    gen = torch.Generator().manual_seed(seed)
    if name == "inmodegan":
        noise = generator.sample_noise(count, num_frames, "cpu", gen)
        return generator.sample(count, active=active, inactive=inactive, noise=noise).cpu()
    if active is not None or inactive:
        raise ValueError("--active / --inactive directions exist only for InMoDeGAN")
    frames = num_frames or 16
    if frames < 1:
        raise ValueError(f"num_frames must be >= 1; got {frames}")
    return generator.sample(count, num_frames=frames, generator=gen).cpu()


def _jsonable(value):
    """numpy arrays / scalars and NaN -> plain JSON values (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_motion_statistics(generator, directions: list[int], path: str, batch: int = 4,
                            num_frames: int | None = None, seed: int = 0) -> str:
    """Optical-flow motion statistics of each InMoDeGAN direction (thesis 5.3.4) as one JSON
    file ``{"directions": {k: statistics}}``; see
    :func:`generators.inmodegan.direction_motion_statistics`."""
    from common import atomic_write_json

    from .inmodegan import direction_motion_statistics

    bad = [d for d in directions if not 0 <= d < generator.num_directions]
    if bad:
        raise ValueError(f"motion directions {bad} are outside 0..{generator.num_directions - 1}")
    stats = {str(d): direction_motion_statistics(generator, d, batch, num_frames, seed=seed)
             for d in directions}
    return atomic_write_json(path, _jsonable({"directions": stats}))
