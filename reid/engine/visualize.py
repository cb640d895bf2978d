"""Per-epoch picture of the view generator: input | structure maps | novel views | cycle."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from reid.data import build_test_transform, read_image
from reid.views import ORIGINAL_VIEW, novel_view_angles

# The original view and three rotations of the default MESH.ANGLES.
GRID_ANGLES = (ORIGINAL_VIEW, 90, 180, 270)


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    t = t.detach().float().cpu().clamp(-1, 1)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    return ((t.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def grid_angles(cache_angles) -> tuple[int, ...]:
    """The columns of the grid for a cache of ``cache_angles``: :data:`GRID_ANGLES` that it
    holds, or (when it holds none of their rotations) its own first three rotations."""
    rotations = [a for a in GRID_ANGLES[1:] if a in cache_angles]
    return (ORIGINAL_VIEW, *(rotations or novel_view_angles(cache_angles)[:3]))


@torch.no_grad()
def render_view_grid(encoder, generative, cache, split: str, paths: list[str], size,
                     device, angles=GRID_ANGLES) -> np.ndarray:
    """Rows: one person each. Columns: input, maps at ``angles``, generated views at ``angles``,
    and the cycle reconstruction through the first novel view."""
    transform = build_test_transform(size)
    x = torch.stack([transform(read_image(p)) for p in paths]).to(device)
    maps = {}
    for angle in angles:
        arrays = [cache.read(split, os.path.basename(p), angle) for p in paths]
        m = torch.from_numpy(np.stack(arrays)).float().div(127.5).sub(1.0)[:, None]
        maps[angle] = F.interpolate(m, size=tuple(size), mode="bilinear",
                                    align_corners=False).to(device)
    was = (encoder.training, generative.training)
    encoder.eval()
    generative.eval()
    out = generative.sample_views(encoder, x, maps[angles[0]], [maps[a] for a in angles[1:]])
    encoder.train(was[0])
    generative.train(was[1])
    columns = [x] + [maps[a] for a in angles] + [out["reconstruction"]] + out["novel"]
    if out["cycle"] is not None:
        columns.append(out["cycle"])
    rows = []
    for i in range(len(paths)):
        rows.append(np.concatenate([_to_uint8(c[i]) for c in columns], axis=1))
    return np.concatenate(rows, axis=0)


def save_view_grid(ctx, batch: dict, stage: str, epoch: int, num_people: int = 4) -> str | None:
    """Write ``OUTPUT_DIR/images/<stage>_epoch<N>.png`` and log it to TensorBoard."""
    from reid.views import structure_cache_for

    if ctx.generative is None:
        return None
    paths = list(batch["path"][:num_people])
    cache = structure_cache_for(ctx.cfg, ctx.dataset)
    grid = render_view_grid(ctx.encoder, ctx.generative, cache, "train", paths,
                            tuple(ctx.cfg.INPUT.SIZE), ctx.device, grid_angles(cache.angles))
    path = ctx.path("images", f"{stage}_epoch{epoch + 1:03d}.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.png"
    Image.fromarray(grid).save(tmp)
    os.replace(tmp, path)
    if ctx.writer is not None:
        ctx.writer.add_image(f"{stage}/views", grid, epoch, dataformats="HWC")
    return path
