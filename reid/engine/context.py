"""What every training stage shares: config, device, data, models, memory, pseudo-labeller, logs."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from reid.data import build_test_loader
from common import distributed as dist_utils
from common.logging import progress_mode


@dataclass
class TrainingContext:
    cfg: Any
    device: torch.device
    logger: logging.Logger
    output_dir: str
    dataset: Any
    train_items: list
    # Ground-truth training ids: for monitoring cluster purity / NMI only, never for training.
    monitor_ids: np.ndarray
    encoder: torch.nn.Module
    generative: Optional[torch.nn.Module] = None
    memory: Optional[torch.nn.Module] = None
    pseudo_labeler: Any = None
    pseudo_labels: Optional[np.ndarray] = None
    # The Adam states the gan_warmup stage ended with ({"generator", "discriminator"}), for a
    # joint stage that continues them (SOLVER.JOINT.GAN_OPTIMIZER_STATE warmup).
    warmup_optimizers: Optional[dict] = None
    writer: Any = None
    global_step: int = 0
    history: list = field(default_factory=list)

    def epoch_seed(self, stage: str, epoch: int) -> int:
        """Every epoch draws its randomness from (SEED, stage, epoch): resuming is exact."""
        offsets = {"source": 1, "baseline": 2, "gan_warmup": 3, "joint": 4}
        return int(self.cfg.SEED) * 100_003 + offsets.get(stage, 9) * 1_009 + epoch

    def log_scalars(self, prefix: str, values: dict, step: Optional[int] = None) -> None:
        if self.writer is None:
            return
        step = self.global_step if step is None else step
        for key, value in values.items():
            if isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    @torch.no_grad()
    def extract_train_features(self, items: Optional[list] = None,
                               foreground: bool = False) -> torch.Tensor:
        """L2-normalised E_id features of the training images (no flip), gathered across ranks.

        ``foreground=True`` embeds the images with their background greyed out by the silhouette
        of their structure map (see :mod:`reid.views.foreground`). The tqdm bar is shown only
        when ``SOLVER.PROGRESS`` resolves to ``"bar"`` (as in the evaluation runner): the
        plain-log mode of batch jobs gets no carriage-return frames.
        """
        from reid.evaluation.features import extract_features

        items = self.train_items if items is None else items
        world, rank = dist_utils.world_size(), dist_utils.rank()
        shard = [items[i] for i in range(rank, len(items), world)]
        size, batch, workers = (tuple(self.cfg.INPUT.SIZE), self.cfg.TEST.BATCH_SIZE,
                                self.cfg.DATALOADER.NUM_WORKERS)
        if foreground:
            from reid.views.foreground import build_foreground_loader
            from reid.views.structure_maps import structure_cache_for

            loader = build_foreground_loader(shard, structure_cache_for(self.cfg, self.dataset), size,
                                             batch, workers)
        else:
            loader = build_test_loader(shard, size=size, batch_size=batch, num_workers=workers)
        was_training = self.encoder.training
        bar = progress_mode(self.cfg.SOLVER.PROGRESS) == "bar"
        feats, _, _ = extract_features(self.encoder, loader, self.device, flip=False,
                                       desc="train features", progress=bar)
        self.encoder.train(was_training)
        feats = feats.to(self.device)
        if world == 1:
            return feats
        order = torch.arange(rank, len(items), world, device=self.device)
        all_feats = dist_utils.all_gather_cat(feats)
        all_order = dist_utils.all_gather_cat(order)
        out = torch.empty_like(all_feats)
        out[all_order] = all_feats
        return out

    def compute_pseudo_labels(self, features: torch.Tensor, stage: str, epoch: int,
                              labeler: Any = None):
        """DBSCAN pseudo-labels on rank 0, broadcast to every rank; logged with purity / NMI.
        ``labeler``: a stage's own pseudo-labeller instead of the run's (``pseudo_labeler``)."""
        result = None
        if dist_utils.is_main_process():
            labeler = self.pseudo_labeler if labeler is None else labeler
            result = labeler(features.cpu().numpy(), gt_labels=self.monitor_ids)
        result = dist_utils.broadcast_object(result)
        self.pseudo_labels = result.labels
        values = {"clusters": result.num_clusters, "outliers": result.num_outliers,
                  "eps": result.eps}
        for key in ("purity", "nmi", "ari"):
            if getattr(result, key, None) is not None:
                values[key] = float(getattr(result, key))
        self.log_scalars(f"{stage}/pseudo_labels", values, step=epoch)
        return result

    def path(self, *parts: str) -> str:
        return os.path.join(self.output_dir, *parts)

    def checkpoint_note(self) -> str:
        """What a run that stops now leaves to resume from, for error messages: the kept
        checkpoint's folder, or that no checkpoint exists yet."""
        from reid.engine.checkpoint import CheckpointManager

        checkpoints = CheckpointManager(self.output_dir)
        if checkpoints.has_checkpoints():
            return f"The last good checkpoint is kept in {checkpoints.folder}."
        return (f"No checkpoint exists yet ({checkpoints.folder} holds none): this run has "
                "nothing to resume from.")
