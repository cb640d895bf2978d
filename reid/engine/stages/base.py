"""The interface of a training stage and the helpers stages share.

A stage declares what the trainer must do around it as class attributes (the trainer never
names a stage) and supplies its epochs through two methods:

* :meth:`Stage.plan_epoch`: the per-epoch work before the batches (pseudo-labels, memory,
  loader) -> an :class:`EpochPlan`;
* :meth:`Stage.train_step`: one batch (already on the device) -> its loss terms.

:meth:`Stage.train_epoch` runs the batches through the one loop, :func:`reid.engine.loop.run_epoch`.
"""
from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

import numpy as np
import torch

from common import distributed as dist_utils
from common.precision import grad_scaler
from reid.data import readable_training_indices
from reid.engine.context import TrainingContext
from reid.engine.loop import EpochResult, TrainingDivergedError, run_epoch

__all__ = ["EpochPlan", "Stage", "TrainingDivergedError", "build_lr_scheduler",
           "maybe_distributed", "use_readable_training_images"]


@dataclass
class EpochPlan:
    """What :meth:`Stage.plan_epoch` prepared for the batches of one epoch.

    ``loader`` None skips the epoch (degenerate pseudo-labels); ``iterations`` None runs one pass
    over ``loader``; ``stats`` (clusters, outliers, ...) come first in the epoch's record;
    ``label`` names the epoch in errors (default: the stage's name)."""

    loader: Optional[Iterable] = None
    iterations: Optional[int] = None
    stats: dict = field(default_factory=dict)
    label: Optional[str] = None


