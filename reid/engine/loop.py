"""The batch loop of every training stage.

A stage hands :func:`run_epoch` its loader, the number of iterations of the epoch and its batch
step (``batch -> {term: float}``); the loop does the rest, the same way for every stage:

* refuses an epoch without iterations (:func:`~reid.engine.validation.check_epoch_iterations`);
* shows its progress on rank 0 (``SOLVER.PROGRESS``): a tqdm bar, or for batch jobs (standard
  output not a terminal, or ``log``) a plain line every ``SOLVER.LOG_PERIOD`` steps with the
  losses, learning rate, speed, ETA and peak GPU memory (:func:`common.logging.progress_line`);
* moves every tensor of the batch to the training device;
* checks the loss terms: a step raises :class:`NonFiniteLossError` (from
  :func:`check_finite_terms`, before its backward pass) or returns non-finite terms, and the
  loop stops the run with one :class:`TrainingDivergedError` naming the stage, the epoch, the
  step, the terms and what is left to resume from;
* averages the terms over the epoch (:class:`RunningMeans`);
* counts ``ctx.global_step`` and logs the terms every ``SOLVER.LOG_PERIOD`` steps.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import torch
from tqdm import tqdm

from common import distributed as dist_utils
from common.logging import progress_line, progress_mode
from reid.engine.validation import check_epoch_iterations


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; ``terms`` holds every term of the step."""

    def __init__(self, terms: dict):
        self.terms = terms
        super().__init__(f"non-finite loss terms {non_finite_terms(terms)}; all terms: {terms}")


class TrainingDivergedError(FloatingPointError):
    """A non-finite loss: training stops, the last good checkpoint (if any) is kept."""


def non_finite_terms(terms: dict) -> dict:
    """The float entries of ``terms`` that are NaN or infinite."""
    return {k: v for k, v in terms.items() if isinstance(v, float) and not math.isfinite(v)}


def check_finite_terms(terms: dict) -> None:
    """:class:`NonFiniteLossError` when a float term of ``terms`` is NaN or infinite; steps call
    it before their backward pass, so that a diverged loss never reaches the weights."""
    if non_finite_terms(terms):
        raise NonFiniteLossError(terms)


class RunningMeans:
    """Averages of the loss terms over an epoch (non-finite values and non-numbers left out)."""

    def __init__(self):
        self.sums = defaultdict(float)
        self.counts = defaultdict(int)

    def add(self, terms: dict) -> None:
        for key, value in terms.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.sums[key] += float(value)
                self.counts[key] += 1

    def means(self) -> dict:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


@dataclass
class EpochResult:
    """What :func:`run_epoch` returns: the mean of each term, the iterations run and the last
    batch (on the device; None when no batch ran)."""

    means: dict
    iterations: int
    last_batch: Optional[dict]


def to_device(batch: dict, device: torch.device) -> dict:
    """``batch`` with every tensor moved to ``device`` (other values as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


def peak_memory_mib(device: torch.device) -> Optional[float]:
    """The peak GPU memory allocated on ``device`` so far, in MiB; None off CUDA."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated(device) / 2 ** 20


def run_epoch(ctx, stage: str, loader: Iterable, iterations: int, epoch: int, num_epochs: int,
              step: Callable[[dict], dict], batch_key: str, label: Optional[str] = None,
              lr: Optional[float] = None) -> EpochResult:
    """Run ``step`` on the first ``iterations`` batches of ``loader`` (epoch ``epoch`` of
    ``num_epochs`` of ``stage``). ``batch_key`` is the config key named when the epoch has no
    iteration; ``label`` (default ``stage``) names the epoch in errors; ``lr`` is shown in the
    plain progress log."""
    label = label or stage
    iterations = check_epoch_iterations(loader, iterations, label, epoch, batch_key)
    log_period = int(ctx.cfg.SOLVER.LOG_PERIOD)
    main = dist_utils.is_main_process()
    plain = progress_mode(ctx.cfg.SOLVER.PROGRESS) == "log"
    batches = loader if plain else tqdm(
        loader, total=iterations, desc=f"{stage} {epoch + 1}/{num_epochs}", leave=False,
        dynamic_ncols=True, disable=not main)
    means = RunningMeans()
    last, done = None, 0
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        if i >= iterations:
            break
        batch = to_device(batch, ctx.device)
        try:
            terms = step(batch)
            check_finite_terms(terms)
        except NonFiniteLossError as exc:
            raise TrainingDivergedError(
                f"{label} epoch {epoch + 1}, step {i}: non-finite loss "
                f"{non_finite_terms(exc.terms)}; all terms: {exc.terms}. "
                f"{ctx.checkpoint_note()}") from exc
        means.add(terms)
        ctx.global_step += 1
        if ctx.global_step % log_period == 0:
            ctx.log_scalars(stage, terms)
            if plain and main:
                rate = (i + 1) / max(time.perf_counter() - start, 1e-9)
                ctx.logger.info(progress_line(stage, epoch + 1, num_epochs, i + 1, iterations,
                                              terms, lr, rate, peak_memory_mib(ctx.device)))
        last, done = batch, i + 1
    return EpochResult(means.means(), done, last)
