"""Run a set of ablation configs and tabulate mAP / Rank-1 (thesis table 6.3 layout): once from
the default run's warm-ups (:func:`run_ablations`), or for several training seeds with a warm-up
of their own each (:func:`run_seeded_ablations`, mean +- std in :mod:`reid.engine.ablation_report`).
"""
from __future__ import annotations

import glob
import os
from typing import Iterable, Sequence

from reid.config import load_config
from common import atomic_write_json, atomic_write_text, read_json_if_present
from reid.evaluation.view_fidelity import FIDELITY_HISTORY


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
    video += " + generated frames" if cfg.DATASETS.EXTRA_TRAIN_DIRS else ""
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


# ---------------------------------------------------------------------------------------------
# The seeds protocol: every row for N training seeds, the warm-ups shared within a seed
# ---------------------------------------------------------------------------------------------
#: The warm-up every row of a seed starts from: the synthetic default's baseline and gan_warmup.
WARMUP_STAGES = ("baseline", "gan_warmup")
BASELINE_SETTING = "baseline"
RESULT_FILE = "result.json"
RESULT_KEYS = ("mAP", "rank1", "rank5", "rank10", "mINP")
#: What a seed's rows start from, written by its warm-up run.
WARMUP_FILES = ("baseline_encoder.pth", "generative_warmup.pth")


def _read_result(folder: str) -> dict | None:
    return read_json_if_present(os.path.join(folder, RESULT_FILE))


def _final_view_fidelity(folder: str) -> dict | None:
    """The view-fidelity figures of the last gan_warmup / joint epoch of the run in ``folder``
    (``view_fidelity.json``, written when the dataset has ground-truth views), else None."""
    history = read_json_if_present(os.path.join(folder, FIDELITY_HISTORY))
    if not history:
        return None
    last = history[-1]
    return {k: v for k, v in last.items() if k not in ("stage", "epoch")} | {
        "after": f"{last['stage']} epoch {last['epoch']}"}