class Stage(ABC):
    """One stage of the staged trainer. Subclasses set :attr:`name` and :attr:`section` and the
    declarations below, and implement :meth:`plan_epoch` and :meth:`train_step`."""

    #: The stage's name in ``GCL.STAGES``, logs and checkpoints.
    name = "stage"
    #: Its section of the config: ``SOLVER.<section>`` holds EPOCHS, BATCH_SIZE, LR, ...
    section = ""
    #: The stage trains the generative module (E_str, G, D): with ``GCL.USE_GAN`` the trainer
    #: builds it (and checks the structure maps) before the first stage.
    needs_generative = False
    #: Before the stage starts fresh, the trainer evaluates E_id as the baseline of the run
    #: (once) and saves it as ``baseline_encoder.pth``.
    evaluates_baseline_before = False
    #: File name below OUTPUT_DIR that the generative module's weights are written to when the
    #: stage ends (None: nothing is written).
    saves_after: Optional[str] = None
    #: Tag of the final evaluation when the run ends with this stage (None: the stage's name).
    final_tag: Optional[str] = None

    def __init__(self, ctx: TrainingContext):
        self.ctx = ctx
        self.cfg = ctx.cfg
        #: Learning-rate schedulers by name, built by :meth:`setup` (checkpointed by name).
        self._schedulers: dict = {}
        #: Gradient scalers by name (:meth:`grad_scaler`; checkpointed by name when enabled).
        self._scalers: dict = {}
        use_readable_training_images(ctx)

    # ------------------------------------------------------------------ its config
    @property
    def solver(self):
        """The stage's ``SOLVER.<section>`` node."""
        return self.cfg.SOLVER[self.section]

    def key(self, name: str) -> str:
        """The dotted config key of ``name`` in the stage's section."""
        return f"SOLVER.{self.section}.{name}"

    @property
    def num_epochs(self) -> int:
        """Epochs of this stage (``SOLVER.<section>.EPOCHS``)."""
        return int(self.solver.EPOCHS)

    # ------------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        """Build optimisers and schedulers (called once, before the first or resumed epoch)."""

    def begin(self) -> None:
        """Work done once when the stage starts fresh (not on resume), e.g. memory init."""

    @abstractmethod
    def plan_epoch(self, epoch: int) -> EpochPlan:
        """Everything epoch ``epoch`` needs before its batches (pseudo-labels, the loader)."""

    @abstractmethod
    def train_step(self, batch: dict) -> dict:
        """One batch (its tensors on the device): forward, backward, update; the loss terms as
        floats. Call :func:`reid.engine.loop.check_finite_terms` before the backward pass."""

    def grad_scaler(self, name: str) -> torch.amp.GradScaler:
        """The gradient scaler ``name`` of the optimisers that step after one backward pass:
        enabled with ``SOLVER.PRECISION fp16``, a pass-through otherwise; saved in and restored
        from the stage's checkpoints."""
        scaler = grad_scaler(self.cfg.SOLVER.PRECISION, self.ctx.device)
        self._scalers[name] = scaler
        return scaler

    def learning_rate(self) -> Optional[float]:
        """The learning rate of the stage's first optimiser (shown in the progress log)."""
        optimizers = list(self.optimizers().values())
        return float(optimizers[0].param_groups[0]["lr"]) if optimizers else None

    def epoch_extras(self) -> dict:
        """Values recorded after the loss means of an epoch that ran (e.g. the learning rate)."""
        return {}

    def after_batches(self, epoch: int, result: EpochResult) -> None:
        """Called when the batches of an epoch are done (e.g. to save a picture)."""

    def finish(self) -> dict:
        """Called on every rank when the stage's epochs are done (also when a resumed run had
        none left); returns extra entries for the file of :attr:`saves_after`."""
        return {}

    def train_epoch(self, epoch: int) -> dict:
        """Train one epoch; return its record: the plan's stats, the mean of each loss term, the
        extras (``skipped`` instead of the means when the plan skips the epoch)."""
        plan = self.plan_epoch(epoch)
        if plan.loader is None:
            return dict(plan.stats, skipped=1)
        iterations = len(plan.loader) if plan.iterations is None else plan.iterations
        result = run_epoch(self.ctx, self.name, plan.loader, iterations, epoch, self.num_epochs,
                           self.train_step, batch_key=self.key("BATCH_SIZE"), label=plan.label,
                           lr=self.learning_rate())
        self.after_batches(epoch, result)
        return dict(plan.stats, **result.means, **self.epoch_extras())

    def end_epoch(self, epoch: int, skipped: bool = False) -> None:
        """Step the schedulers: learning rates follow the epoch index, also after an epoch that
        was skipped (degenerate pseudo-labels), whose optimisers never stepped."""
        with warnings.catch_warnings():
            if skipped:
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` "
                                        r"before `optimizer\.step\(\)`")
            for scheduler in self.schedulers():
                scheduler.step()

    # ------------------------------------------------------------------ optimisation state
    def optimizers(self) -> dict:
        return {}

    def schedulers(self) -> list:
        return list(self._schedulers.values())

    def enabled_scalers(self) -> dict:
        """The gradient scalers that scale (fp16), by name."""
        return {k: s for k, s in self._scalers.items() if s.is_enabled()}

    def state_dict(self) -> dict:
        """``optimizers`` by name and, when the stage has any, ``schedulers`` by name and
        enabled gradient ``scalers`` by name (scale and growth counter)."""
        state = {"optimizers": {k: o.state_dict() for k, o in self.optimizers().items()}}
        if self._schedulers:
            state["schedulers"] = {k: s.state_dict() for k, s in self._schedulers.items()}
        if self.enabled_scalers():
            state["scalers"] = {k: s.state_dict() for k, s in self.enabled_scalers().items()}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`. A checkpoint without a scaler's state (written with
        another SOLVER.PRECISION) leaves that scaler at its initial scale, with a warning."""
        for key, opt in self.optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        for key, sched in self._schedulers.items():
            sched.load_state_dict(state["schedulers"][key])
        saved = state.get("scalers") or {}
        for key, scaler in self.enabled_scalers().items():
            if key in saved:
                scaler.load_state_dict(saved[key])
            else:
                self.ctx.logger.warning(
                    "%s: the checkpoint holds no state of the gradient scaler '%s' (it was "
                    "written with another SOLVER.PRECISION): the scaler starts at scale %g",
                    self.name, key, scaler.get_scale())


def build_lr_scheduler(optimizer: torch.optim.Optimizer, section: Any, num_epochs: int):
    """The learning-rate decay of a ``SOLVER.<STAGE>`` section: ``LR_STEPS`` (multiplied by
    ``LR_DECAY_FACTOR`` after each of these epochs) or, when it is ``()``, every
    ``LR_STEP_SIZE`` epochs (0 = half of the stage's epochs, at least 1)."""
    factor = float(section.LR_DECAY_FACTOR)
    if tuple(section.LR_STEPS):
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(e) for e in section.LR_STEPS],
                                                    factor)
    step = int(section.LR_STEP_SIZE) or max(1, num_epochs // 2)
    return torch.optim.lr_scheduler.StepLR(optimizer, step, factor)


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
        if ctx.monitor_ids is not None:  # None: an unlabelled set, nothing to monitor against
            ctx.monitor_ids = np.asarray(ctx.monitor_ids)[keep]
    ctx.train_images_verified = True


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

    def _average(self) -> None:
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        dist_utils.average_gradients(params)

    def step(self, closure=None):
        self._average()
        return self.optimizer.step(closure)

    def scaled_step(self, scaler: torch.amp.GradScaler) -> None:
        """``scaler.step`` on the averaged gradients: every rank sees the same inf / NaN and
        skips or steps alike (see :func:`common.precision.step_optimizer`)."""
        self._average()
        scaler.step(self.optimizer)

    def zero_grad(self, set_to_none: bool = True):
        return self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return self.optimizer.state_dict()

    def load_state_dict(self, state):
        return self.optimizer.load_state_dict(state)


def maybe_distributed(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    return GradientAveragingOptimizer(optimizer) if dist_utils.is_distributed() else optimizer
