"""The training loop shared by every video GAN: resume, steps, logging, samples, checkpoints.

The run class (:class:`generators.training.VideoGANTrainer`, for every model) provides
``step(batch) -> dict``, ``iteration``, ``state_dict`` /
``load_checkpoint``, ``network_weights()``, ``render_fixed_samples(count)`` and
``final_generator_state()``; :class:`TrainingLoop` adds :meth:`write_samples` and :meth:`train`,
which resumes from ``OUTPUT_DIR/checkpoint_last.pth`` when
``SOLVER.RESUME``, writes TensorBoard scalars to ``OUTPUT_DIR/tb``, sample grids to
``OUTPUT_DIR/samples`` and checkpoints atomically, and ends with ``generator_final.pth``.

Learning curves (``SOLVER.EVAL_PERIOD`` > 0): the sampling generator is evaluated
(:func:`generators.evaluation.evaluate_generator` with ``EVAL.*``) before the first iteration,
every ``EVAL_PERIOD`` iterations and after the last one, into ``OUTPUT_DIR/curves.json``
(:mod:`generators.curves`), ``curves.png`` and TensorBoard's ``eval/<metric>``. An evaluation
draws from its own seeded noise and restores every random state and the networks' modes, so a
run with evaluations trains exactly as one without. ``SOLVER.MAX_MINUTES`` ends a run on a
training-time budget (evaluations not counted; the clock is in the checkpoint). With the action
classifier, ``generator_best.pth`` (the format of ``generator_final.pth``) holds the sampling
generator of the evaluation with the lowest FCD so far; curves.json names its iteration
(``best``).

Nothing non-finite is kept: a NaN or infinite loss stops the run with
:class:`VideoGANDivergedError`, and weights holding NaN or infinity, or rendering NaN from the
fixed sample inputs, are never saved (:class:`~common.finite.NonFiniteWeightsError`);
either way the last good ``checkpoint_last.pth`` stays as it was.
"""
from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch.utils.data import DataLoader

from common import atomic_save, resolve_device, set_seed, setup_logger
from common.finite import refuse_non_finite_save
from common.logging import progress_mode
from common.seed import get_rng_state, set_rng_state

from .curves import CURVES_PLOT_NAME, LearningCurve, curve_path, plot_curves
from .data import build_dataset
from .video_io import frame_strip, video_grid, write_image, write_video

CHECKPOINT_NAME = "checkpoint_last.pth"
FINAL_NAME = "generator_final.pth"
BEST_NAME = "generator_best.pth"  # the sampling generator at the lowest FCD of the curve


class VideoGANDivergedError(FloatingPointError):
    """A non-finite video-GAN loss: training stops, the last good checkpoint is kept."""


def non_finite_terms(terms: Mapping[str, float]) -> dict[str, float]:
    """The entries of ``terms`` (loss name -> float) that are NaN or infinite."""
    return {k: v for k, v in terms.items() if isinstance(v, float) and not math.isfinite(v)}


@contextmanager
def preserved_random_streams(dataset=None, global_streams: bool = True):
    """Run the block and put the random streams back as they were: the global ones (python,
    numpy, torch) unless ``global_streams`` is false, and ``dataset.rng`` when it has one. What
    the block draws (sample inputs, evaluations, a network's initial weights) then leaves
    training's draws as they would be without it."""
    states = get_rng_state() if global_streams else None
    rng = getattr(dataset, "rng", None)
    dataset_state = rng.getstate() if rng is not None else None
    try:
        yield
    finally:
        if states is not None:
            set_rng_state(states)
        if rng is not None:
            rng.setstate(dataset_state)


def infinite_batches(loader: DataLoader) -> Iterator[dict]:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


