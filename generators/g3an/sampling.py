"""G3AN manipulation: a fixed appearance z_a with varied motions z_m, and the reverse."""
from __future__ import annotations

import torch

from ..sampling import write_clip_set


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


def write_samples(generator, cfg, options, out: str) -> list[str]:
    """``tools/sample_video.py``: both manipulation sets (``options.appearances`` x
    ``options.motions`` clips of ``options.steps`` z_m steps, class ``options.label``)."""
    sets = g3an_manipulations(generator, options.appearances, options.motions, options.steps,
                              torch.tensor([options.label]), options.seed)
    return (write_clip_set(sets["fixed_appearance"], out, "fixed_appearance_varied_motion",
                           options.motions)
            + write_clip_set(sets["fixed_motion"], out, "fixed_motion_varied_appearance",
                             options.appearances))
