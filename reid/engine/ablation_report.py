"""Seed statistics of an ablation benchmark: mean +- std per row, a markdown table, a bar chart.

Input: one result per (row, seed), each ``{"setting", "config", "seed", "mAP", "rank1",
"mINP", ...}``. The standard deviation is the sample one (ddof 1) over seeds; the difference
to the baseline is paired by seed (the row and the baseline share that seed's warm-up), so its
spread is that of the gain itself, not of the two rows separately.
"""
from __future__ import annotations

import math
from typing import Sequence

METRICS = ("mAP", "rank1", "mINP")
METRIC_NAMES = {"mAP": "mAP", "rank1": "Rank-1", "rank5": "Rank-5", "mINP": "mINP"}


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def summarise_seeded_rows(results: Sequence[dict], baseline: str = "baseline") -> list[dict]:
    """One summary per setting, in the order the settings first appear: ``{"setting",
    "config", "seeds", "<metric>_values" (by seed), "<metric>_mean", "<metric>_std",
    "delta_mAP_mean", "delta_mAP_std"}``
    (the delta against the row named ``baseline``, over the seeds both have)."""
    order: list[str] = []
    by_setting: dict[str, dict[int, dict]] = {}
    for row in results:
        if row["setting"] not in by_setting:
            order.append(row["setting"])
            by_setting[row["setting"]] = {}
        by_setting[row["setting"]][int(row["seed"])] = row
    base = by_setting.get(baseline, {})
    out = []
    for setting in order:
        runs = by_setting[setting]
        seeds = sorted(runs)
        summary = {"setting": setting, "config": runs[seeds[0]].get("config", "-"),
                   "seeds": seeds}
        for metric in METRICS:
            values = [float(runs[s][metric]) for s in seeds]
            summary[f"{metric}_values"] = values
            summary[f"{metric}_mean"], summary[f"{metric}_std"] = _mean_std(values)
        fidelity = [runs[s]["view_fidelity"] for s in seeds if runs[s].get("view_fidelity")]
        if fidelity:
            summary["view_fidelity"] = {
                key: _mean_std([float(f[key]) for f in fidelity])
                for key in fidelity[0] if all(isinstance(f.get(key), (int, float)) for f in fidelity)}
            summary["view_fidelity_seeds"] = len(fidelity)
            summary["view_fidelity_after"] = fidelity[0].get("after", "")
        shared = [s for s in seeds if s in base]
        if shared and setting != baseline:
            summary["delta_mAP_mean"], summary["delta_mAP_std"] = _mean_std(
                [float(runs[s]["mAP"]) - float(base[s]["mAP"]) for s in shared])
        out.append(summary)
    return out


def format_seeded_table(summaries: Sequence[dict]) -> str:
    """Markdown: setting | mAP | Rank-1 | mINP | mAP - baseline (paired) | seeds (mean +- std;
    the mean alone for a row of one seed)."""
    lines = ["| setting | mAP | Rank-1 | mINP | mAP - baseline (paired) | seeds |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s in summaries:
        single = len(s["seeds"]) == 1  # no spread to show
        cells = [f"{s[f'{m}_mean']:.2f}" + ("" if single else f" ± {s[f'{m}_std']:.2f}")
                 for m in METRICS]
        delta = "-" if "delta_mAP_mean" not in s else (
            f"{s['delta_mAP_mean']:+.2f}" + ("" if single else f" ± {s['delta_mAP_std']:.2f}"))
        lines.append(f"| {s['setting']} | {' | '.join(cells)} | {delta} | {len(s['seeds'])} |")
    return "\n".join(lines)


#: Columns of the view-fidelity table: (figure key, header).
FIDELITY_COLUMNS = (("x_new/l1", "x'_new L1"), ("x_new/ssim", "x'_new SSIM"),
                    ("x_new/id_acc", "x'_new view-identity acc."), ("x_ori/l1", "x'_ori L1"),
                    ("x_ori/ssim", "x'_ori SSIM"), ("ssim_diversity/generated", "SSIM diversity"))
#: Reference rows: (name, {column key: figure key}); they do not depend on the model.
FIDELITY_REFERENCES = (
    ("reference: mean image", {"x_new/l1": "mean_image/l1", "x_new/ssim": "mean_image/ssim",
                               "x_new/id_acc": "mean_image/id_acc"}),
    ("reference: input x (unrotated)", {"x_new/l1": "input/l1", "x_new/ssim": "input/ssim",
                                        "x_new/id_acc": "input/id_acc"}),
    ("chance / real photos", {"x_new/id_acc": "chance",
                              "ssim_diversity/generated": "ssim_diversity/real"}))


def format_view_fidelity_table(summaries: Sequence[dict]) -> str:
    """Markdown: the view fidelity of each row's final generator (mean +- std over seeds), then
    the reference predictors, chance and the real photos' SSIM diversity; "" when no row has
    view-fidelity figures."""
    rows = [s for s in summaries if s.get("view_fidelity")]
    if not rows:
        return ""

    def cell(stats: dict, key, seeds: int = 2) -> str:
        if key not in stats:
            return "-"
        mean, std = stats[key]
        return f"{mean:.3f}" + (f" ± {std:.3f}" if seeds > 1 else "")

    header = " | ".join(h for _, h in FIDELITY_COLUMNS)
    lines = [f"| generator after | {header} | seeds |",
             "| --- |" + " --- |" * (len(FIDELITY_COLUMNS) + 1)]
    for s in rows:
        name = s["setting"] + (" (warm-up)" if "delta_mAP_mean" not in s else "")
        cells = " | ".join(cell(s["view_fidelity"], k, s["view_fidelity_seeds"])
                           for k, _ in FIDELITY_COLUMNS)
        lines.append(f"| {name} | {cells} | {s['view_fidelity_seeds']} |")
    stats = rows[0]["view_fidelity"]
    for label, keys in FIDELITY_REFERENCES:
        cells = " | ".join(cell(stats, keys[k], 1) if k in keys else "-"
                           for k, _ in FIDELITY_COLUMNS)
        lines.append(f"| {label} | {cells} | - |")
    return "\n".join(lines)


def plot_seeded_ablations(summaries: Sequence[dict], path: str,
                          title: str = "GCL ablations (thesis table 6.3)") -> str:
    """A bar chart PNG of mean mAP / Rank-1 / mINP per row with +- std error bars and each
    seed's value as a dot; written atomically to ``path``."""
    import numpy as np

    from common.plotting import pyplot, save_figure

    plt = pyplot()
    labels = [s["setting"] for s in summaries]
    x = np.arange(len(labels))
    width = 0.26
    fig, ax = plt.subplots(figsize=(max(7.0, 1.25 * len(labels) + 2), 4.6), dpi=110)
    for k, metric in enumerate(METRICS):
        means = [s[f"{metric}_mean"] for s in summaries]
        stds = [s[f"{metric}_std"] for s in summaries]
        ax.bar(x + (k - 1) * width, means, width, yerr=stds, capsize=3,
               label=METRIC_NAMES[metric], alpha=0.85)
        for i, s in enumerate(summaries):
            values = s[f"{metric}_values"]
            ax.scatter(np.full(len(values), x[i] + (k - 1) * width), values, s=7, zorder=3,
                       color="black", alpha=0.6, linewidths=0)
    n_seeds = sorted({len(s["seeds"]) for s in summaries})
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("%")
    ax.set_title(f"{title}: mean ± std over {'/'.join(map(str, n_seeds))} seeds", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)

__all__ = ["format_seeded_table", "format_view_fidelity_table", "plot_seeded_ablations",
           "summarise_seeded_rows"]
