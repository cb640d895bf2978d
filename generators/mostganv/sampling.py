"""MoStGAN-V sampling: clips of any number of frames."""
from __future__ import annotations

import torch

from ..sampling import SampleOptionError, write_clip_set


@torch.no_grad()
def mostganv_samples(generator, count: int = 4, num_frames: int | None = None, seed: int = 0,
                     active: list[int] | None = None,
                     inactive: list[int] | None = None) -> torch.Tensor:
    """(count, 3, T, R, R) clips from seeded codes; ``num_frames`` any length >= 1 (default 16).
    MoStGAN-V has no motion directions: ``active`` / ``inactive`` are refused."""
    if active is not None or inactive:
        raise ValueError("--active / --inactive directions exist only for InMoDeGAN")
    gen = torch.Generator().manual_seed(seed)
    frames = num_frames or 16
    if frames < 1:
        raise ValueError(f"num_frames must be >= 1; got {frames}")
    return generator.sample(count, num_frames=frames, generator=gen).cpu()


def write_samples(generator, cfg, options, out: str) -> list[str]:
    """``tools/sample_video.py``: ``options.count`` clips of ``options.num_frames`` frames (0 =
    16)."""
    frames = options.num_frames or None
    videos = mostganv_samples(generator, options.count, frames, options.seed)
    written = write_clip_set(videos, out, "samples", options.count)
    if options.active is not None or options.inactive:
        mostganv_samples(generator, options.count, frames, options.seed, options.active,
                         options.inactive)
    if options.stats_directions:
        raise SampleOptionError("--stats-directions needs an InMoDeGAN model")
    return written
