"""Run a set of ablation configs and tabulate mAP / Rank-1 (thesis table 6.3 layout)."""
from __future__ import annotations

import glob
import os
from typing import Iterable, Sequence

from reid.config import load_config
from common import atomic_write_json, atomic_write_text


def ablation_configs(folder: str) -> list[str]:
    """The numbered ablation configs of a folder, in order (``base.yaml`` is not one)."""
    return sorted(p for p in glob.glob(os.path.join(folder, "*.yaml"))
                  if os.path.basename(p)[0].isdigit())


def select_ablation_configs(folder: str, names: Sequence[str]) -> list[str]:
    """Configs of ``folder`` chosen by name, in the order given: a name is a file stem
    (``6_gcl_full``, ``video_view``) or a stem without its number (``gcl_full``) or its last
    words (``full``). A name that matches nothing, or several files, is an error listing them."""
    stems = {os.path.splitext(os.path.basename(p))[0]: p
             for p in sorted(glob.glob(os.path.join(folder, "*.yaml")))
             if os.path.basename(p) != "base.yaml"}
    chosen = []
    for name in names:
        hits = [p for stem, p in stems.items()
                if stem == name or stem.split("_", 1)[-1] == name or stem.endswith("_" + name)]
        if len(hits) != 1:
            problem = "matches no" if not hits else f"matches {len(hits)}"
            raise ValueError(f"ablation '{name}' {problem} config in {folder}; available: "
                             f"{', '.join(stems)}")
        chosen.append(hits[0])
    return chosen


def _describe(cfg) -> str:
    if "joint" not in cfg.GCL.STAGES:
        return "baseline"
    names = {"vi": "L_vi", "vi_new": "L'_vi", "vi_new_pos": "L''_vi"}
    terms = [names[t] for t in cfg.GCL.VI_LOSSES]
    video = " + L_vid" if cfg.GCL.VIDEO_VIEW.WEIGHTS else ""
    if not cfg.GCL.USE_GAN:
        tda = " + TDA" if (cfg.INPUT.COLOR_JITTER or cfg.INPUT.RE_PROB > 0) else ""
        return "L_vi^woGAN" + tda + video
    return " + ".join(["L_gan"] + terms) + video


def format_ablation_table(rows: Sequence[dict]) -> str:
    lines = ["| setting | mAP | Rank-1 | Rank-5 |", "| --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['setting']} | {row['mAP']:.1f} | {row['rank1']:.1f} | "
                     f"{row['rank5']:.1f} |")
    return "\n".join(lines)


def run_ablations(config_paths: Iterable[str], opts: Sequence[str] = (),
                  output: str = "outputs/ablations") -> list[dict]:
    """Train every config (each from the same warm-up encoder) and write ``table.md``.

    Each row resumes from its own checkpoints, so re-running after an interruption continues
    the unfinished rows instead of being refused by the finished ones' output folders.
    """
    from reid.engine.trainer import GCLTrainer

    rows: list[dict] = []
    for path in config_paths:
        cfg = load_config(path, list(opts))
        summary = GCLTrainer(cfg, resume=True).run()
        if not rows and summary.get("baseline"):
            rows.append({"setting": "baseline (warm-up encoder)", "config": "-",
                         **summary["baseline"]})
        rows.append({"setting": _describe(cfg), "config": os.path.basename(path),
                     **summary["final"]})
        table = format_ablation_table(rows)
        atomic_write_text(os.path.join(output, "table.md"), table + "\n")
        atomic_write_json(os.path.join(output, "table.json"), rows)
    return rows
