"""The training loop shared by every video GAN: resume, steps, logging, samples, checkpoints.

A trainer class provides ``step(batch) -> dict``, ``iteration``, ``state_dict`` /
``load_checkpoint``, ``write_samples(tag)`` and ``final_generator_state()``; :class:`TrainingLoop`
adds :meth:`train`, which resumes from ``OUTPUT_DIR/checkpoint_last.pth`` when
``SOLVER.RESUME``, writes TensorBoard scalars to ``OUTPUT_DIR/tb``, sample grids to
``OUTPUT_DIR/samples`` and checkpoints atomically, and ends with ``generator_final.pth``.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import Iterator

from torch.utils.data import DataLoader

from reid.utils import atomic_save, resolve_device, set_seed, setup_logger

CHECKPOINT_NAME = "checkpoint_last.pth"
FINAL_NAME = "generator_final.pth"


def infinite_batches(loader: DataLoader) -> Iterator[dict]:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


class TrainingLoop(ABC):
    """Mixin with the loop; subclasses set ``cfg``, ``name``, ``output_dir``, ``logger``,
    ``loader`` and ``iteration``."""

    def _start_run(self, cfg, dataset, device) -> None:
        """Config, device, seed, output folder, logger and data stream shared by every trainer."""
        from .training import build_dataset

        self.cfg = cfg
        self.name = cfg.MODEL.NAME.lower()
        self.device = resolve_device(device or cfg.MODEL.DEVICE)
        set_seed(cfg.SEED)
        self.output_dir = cfg.OUTPUT_DIR
        os.makedirs(self.output_dir, exist_ok=True)
        self.logger = setup_logger("generators", self.output_dir)
        self.dataset = dataset if dataset is not None else build_dataset(cfg)

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.output_dir, CHECKPOINT_NAME)

    def save_checkpoint(self, path: str | None = None) -> str:
        return atomic_save(self.state_dict(), path or self.checkpoint_path)

    @abstractmethod
    def final_generator_state(self) -> dict:
        """``{"model", "G", "config"}``: the weights that sampling loads."""

    def train(self, max_iters: int | None = None, progress: bool = True) -> dict[str, float]:
        """Run until ``max_iters`` (default ``SOLVER.MAX_ITERS``); returns the last losses."""
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        s = self.cfg.SOLVER
        max_iters = max_iters or s.MAX_ITERS
        if s.RESUME and os.path.isfile(self.checkpoint_path):
            self.load_checkpoint(self.checkpoint_path)
            self.logger.info("resumed from %s at iteration %d", self.checkpoint_path,
                             self.iteration)
        writer = SummaryWriter(os.path.join(self.output_dir, "tb"))
        stream = infinite_batches(self.loader)
        stats: dict[str, float] = {}
        bar = tqdm(total=max_iters, initial=self.iteration, disable=not progress,
                   desc=f"train {self.name}", dynamic_ncols=True)
        try:
            while self.iteration < max_iters:
                stats = self.step(next(stream))
                bar.update(1)
                for key, value in stats.items():
                    writer.add_scalar(f"loss/{key}", value, self.iteration)
                if self.iteration % s.LOG_PERIOD == 0 or self.iteration == max_iters:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()})
                    self.logger.info("iter %d %s", self.iteration,
                                     " ".join(f"{k}={v:.4f}" for k, v in stats.items()))
                if self.iteration % s.SAMPLE_PERIOD == 0 or self.iteration == max_iters:
                    self.write_samples(f"iter_{self.iteration:07d}")
                if self.iteration % s.CHECKPOINT_PERIOD == 0 or self.iteration == max_iters:
                    self.save_checkpoint()
        finally:
            bar.close()
            writer.close()
        atomic_save(self.final_generator_state(), os.path.join(self.output_dir, FINAL_NAME))
        return stats
