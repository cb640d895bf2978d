"""The interface of a training stage and the helpers stages share."""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from reid.data import readable_training_indices
from common import distributed as dist_utils
from reid.engine.context import TrainingContext


class TrainingDivergedError(FloatingPointError):
    """A non-finite loss: training stops, the last good checkpoint (if any) is kept."""


class Stage(ABC):
    """One stage of the staged trainer (``source``, ``baseline``, ``gan_warmup``, ``joint``)."""

    name = "stage"

    def __init__(self, ctx: TrainingContext):
        self.ctx = ctx
        self.cfg = ctx.cfg
        use_readable_training_images(ctx)

    @property
    @abstractmethod
    def num_epochs(self) -> int:
        """Epochs of this stage (from the config)."""

    def setup(self) -> None:
        """Build optimisers and schedulers (called once, before the first or resumed epoch)."""

    def begin(self) -> None:
        """Work done once when the stage starts fresh (not on resume), e.g. memory init."""

    @abstractmethod
    def train_epoch(self, epoch: int) -> dict:
        """Train one epoch; return the mean of each logged term."""

    def end_epoch(self, epoch: int, skipped: bool = False) -> None:
        """Step the schedulers: learning rates follow the epoch index, also after an epoch that
        was skipped (degenerate pseudo-labels), whose optimisers never stepped."""
        with warnings.catch_warnings():
            if skipped:
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` "
                                        r"before `optimizer\.step\(\)`")
            for scheduler in self.schedulers():
                scheduler.step()

    def optimizers(self) -> dict:
        return {}

    def schedulers(self) -> list:
        return list(self._schedulers.values()) if hasattr(self, "_schedulers") else []

    def state_dict(self) -> dict:
        state = {"optimizers": {k: o.state_dict() for k, o in self.optimizers().items()}}
        if hasattr(self, "_schedulers"):
            state["schedulers"] = {k: s.state_dict() for k, s in self._schedulers.items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        for key, sched in getattr(self, "_schedulers", {}).items():
            sched.load_state_dict(state["schedulers"][key])

    # ------------------------------------------------------------------ shared helpers
    def progress(self, iterable: Iterable, total: int, epoch: int):
        return tqdm(iterable, total=total, desc=f"{self.name} {epoch + 1}/{self.num_epochs}",
                    leave=False, dynamic_ncols=True, disable=not dist_utils.is_main_process())

    def check_finite(self, terms: dict, step: int) -> None:
        bad = {k: v for k, v in terms.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise TrainingDivergedError(
                f"{self.name}: non-finite loss at step {step} ({bad}); all terms: {terms}. "
                f"{self.ctx.checkpoint_note()}")


def use_readable_training_images(ctx: TrainingContext) -> None:
    """Verify ``ctx``'s training images once per run (the first stage does, before anything
    reads them) and drop the unreadable ones from ``ctx.train_items`` / ``ctx.monitor_ids``
    (``DATASETS.SKIP_UNREADABLE``; without it they are an error naming them). Every reader of
    the training list (the pseudo-label feature passes, the GAN view data, the loaders) then
    sees readable images only, and memory rows stay aligned with the items."""
    if getattr(ctx, "train_images_verified", False):
        return
    keep = readable_training_indices(ctx.train_items, bool(ctx.cfg.DATASETS.SKIP_UNREADABLE),
                                     ctx.logger)
    if len(keep) < len(ctx.train_items):
        ctx.train_items[:] = [ctx.train_items[i] for i in keep]
        ctx.monitor_ids = np.asarray(ctx.monitor_ids)[keep]
    ctx.train_images_verified = True


class RunningMeans:
    """Averages of the loss terms over an epoch."""

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


class GradientAveragingOptimizer:
    """Wraps an optimiser so that ``step()`` first averages gradients across ranks.

    Only used in distributed jobs for the multi-pass GAN steps (see
    :func:`common.distributed.average_gradients`); a no-op wrapper otherwise.
    """

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    @property
    def param_groups(self):
        return self.optimizer.param_groups

    def step(self, closure=None):
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        dist_utils.average_gradients(params)
        return self.optimizer.step(closure)

    def zero_grad(self, set_to_none: bool = True):
        return self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        return self.optimizer.load_state_dict(state)


def maybe_distributed(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    return GradientAveragingOptimizer(optimizer) if dist_utils.is_distributed() else optimizer
