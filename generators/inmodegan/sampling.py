"""InMoDeGAN sampling: the same codes with all motion directions, only the ``active`` ones or all
but the ``inactive`` ones, and optical-flow motion statistics per direction as JSON."""
from __future__ import annotations

import os

import numpy as np
import torch

from common import atomic_write_json

from ..sampling import write_clip_set
from .flow_stats import direction_motion_statistics


@torch.no_grad()
def inmodegan_samples(generator, count: int = 4, num_frames: int | None = None, seed: int = 0,
                      active: list[int] | None = None,
                      inactive: list[int] | None = None) -> torch.Tensor:
    """(count, 3, T, R, R) clips from seeded codes; ``num_frames`` any length >= 2 (default:
    the training length); ``active`` / ``inactive``: motion directions kept / switched off
    (same codes)."""
    gen = torch.Generator().manual_seed(seed)
    noise = generator.sample_noise(count, num_frames, "cpu", gen)
    return generator.sample(count, active=active, inactive=inactive, noise=noise).cpu()


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
    bad = [d for d in directions if not 0 <= d < generator.num_directions]
    if bad:
        raise ValueError(f"motion directions {bad} are outside 0..{generator.num_directions - 1}")
    stats = {str(d): direction_motion_statistics(generator, d, batch, num_frames, seed=seed)
             for d in directions}
    return atomic_write_json(path, _jsonable({"directions": stats}))


def write_samples(generator, cfg, options, out: str) -> list[str]:
    """``tools/sample_video.py``: ``options.count`` clips of ``options.num_frames`` frames (0 =
    the training length), again with ``options.active`` only / all but ``options.inactive``
    directions, and ``motion_statistics.json`` for ``options.stats_directions``."""
    frames = options.num_frames or None
    videos = inmodegan_samples(generator, options.count, frames, options.seed)
    written = write_clip_set(videos, out, "samples", options.count)
    if options.active is not None or options.inactive:
        edited = inmodegan_samples(generator, options.count, frames, options.seed,
                                   options.active, options.inactive)
        written += write_clip_set(edited, out, "samples_directions_edited", options.count)
    if options.stats_directions:
        written.append(write_motion_statistics(
            generator, options.stats_directions, os.path.join(out, "motion_statistics.json"),
            min(options.count, 4), frames, options.seed))
    return written
