"""Per-epoch pictures and figures of the view generator.

* :func:`save_view_grid`: input | structure maps | generated views (each novel view followed by
  its ground truth when the dataset has ground-truth views) | cycle.
* :func:`record_view_fidelity`: the scores of :mod:`reid.evaluation.view_fidelity` on a fixed
  subset of the training images (``TEST.VIEW_METRICS``), logged, appended to
  ``OUTPUT_DIR/view_fidelity.json`` and drawn as ``OUTPUT_DIR/images/view_fidelity.png``.
"""
from __future__ import annotations

import math
import os
from typing import Optional, Sequence

import numpy as np
import torch

from common import atomic_write_json, read_json_if_present
from common.io import atomic_write_image
from reid.evaluation.view_fidelity import (FIDELITY_HISTORY, MissingGroundTruthError,
                                           evaluate_views, evaluation_mode, evaluation_subset,
                                           fidelity_angles, flat_scalars, has_ground_truth,
                                           items_with_ground_truth, load_ground_truth,
                                           load_images, load_structure_maps)
from reid.views import ORIGINAL_VIEW, novel_view_angles

# The original view and three rotations of the default MESH.ANGLES.
GRID_ANGLES = (ORIGINAL_VIEW, 90, 180, 270)
#: Where the trainer draws the per-epoch view-fidelity curves (below OUTPUT_DIR).
FIDELITY_CURVE = os.path.join("images", "view_fidelity.png")


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
                     device, angles=GRID_ANGLES, ground_truth: Optional[str] = None,
                     ground_truth_angles: Sequence[int] = ()) -> np.ndarray:
    """Rows: one person each. Columns: input, maps at ``angles``, the reconstruction, the
    generated views at the rotations of ``angles`` (each followed by its ground-truth view when
    ``ground_truth``, the dataset folder, has it: the rotations in ``ground_truth_angles``), and
    the cycle reconstruction through the first novel view."""
    x = load_images(paths, size).to(device)
    maps = {a: load_structure_maps(cache, split, paths, a, size)[0].to(device) for a in angles}
    with evaluation_mode(encoder, generative):
        out = generative.sample_views(encoder, x, maps[angles[0]], [maps[a] for a in angles[1:]])
    columns = [x] + [maps[a] for a in angles] + [out["reconstruction"]]
    for angle, view in zip(angles[1:], out["novel"]):
        columns.append(view)
        if ground_truth and angle in ground_truth_angles:
            columns.append(load_ground_truth(ground_truth, paths, angle, size))
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
    angles = grid_angles(cache.angles)
    root = ctx.dataset.root
    truth_angles = [a for a in _ground_truth_angles(root, cache) if a in angles]
    if len(items_with_ground_truth(root, [(p,) for p in paths], truth_angles)) < len(paths):
        truth_angles = []  # e.g. images of DATASETS.EXTRA_TRAIN_DIRS in the batch
    grid = render_view_grid(ctx.encoder, ctx.generative, cache, "train", paths,
                            tuple(ctx.cfg.INPUT.SIZE), ctx.device, angles,
                            ground_truth=root, ground_truth_angles=truth_angles)
    path = ctx.path("images", f"{stage}_epoch{epoch + 1:03d}.png")
    atomic_write_image(path, grid)
    if ctx.writer is not None:
        ctx.writer.add_image(f"{stage}/views", grid, epoch, dataformats="HWC")
    return path


def _ground_truth_angles(root: str, cache) -> tuple[int, ...]:
    """The novel angles of ``cache`` that the dataset in ``root`` has ground-truth views of
    (none for datasets without them)."""
    if not has_ground_truth(root):
        return ()
    try:
        return fidelity_angles(root, cache.angles)
    except MissingGroundTruthError:
        return ()


