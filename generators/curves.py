"""Learning curves of a video-GAN run: the evaluation scores every ``SOLVER.EVAL_PERIOD``
iterations, kept in ``<OUTPUT_DIR>/curves.json`` and drawn as ``<OUTPUT_DIR>/curves.png``.

The file is rewritten atomically after every evaluation::

    {"model": "g3an", "points": [{"iteration": 0, "train_minutes": 0.0, "eval_seconds": 3.1,
                                  "fcd": 41.2, "classifier_score": 1.3, ...}, ...]}

``train_minutes`` is the training time before the evaluation (evaluations excluded), the clock
that ``SOLVER.MAX_MINUTES`` stops. A resumed run drops the points written after its checkpoint's
iteration (that stretch is trained again) and keeps the rest, so a curve survives interruptions.
``best`` (when present) names the point whose generator is kept as ``generator_best.pth``: the
lowest FCD recorded (a point dropped on resume may have been it; the file then stays until a
lower FCD replaces it).
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

from common.io import atomic_write_json, read_json_if_present

CURVES_NAME = "curves.json"
CURVES_PLOT_NAME = "curves.png"
# What a curve plot shows, in this order, when the points hold it (lower is better for the
# Fréchet distance; higher for the score and the accuracy; ACD-C is the spread between clips).
PLOTTED_METRICS = ("fcd", "classifier_score", "action_accuracy", "acd_c", "ssim")
METRIC_TITLES = {"fcd": "Fréchet distance (classifier features; not I3D FVD)",
                 "classifier_score": "classifier score (Inception-score recipe)",
                 "action_accuracy": "accuracy of the intended action",
                 "acd_c": "ACD-C (content distance between clips)",
                 "ssim": "SSIM against the real clip"}


class CurveFileError(ValueError):
    """A ``curves.json`` that is not a learning curve (or one of another model)."""


class LearningCurve:
    """The evaluation points of one run, sorted by iteration (one point per iteration)."""

    def __init__(self, model: str, points: Iterable[Mapping] = (), best: Mapping | None = None):
        self.model = model
        self.points: list[dict] = sorted((dict(p) for p in points),
                                         key=lambda p: p["iteration"])
        # the point whose generator is kept as generator_best.pth: {"metric", "iteration", "file"}
        self.best: dict | None = dict(best) if best else None

    @classmethod
    def load(cls, path: str, model: str | None = None) -> "LearningCurve":
        """The curve in ``path``; an empty one (of ``model``) when the file does not exist."""
        data = read_json_if_present(path)
        if data is None:
            return cls(model or "")
        if not isinstance(data, dict) or not isinstance(data.get("points"), list) or any(
                not isinstance(p, dict) or "iteration" not in p for p in data["points"]):
            raise CurveFileError(f"{path}: expected a learning curve "
                                 '({"model": ..., "points": [{"iteration": ...}, ...]})')
        if model is not None and data.get("model") not in (None, "", model):
            raise CurveFileError(f"{path} holds the curve of model '{data.get('model')}', not "
                                 f"'{model}': use another OUTPUT_DIR")
        return cls(data.get("model") or model or "", data["points"], data.get("best"))

    def save(self, path: str) -> str:
        doc = {"model": self.model, "points": self.points}
        if self.best:
            doc["best"] = self.best
        return atomic_write_json(path, doc)

    def best_iteration(self, metric: str = "fcd", lower: bool = True) -> int | None:
        """The iteration of the best ``metric`` value (the earliest among equals)."""
        pts = [p for p in self.points if _finite(p.get(metric))]
        if not pts:
            return None
        sign = 1.0 if lower else -1.0
        return min(pts, key=lambda p: (sign * p[metric], p["iteration"]))["iteration"]

    def has(self, iteration: int) -> bool:
        return any(p["iteration"] == iteration for p in self.points)

    def truncate_after(self, iteration: int) -> int:
        """Drop the points past ``iteration``; returns how many were dropped."""
        kept = [p for p in self.points if p["iteration"] <= iteration]
        dropped = len(self.points) - len(kept)
        self.points = kept
        return dropped

    def add(self, iteration: int, train_seconds: float, scores: Mapping[str, float],
            eval_seconds: float) -> dict:
        """Record (or replace) the point of ``iteration``; returns it."""
        point = {"iteration": int(iteration), "train_minutes": train_seconds / 60.0,
                 "eval_seconds": float(eval_seconds),
                 **{k: float(v) for k, v in scores.items()}}
        self.points = [p for p in self.points if p["iteration"] != iteration] + [point]
        self.points.sort(key=lambda p: p["iteration"])
        return point

    def metrics(self) -> list[str]:
        """The plotted metrics that the points hold, in :data:`PLOTTED_METRICS` order."""
        return [m for m in PLOTTED_METRICS if any(_finite(p.get(m)) for p in self.points)]

    def summary(self) -> dict:
        """First and last point of every plotted metric, the iterations and the minutes."""
        if not self.points:
            return {"model": self.model, "evaluations": 0}
        first, last = self.points[0], self.points[-1]
        out = {"model": self.model, "evaluations": len(self.points),
               "iterations": last["iteration"], "train_minutes": last["train_minutes"]}
        for m in self.metrics():
            out[f"{m}_start"], out[f"{m}_end"] = first.get(m), last.get(m)
        if _finite(first.get("fcd")) and _finite(last.get("fcd")) and first["fcd"] > 0:
            out["fcd_end_over_start"] = last["fcd"] / first["fcd"]
            best = self.best_iteration("fcd")
            out["fcd_best"] = next(p["fcd"] for p in self.points if p["iteration"] == best)
            out["fcd_best_iteration"] = best
        return out


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def plot_curves(curves: Mapping[str, LearningCurve], path: str, x: str = "iteration",
                chance: Mapping[str, float] | None = None) -> str:
    """One panel per metric, one line per curve (``{label: curve}``), against ``x``
    ("iteration" or "train_minutes"); a dashed line at the real clips' value where the points
    hold it (``<metric>_real``), and ``chance``: a dotted reference line per metric (e.g. the
    action accuracy of guessing). Written atomically as a PNG; returns ``path``."""
    from common.plotting import pyplot, save_figure

    if x not in ("iteration", "train_minutes"):
        raise ValueError(f"x is '{x}'; expected 'iteration' or 'train_minutes'")
    metrics = [m for m in PLOTTED_METRICS if any(m in c.metrics() for c in curves.values())]
    if not metrics:
        raise ValueError("no curve holds a metric to plot (evaluate at least once)")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, curve in curves.items():
            pts = [p for p in curve.points if _finite(p.get(metric))]
            if pts:
                ax.plot([p[x] for p in pts], [p[metric] for p in pts], marker=".", label=label)
        real = [p[f"{metric}_real"] for c in curves.values() for p in c.points
                if _finite(p.get(f"{metric}_real"))]
        if real and metric != "fcd":  # the real clips' value (the evaluation's reference)
            ax.axhline(sum(real) / len(real), color="black", linestyle="--", linewidth=0.8,
                       label="real clips")
        if chance and metric in chance:
            ax.axhline(chance[metric], color="grey", linestyle=":", label="chance")
        ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=9)
        ax.set_xlabel("iteration" if x == "iteration" else "training minutes")
        ax.grid(alpha=0.3)
        if metric == "fcd":
            ax.set_yscale("log")
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def curve_path(output_dir: str) -> str:
    return os.path.join(output_dir, CURVES_NAME)


__all__ = ["CURVES_NAME", "CURVES_PLOT_NAME", "CurveFileError", "LearningCurve", "PLOTTED_METRICS",
           "curve_path", "plot_curves"]
