"""Learning curves of every video GAN on the synthetic action clips, on one training-time budget
each: what ``tools/run_video_curves.py`` runs.

For each model its ``configs/generators/<model>_synthetic.yaml`` trains in its own process
(``tools/train_video_gan.py``) into ``<out>/<model>`` for ``minutes`` of training
(``SOLVER.MAX_MINUTES``; evaluations not counted), evaluated every ``eval_period`` iterations with
the project's action classifier (``<out>/classifier.pth``, trained first when absent; its held-out
accuracy is recorded). Every part resumes: a finished model is not trained again, an interrupted
one continues from its checkpoint, the classifier is trained once. The results are
``<out>/summary.json`` (per model: the first and last value of every metric, iterations, minutes,
and the files), ``<out>/summary.md`` (the same as a markdown table), ``<out>/curves.png`` (every
model against training minutes) and ``<out>/<model>.gif`` (the model's last sample grid).
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from typing import Callable, Mapping, Sequence

from common.io import atomic_write_json, atomic_write_text, read_json_if_present

from .curves import LearningCurve, curve_path, plot_curves

MODELS = ("imaginator", "g3an", "inmodegan", "mostganv")
# Iterations between evaluations: about 20 evaluations in 20 minutes on one core at the
# synthetic widths (measured with two runs side by side on a 2-core CPU, one thread each:
# ImaGINator about 4 iterations/s, G3AN 1.4, InMoDeGAN 3, MoStGAN-V 4).
DEFAULT_EVAL_PERIODS = {"imaginator": 250, "g3an": 100, "inmodegan": 200, "mostganv": 250}
SUMMARY_COLUMNS = (("iterations", "iterations", "{:d}"),
                   ("train_minutes", "minutes", "{:.1f}"),
                   ("fcd_start", "FCD start", "{:.2f}"), ("fcd_end", "FCD end", "{:.2f}"),
                   ("fcd_end_over_start", "end / start", "{:.2f}"),
                   ("fcd_best", "FCD best", "{:.2f}"),
                   ("classifier_score_end", "classifier score", "{:.2f}"),
                   ("action_accuracy_end", "action accuracy", "{:.3f}"),
                   ("acd_c_end", "ACD-C", "{:.4f}"),
                   ("ssim_end", "SSIM", "{:.3f}"))


def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_config(model: str) -> str:
    return os.path.join(repo_root(), "configs", "generators", f"{model}_synthetic.yaml")


def check_models(models: Sequence[str]) -> list[str]:
    """The models asked for, each of :data:`MODELS` with a synthetic config."""
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"models {list(unknown) or '[]'}: expected some of {', '.join(MODELS)}")
    return list(dict.fromkeys(models))


def ensure_classifier(out: str, clips_root: str, log: Callable[[str], None],
                      epochs: int = 60, seed: int = 0) -> dict:
    """``<out>/classifier.pth`` (trained on the clips at ``clips_root`` when absent) and its
    record (held-out accuracy, clips), kept in ``<out>/classifier.json``."""
    weights = os.path.join(out, "classifier.pth")
    record_path = os.path.join(out, "classifier.json")
    record = read_json_if_present(record_path)
    if os.path.isfile(weights) and record is not None:
        return record
    from .metrics.classifier_training import train_action_classifier

    log(f"training the action classifier on {clips_root} ({epochs} epochs)")
    result = train_action_classifier(clips_root, weights, epochs=epochs, seed=seed, log=log)
    record = {k: v for k, v in result.items()
              if k != "checkpoint" and not isinstance(v, (list, dict))}
    record["weights"] = os.path.basename(weights)  # relative to ``out``
    atomic_write_json(record_path, record)
    return record


def train_command(model: str, out: str, minutes: float, eval_period: int, classifier: str,
                  extra: Sequence[str] = ()) -> list[str]:
    """The ``tools/train_video_gan.py`` command line of one model's curve run."""
    script = os.path.join(repo_root(), "tools", "train_video_gan.py")
    return [sys.executable, script, "--config", model_config(model), "--no-progress",
            "OUTPUT_DIR", os.path.join(out, model), "SOLVER.MAX_ITERS", "100000000",
            "SOLVER.MAX_MINUTES", str(minutes), "SOLVER.EVAL_PERIOD", str(eval_period),
            "SOLVER.SAMPLE_PERIOD", str(eval_period), "SOLVER.CHECKPOINT_PERIOD",
            str(eval_period), "SOLVER.LOG_PERIOD", str(max(1, eval_period // 4)),
            "EVAL.CLASSIFIER_WEIGHTS", classifier, "MODEL.DEVICE", "cpu", *extra]


def run_models(models: Sequence[str], out: str, minutes: float, classifier: str,
               eval_periods: Mapping[str, int], jobs: int = 1, threads: int = 1,
               log: Callable[[str], None] = print, extra: Sequence[str] = ()) -> dict[str, int]:
    """Train the models, ``jobs`` processes at a time with ``threads`` torch threads each; a
    model's log is ``<out>/<model>.log``. Returns ``{model: exit status}``."""
    out, classifier = os.path.abspath(out), os.path.abspath(classifier)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    pending, running, status = list(models), {}, {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            model = pending.pop(0)
            cmd = train_command(model, out, minutes, eval_periods[model], classifier, extra)
            os.makedirs(os.path.join(out, model), exist_ok=True)
            handle = open(os.path.join(out, f"{model}.log"), "a")
            log(f"{model}: training for {minutes:g} minutes, evaluated every "
                f"{eval_periods[model]} iterations (log: {handle.name})")
            running[model] = (subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT,
                                               env=env, cwd=repo_root()), handle)
        done = [m for m, (proc, _) in running.items() if proc.poll() is not None]
        if not done:
            time.sleep(1.0)
        for model in done:
            proc, handle = running.pop(model)
            handle.close()
            status[model] = proc.returncode
            log(f"{model}: exit status {proc.returncode}")
    return status


def last_sample_gif(run_dir: str) -> str | None:
    """The run's last sample grid GIF (``samples/iter_NNNNNNN.gif``), if any."""
    gifs = sorted(glob.glob(os.path.join(run_dir, "samples", "iter_*.gif")))
    return gifs[-1] if gifs else None


def summarise(models: Sequence[str], out: str, minutes: float, classifier: Mapping,
              machine: Mapping, num_classes: int = 8) -> dict:
    """summary.json, summary.md, curves.png and one GIF per model from the runs in ``out``."""
    curves, rows = {}, {}
    for model in models:
        curve = LearningCurve.load(curve_path(os.path.join(out, model)), model)
        if not curve.points:
            continue
        curves[model] = curve
        row = curve.summary()
        gif = last_sample_gif(os.path.join(out, model))
        if gif:
            row["gif"] = f"{model}.gif"  # relative to ``out``
            shutil.copyfile(gif, os.path.join(out, row["gif"]))
        rows[model] = row
    chance = 1.0 / num_classes
    summary = {"budget_minutes": minutes, "classifier": dict(classifier), "machine": dict(machine),
               "action_accuracy_chance": chance, "models": rows}
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    atomic_write_text(os.path.join(out, "summary.md"), summary_table(summary))
    if curves:
        plot_curves(curves, os.path.join(out, "curves.png"), x="train_minutes",
                    chance={"action_accuracy": chance})
    return summary


def summary_table(summary: Mapping) -> str:
    """The markdown table of :func:`summarise`'s summary."""
    head = "| model | " + " | ".join(title for _, title, _ in SUMMARY_COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(SUMMARY_COLUMNS) + 1)]
    for model, row in summary["models"].items():
        cells = []
        for key, _, fmt in SUMMARY_COLUMNS:
            value = row.get(key)
            cells.append("—" if value is None else fmt.format(value))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    clf = summary.get("classifier", {})
    if "held_out_accuracy" in clf:
        lines.append("")
        lines.append(f"Action classifier: held-out accuracy {clf['held_out_accuracy']:.4f} "
                     f"({clf.get('num_held_out', '?')} clips); chance of the action accuracy "
                     f"{summary['action_accuracy_chance']:.3f}.")
    return "\n".join(lines) + "\n"


def load_summary(out: str) -> dict | None:
    path = os.path.join(out, "summary.json")
    return read_json_if_present(path)


__all__ = ["DEFAULT_EVAL_PERIODS", "MODELS", "check_models", "ensure_classifier",
           "last_sample_gif", "load_summary", "run_models", "summarise", "summary_table",
           "train_command"]