# ---------------------------------------------------------------------------------------------
# View fidelity during training
# ---------------------------------------------------------------------------------------------
def record_view_fidelity(ctx, stage: str, epoch: int) -> dict | None:
    """Score the generated views of ``TEST.VIEW_METRICS.IMAGES`` fixed training images
    (:func:`reid.evaluation.view_fidelity.evaluation_subset`) against the dataset's ground-truth
    views; log the overall figures (log file, TensorBoard ``<stage>/view_fidelity/*``), record
    them in ``OUTPUT_DIR/view_fidelity.json`` and redraw ``OUTPUT_DIR/images/view_fidelity.png``.
    Returns the result, or None when disabled (0 images) or the dataset has no ground truth."""
    from reid.views import structure_cache_for

    settings = ctx.cfg.TEST.VIEW_METRICS
    root = ctx.dataset.root
    if not int(settings.IMAGES) or ctx.generative is None:
        return None
    cache = structure_cache_for(ctx.cfg, ctx.dataset)
    angles = _ground_truth_angles(root, cache)
    if not angles:
        return None
    items = evaluation_subset(items_with_ground_truth(root, ctx.train_items, angles),
                              int(settings.IMAGES))
    if not items:
        return None
    result = evaluate_views(ctx.encoder, ctx.generative, root, cache, items, angles,
                            size=tuple(ctx.cfg.INPUT.SIZE), device=ctx.device,
                            batch_size=int(settings.BATCH_SIZE))
    scalars = flat_scalars(result)
    ctx.log_scalars(f"{stage}/view_fidelity", scalars, step=epoch)
    ctx.logger.info("%s epoch %d view fidelity (%d images): %s", stage, epoch + 1,
                    result["images"], "  ".join(f"{k} {v:.4g}" for k, v in scalars.items()))
    history = update_fidelity_history(ctx.path(FIDELITY_HISTORY), stage, epoch + 1, scalars)
    plot_fidelity_curves(history, ctx.path(FIDELITY_CURVE))
    return result


def update_fidelity_history(path: str, stage: str, epoch: int, scalars: dict) -> list[dict]:
    """Add (or, for an epoch run again after a resume, replace) the entry of ``stage`` /
    ``epoch`` in the JSON list at ``path``; returns the list."""
    history = read_json_if_present(path, default=[])
    entry = {"stage": stage, "epoch": int(epoch), **scalars}
    keys = [(e["stage"], e["epoch"]) for e in history]
    if (stage, epoch) in keys:
        history[keys.index((stage, epoch))] = entry
    else:
        history.append(entry)
    atomic_write_json(path, history)
    return history


# Panels of the curve: (title, figure).
_PANELS = (("masked L1 (lower better)", "l1"), ("masked SSIM (higher better)", "ssim"),
           ("view-identity accuracy (higher better)", "id_acc"))
_SERIES = (("x_new", "x'_new", "tab:red"), ("x_ori", "x'_ori", "tab:blue"))
_REFERENCES = (("mean_image", "mean image", "tab:gray"), ("input", "input x", "tab:orange"),
               ("chance", "chance", "tab:green"))


def plot_fidelity_curves(history: list[dict], path: str) -> str:
    """A PNG of the figures per epoch, one panel per figure: x'_new and x'_ori as lines, the
    reference predictors (and, for the accuracy, chance) as dashed horizontal lines at their
    latest values; stages are separated by a vertical line. Returns ``path``."""
    from common.plotting import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(4.2 * len(_PANELS), 3.3), dpi=100)
    steps = list(range(1, len(history) + 1))
    labels = [f"{e['stage']} {e['epoch']}" for e in history]
    latest = history[-1] if history else {}
    for ax, (title, figure) in zip(axes, _PANELS):
        for row, label, colour in _SERIES:
            ys = [e.get(f"{row}/{figure}") for e in history]
            points = [(x, y) for x, y in zip(steps, ys) if _finite(y)]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, color=colour, label=label)
        for name, label, colour in _REFERENCES:
            if name == "chance" and figure != "id_acc":
                continue
            value = latest.get(name if name == "chance" else f"{name}/{figure}")
            if _finite(value):
                ax.axhline(value, linestyle="--", linewidth=1, color=colour, label=label)
        for i in range(1, len(history)):
            if history[i]["stage"] != history[i - 1]["stage"]:
                ax.axvline(i + 0.5, color="0.7", linewidth=1)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(steps)
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