class TrainingLoop(ABC):
    """Mixin with the loop; subclasses set ``cfg``, ``name``, ``output_dir``, ``logger``,
    ``loader`` and ``iteration``."""

    def _start_run(self, cfg, dataset, device) -> None:
        """Config, device, seed, output folder, logger and data stream shared by every trainer."""
        self.cfg = cfg
        self.name = cfg.MODEL.NAME.lower()
        self.device = resolve_device(device or cfg.MODEL.DEVICE)
        set_seed(cfg.SEED)
        self.train_seconds = 0.0  # training time so far (evaluations excluded; checkpointed)
        self._classifier = self._load_classifier()  # before anything is written: fails first
        self.output_dir = cfg.OUTPUT_DIR
        os.makedirs(self.output_dir, exist_ok=True)
        self.logger = setup_logger("generators", self.output_dir)
        self.dataset = dataset if dataset is not None else build_dataset(cfg)
        if cfg.SOLVER.EVAL_PERIOD and self._classifier is None:
            self.logger.warning("EVAL.CLASSIFIER_WEIGHTS is empty: the learning curves hold ACD "
                                "(and SSIM / PSNR for image-conditioned models) only; train the "
                                "classifier with tools/train_video_classifier.py for FCD, the "
                                "classifier score and the action accuracy")

    def _load_classifier(self):
        """The action classifier of the learning curves (``None`` without one). Building it draws
        initial weights, so the random streams are put back as they were."""
        weights = self.cfg.EVAL.CLASSIFIER_WEIGHTS
        if not (self.cfg.SOLVER.EVAL_PERIOD and weights):
            return None
        from .metrics import load_feature_network

        with preserved_random_streams():
            return load_feature_network("action_classifier", weights, self.device)

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.output_dir, CHECKPOINT_NAME)

    def save_checkpoint(self, path: str | None = None) -> str:
        """Write the resumable state atomically; non-finite weights are refused (the run stops
        and the previous file stays)."""
        path = path or self.checkpoint_path
        refuse_non_finite_save(self.network_weights(), path, self._last_good(),
                               "video-GAN checkpoint", probe=self.render_fixed_samples)
        return atomic_save(self.state_dict(), path)

    def save_final_generator(self, name: str = FINAL_NAME) -> str:
        """Write ``generator_final.pth`` (what sampling loads; or ``name``); non-finite weights
        are refused."""
        state = self.final_generator_state()
        path = os.path.join(self.output_dir, name)
        refuse_non_finite_save(state["G"], path, self._last_good(), "generator weights",
                               probe=self.render_fixed_samples)
        return atomic_save(state, path)

    def _last_good(self) -> str | None:
        """The checkpoint a refused save or a diverged run leaves in place, if there is one."""
        return self.checkpoint_path if os.path.isfile(self.checkpoint_path) else None

    def check_losses(self, terms: Mapping[str, float], iteration: int | None = None) -> None:
        """Raise :class:`VideoGANDivergedError` when a loss of ``terms`` (computed in
        ``iteration``, by default the last finished one) is NaN or infinite."""
        bad = non_finite_terms(terms)
        if bad:
            last = self._last_good()
            kept = (f"the last good checkpoint {last} is kept" if last else
                    "no checkpoint was written before the losses diverged")
            iteration = self.iteration if iteration is None else iteration
            raise VideoGANDivergedError(
                f"{self.name}: non-finite loss at iteration {iteration} ({bad}); all terms: "
                f"{dict(terms)}. Training stops, {kept}; lower SOLVER.G_LR / SOLVER.D_LR.")

    @abstractmethod
    def network_weights(self) -> dict:
        """``{name: state dict}`` of every trained network (checked before each save)."""

    @abstractmethod
    def render_fixed_samples(self, count: int = 8) -> torch.Tensor:
        """Clips (B, 3, T, H, W) in [-1, 1] of the sampling generator from fixed inputs (the
        same on every call), in eval mode; the networks' modes are restored."""

    def write_samples(self, tag: str, count: int = 8) -> dict[str, str]:
        """PNG strip + GIF grid of :meth:`render_fixed_samples` into ``samples/``."""
        fake = self.render_fixed_samples(count).cpu()
        folder = os.path.join(self.output_dir, "samples")
        return {"png": write_image(os.path.join(folder, f"{tag}.png"),
                                   frame_strip(fake, every=max(1, fake.shape[2] // 8))),
                "gif": write_video(os.path.join(folder, f"{tag}.gif"), video_grid(fake))}

    @abstractmethod
    def final_generator_state(self) -> dict:
        """``{"model", "G", "config"}``: the weights that sampling loads."""

    @property
    def curve_path(self) -> str:
        return curve_path(self.output_dir)

    def evaluate(self) -> dict[str, float]:
        """The ``EVAL.*`` scores of the sampling generator now, leaving every random stream
        (global and the dataset's) and the generator's mode as they were."""
        from .evaluation import evaluate_generator

        e = self.cfg.EVAL
        generator = self.sampling_generator
        was_training = generator.training
        generator.eval()
        try:
            with preserved_random_streams(self.dataset):
                return evaluate_generator(generator, self.cfg, self.dataset, e.NUM_VIDEOS,
                                          e.BATCH_SIZE, seed=e.SEED, classifier=self._classifier)
        finally:
            generator.train(was_training)

    def _record_evaluation(self, curve: LearningCurve, writer) -> dict:
        """Evaluate, add the point to ``curve``, write curves.json, curves.png and TensorBoard."""
        started = time.perf_counter()
        scores = self.evaluate()
        point = curve.add(self.iteration, self.train_seconds, scores,
                          time.perf_counter() - started)
        if "fcd" in scores and curve.best_iteration("fcd") == self.iteration:
            self.save_final_generator(BEST_NAME)
            curve.best = {"metric": "fcd", "iteration": self.iteration, "file": BEST_NAME}
        curve.save(self.curve_path)
        plot_curves({self.name: curve}, os.path.join(self.output_dir, CURVES_PLOT_NAME))
        for key, value in scores.items():
            if key != "num_videos":
                writer.add_scalar(f"eval/{key}", value, self.iteration)
        self.logger.info("eval at iteration %d (%.1f training minutes): %s", self.iteration,
                         self.train_seconds / 60.0,
                         " ".join(f"{k}={v:.4g}" for k, v in scores.items() if k != "num_videos"))
        return point

    def _open_curve(self) -> LearningCurve | None:
        """The run's learning curve (``None`` without evaluations); points past the resumed
        iteration are dropped, since that stretch is trained again."""
        if not self.cfg.SOLVER.EVAL_PERIOD:
            return None
        curve = LearningCurve.load(self.curve_path, self.name)
        dropped = curve.truncate_after(self.iteration)
        if dropped:
            self.logger.info("dropped %d learning-curve point(s) past iteration %d", dropped,
                             self.iteration)
        return curve

    def train(self, max_iters: int | None = None,
              progress: bool | None = None) -> dict[str, float]:
        """Run until ``max_iters`` (default ``SOLVER.MAX_ITERS``) or the ``SOLVER.MAX_MINUTES``
        budget; returns the last losses. ``progress``: show the tqdm bar (default: as
        ``SOLVER.PROGRESS`` says; the plain log line every ``LOG_PERIOD`` is always written)."""
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        s = self.cfg.SOLVER
        if progress is None:
            progress = progress_mode(s.PROGRESS) == "bar"
        max_iters = max_iters or s.MAX_ITERS
        budget = s.MAX_MINUTES * 60.0 if s.MAX_MINUTES > 0 else math.inf
        if s.RESUME and os.path.isfile(self.checkpoint_path):
            self.load_checkpoint(self.checkpoint_path)
            self.logger.info("resumed from %s at iteration %d", self.checkpoint_path,
                             self.iteration)
        curve = self._open_curve()
        writer = SummaryWriter(os.path.join(self.output_dir, "tb"))
        stream = infinite_batches(self.loader)
        stats: dict[str, float] = {}
        bar = tqdm(total=max_iters, initial=self.iteration, disable=not progress,
                   desc=f"train {self.name}", dynamic_ncols=True)
        try:
            if curve is not None and not curve.has(self.iteration):
                self._record_evaluation(curve, writer)
            while self.iteration < max_iters and self.train_seconds < budget:
                started = time.perf_counter()
                stats = self.step(next(stream))
                self.check_losses(stats)
                self.train_seconds += time.perf_counter() - started
                last = self.iteration >= max_iters or self.train_seconds >= budget
                bar.update(1)
                for key, value in stats.items():
                    writer.add_scalar(f"loss/{key}", value, self.iteration)
                if self.iteration % s.LOG_PERIOD == 0 or last:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()})
                    self.logger.info("iter %d %s", self.iteration,
                                     " ".join(f"{k}={v:.4f}" for k, v in stats.items()))
                if self.iteration % s.SAMPLE_PERIOD == 0 or last:
                    self.write_samples(f"iter_{self.iteration:07d}")
                if curve is not None and (self.iteration % s.EVAL_PERIOD == 0 or last):
                    self._record_evaluation(curve, writer)
                if self.iteration % s.CHECKPOINT_PERIOD == 0 or last:
                    self.save_checkpoint()
            if self.train_seconds >= budget and self.iteration < max_iters:
                self.logger.info("SOLVER.MAX_MINUTES %.1f reached at iteration %d",
                                 s.MAX_MINUTES, self.iteration)
        finally:
            bar.close()
            writer.close()
        self.save_final_generator()
        return stats