def _row_name(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def check_seeded_plan(config_paths: Sequence[str], seeds: Sequence[int], warmup_config: str,
                      opts: Sequence[str] = ()) -> list:
    """Load every config of the benchmark before anything trains (a bad file or key fails
    here, naming it); returns the loaded row configs."""
    if not seeds:
        raise ValueError("seeds: give at least one training seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: {list(seeds)} repeats a seed")
    load_config(warmup_config, list(opts) + ["GCL.STAGES", str(WARMUP_STAGES)])
    names = [_row_name(p) for p in config_paths]
    if len(set(names)) != len(names):
        raise ValueError(f"ablation configs: two share a file name ({names}); each row's "
                         "output folder is named after its config")
    return [load_config(p, list(opts)) for p in config_paths]


def run_seeded_ablations(config_paths: Sequence[str], seeds: Sequence[int],
                         opts: Sequence[str] = (), output: str = "outputs/ablations_seeds",
                         warmup_config: str = "configs/synthetic.yaml", log=print) -> dict:
    """Run every row of ``config_paths`` for each training seed (``SEED``) and summarise.

    Per seed, one warm-up run (``warmup_config`` with ``GCL.STAGES`` baseline + gan_warmup,
    in ``output/seed<S>/warmup``) gives the baseline row and the encoder + generative module
    that every row of that seed starts from (``MODEL.WEIGHTS``, ``MODEL.GENERATIVE_WEIGHTS``);
    each row trains in ``output/seed<S>/<config name>``. A finished run leaves ``result.json``
    in its folder and is skipped when the benchmark is run again; an unfinished one resumes
    from its checkpoints. A folder that holds only the results (copied from another machine)
    is completed the same way: when a row still has to run and its seed's warm-up weights are
    gone, the warm-up is trained again (training is deterministic; a warm-up whose metrics
    differ from its recorded ones is an error, since the finished rows started from the old
    one). ``opts`` apply to the warm-ups and to every row.

    Each result carries, when the dataset has ground-truth views, the view-fidelity figures of
    the run's last generative epoch (``view_fidelity``: the warm-up's for the baseline row, whose
    generator every row of the seed starts from).

    Writes ``output/results.json`` (every run), ``output/summary.json`` (mean / std per row),
    ``output/table.md`` (the metrics table, then the view-fidelity table) and
    ``output/ablations.png`` after every finished run; returns ``{"seeds", "rows": summaries,
    "results", "table", "chart", "seconds"}``.
    """
    import time

    from reid.engine.ablation_report import (format_seeded_table, format_view_fidelity_table,
                                             plot_seeded_ablations, summarise_seeded_rows)
    from reid.engine.trainer import GCLTrainer

    row_cfgs = check_seeded_plan(config_paths, seeds, warmup_config, opts)
    started = time.perf_counter()
    results: list[dict] = []
    summary: dict = {}

    def record(folder: str, row: dict) -> None:
        atomic_write_json(os.path.join(folder, RESULT_FILE), row)

    def collect(folder: str, row: dict) -> None:
        fidelity = _final_view_fidelity(folder)
        results.append({**row, "view_fidelity": fidelity} if fidelity else row)

    def publish() -> None:
        rows = summarise_seeded_rows(results, BASELINE_SETTING)
        table = format_seeded_table(rows)
        fidelity = format_view_fidelity_table(rows)
        if fidelity:
            table += "\n\n" + fidelity
        atomic_write_json(os.path.join(output, "results.json"), results)
        atomic_write_json(os.path.join(output, "summary.json"), rows)
        atomic_write_text(os.path.join(output, "table.md"), table + "\n")
        chart = plot_seeded_ablations(rows, os.path.join(output, "ablations.png"))
        summary.update(rows=rows, table=table, chart=chart)

    for seed in seeds:
        seed_dir = os.path.join(output, f"seed{seed}")
        warm_dir = os.path.join(seed_dir, "warmup")
        warm = _read_result(warm_dir)
        pending = [p for p in config_paths
                   if _read_result(os.path.join(seed_dir, _row_name(p))) is None]
        missing = [f for f in WARMUP_FILES if not os.path.isfile(os.path.join(warm_dir, f))]
        recorded = warm
        if warm is not None and pending and missing:
            log(f"seed {seed}: {len(pending)} row(s) to run but the warm-up's "
                f"{', '.join(missing)} are gone: training the warm-up again")
            warm = None
        if warm is None:
            log(f"seed {seed}: warm-up ({' + '.join(WARMUP_STAGES)}) -> {warm_dir}")
            cfg = load_config(warmup_config, list(opts) + [
                "GCL.STAGES", str(WARMUP_STAGES), "SEED", str(seed), "OUTPUT_DIR", warm_dir,
                "EXPORT.ENABLED", "False"])
            t0 = time.perf_counter()
            out = GCLTrainer(cfg, resume=True).run()
            warm = {"setting": BASELINE_SETTING, "config": "-", "seed": seed,
                    **{k: out["baseline"][k] for k in RESULT_KEYS},
                    "seconds": round(time.perf_counter() - t0, 1)}
            if recorded is not None and any(
                    abs(float(recorded[k]) - float(warm[k])) > 1e-6 for k in RESULT_KEYS):
                raise RuntimeError(
                    f"seed {seed}: the warm-up trained again gives "
                    f"{ {k: warm[k] for k in RESULT_KEYS} }, not the recorded "
                    f"{ {k: recorded[k] for k in RESULT_KEYS} } that this seed's finished rows "
                    "started from (another code version or machine?); run the seed afresh in "
                    "a new output folder")
            record(warm_dir, warm)
        else:
            log(f"seed {seed}: warm-up done ({warm_dir}), skipped")
        collect(warm_dir, warm)
        weights = ["MODEL.WEIGHTS", os.path.join(warm_dir, "baseline_encoder.pth"),
                   "MODEL.GENERATIVE_WEIGHTS", os.path.join(warm_dir, "generative_warmup.pth")]
        for path, row_cfg in zip(config_paths, row_cfgs):
            row_dir = os.path.join(seed_dir, _row_name(path))
            row = _read_result(row_dir)
            if row is None:
                log(f"seed {seed}: {_describe(row_cfg)} ({os.path.basename(path)}) -> {row_dir}")
                cfg = load_config(path, list(opts) + weights + [
                    "SEED", str(seed), "OUTPUT_DIR", row_dir, "EXPORT.ENABLED", "False"])
                t0 = time.perf_counter()
                out = GCLTrainer(cfg, resume=True).run()
                row = {"setting": _describe(cfg), "config": os.path.basename(path), "seed": seed,
                       **{k: out["final"][k] for k in RESULT_KEYS},
                       "seconds": round(time.perf_counter() - t0, 1)}
                record(row_dir, row)
            else:
                log(f"seed {seed}: {row['setting']} done ({row_dir}), skipped")
            collect(row_dir, row)
            publish()
    if not summary:
        publish()
    return {"seeds": list(seeds), **summary, "results": results,
            "seconds": round(time.perf_counter() - started, 1)}
