"""A logger that prints to the console and, when given a folder, appends to ``<folder>/log.txt``."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def setup_logger(name: str = "reid", output_dir: str | None = None,
                 level: int = logging.INFO, filename: str = "log.txt") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_reid_console", False) for h in logger.handlers):
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        console._reid_console = True  # type: ignore[attr-defined]
        logger.addHandler(console)
    if output_dir:
        path = os.path.abspath(os.path.join(output_dir, filename))
        if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
            os.makedirs(output_dir, exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
    return logger


#: ``SOLVER.PROGRESS``: how training shows its progress. "bar": a tqdm bar per epoch; "log": a
#: plain line every SOLVER.LOG_PERIOD iterations (:func:`progress_line`), for batch jobs;
#: "auto": the bar when standard output is a terminal, the plain lines otherwise.
PROGRESS_MODES = ("auto", "bar", "log")


def progress_mode(setting: str, stream=None) -> str:
    """``"bar"`` or ``"log"`` for ``SOLVER.PROGRESS`` ``setting``; ``"auto"`` asks whether
    ``stream`` (default: ``sys.stdout``) is a terminal."""
    if setting not in PROGRESS_MODES:
        raise ValueError(f"SOLVER.PROGRESS must be one of {PROGRESS_MODES}, got {setting!r}")
    if setting != "auto":
        return setting
    stream = sys.stdout if stream is None else stream
    try:
        return "bar" if stream.isatty() else "log"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return "log"


def _format_value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(stage: str, epoch: int, num_epochs: int, iteration: int, iterations: int,
                  terms: dict, lr: float | None, rate: float,
                  peak_memory_mib: float | None = None) -> str:
    """One line of the plain progress log (a stable format, parsed by scripts)::

        joint epoch 3/20 iter 40/200 | L_vi=1.234 adv=0.25 gen_total=3.5 | lr 3.500e-04 | 2.31 it/s | eta 0:01:09 | mem 10240 MiB

    Fields, separated by `` | ``: the stage, its epoch (1-based) of ``num_epochs`` and the
    iteration (1-based) of the epoch's ``iterations``; the loss terms of that iteration as
    ``name=value`` (floats with 4 significant digits, in the step's order); the learning rate
    of the stage's first optimiser (``lr -`` when it has none); the iterations per second since
    the epoch started; the time left until the epoch's last batch (``H:MM:SS``); on CUDA, the
    peak GPU memory allocated so far in MiB (left out elsewhere).
    """
    terms_text = " ".join(f"{k}={_format_value(v)}" for k, v in terms.items()) or "-"
    eta = (iterations - iteration) / rate if rate > 0 else 0.0
    parts = [f"{stage} epoch {epoch}/{num_epochs} iter {iteration}/{iterations}", terms_text,
             "lr -" if lr is None else f"lr {lr:.3e}", f"{rate:.2f} it/s",
             f"eta {_format_duration(eta)}"]
    if peak_memory_mib is not None:
        parts.append(f"mem {peak_memory_mib:.0f} MiB")
    return " | ".join(parts)
