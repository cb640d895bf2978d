"""Stage ``baseline``: a cluster-contrast style warm-up of the identity encoder.

Each epoch: E_id features of all training images -> pseudo-labels (Jaccard + DBSCAN) -> one
centroid per cluster (mean feature) -> P x K batches of clustered images with flip / pad-crop /
random erasing -> InfoNCE against the centroids (temperature 0.05), the matched centroid moved
with momentum 0.1. Outliers are not trained on. No ground-truth id is used. K of the P x K
batches is ``SOLVER.BASELINE.NUM_INSTANCES`` (0: ``DATALOADER.NUM_INSTANCES``); with
``SOLVER.BASELINE.EPS`` > 0 the stage clusters with that fixed eps (cluster-contrast: 0.6).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from common import distributed as dist_utils
from common.precision import autocast, backward_and_step
from reid.config.validation import baseline_num_instances
from reid.data import build_train_loader
from reid.engine.loop import check_finite_terms
from reid.engine.stages.base import EpochPlan, Stage, build_lr_scheduler
from reid.losses import cluster_contrast_loss
from reid.memory import ClusterMemory


class ClusterContrastStage(Stage):
    name = "baseline"
    section = "BASELINE"

    def setup(self) -> None:
        s = self.solver
        params = [p for p in self.ctx.encoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=s.LR, weight_decay=s.WEIGHT_DECAY)
        self._schedulers = {"lr": build_lr_scheduler(self.optimizer, s, self.num_epochs)}
        self.scaler = self.grad_scaler("encoder")
        self.memory = ClusterMemory(dim=self.cfg.MODEL.EMBED_DIM, momentum=s.MOMENTUM,
                                    temperature=s.TEMPERATURE).to(self.ctx.device)
        # SOLVER.BASELINE.EPS > 0: this stage's own fixed radius (cluster-contrast's 0.6); the
        # run's pseudo-labeller (and an eps it keeps) is then left to the joint stage.
        self.labeler = None
        if s.EPS > 0:
            from reid.cluster import PseudoLabeler

            self.labeler = PseudoLabeler.from_cfg(self.cfg, eps=float(s.EPS))
        encoder = self.ctx.encoder
        self.model = (DistributedDataParallel(encoder, device_ids=None if self.ctx.device.type == "cpu"
                                              else [self.ctx.device.index])
                      if dist_utils.is_distributed() else encoder)

    def optimizers(self) -> dict:
        return {"encoder": self.optimizer}

    def plan_epoch(self, epoch: int) -> EpochPlan:
        ctx, cfg, s = self.ctx, self.cfg, self.solver
        features = ctx.extract_train_features(foreground=bool(cfg.CLUSTER.FOREGROUND_MASK))
        result = ctx.compute_pseudo_labels(features, self.name, epoch, labeler=self.labeler)
        stats = {"clusters": result.num_clusters, "outliers": result.num_outliers}
        if result.num_clusters < 2:
            ctx.logger.warning("baseline epoch %d: %d cluster(s) found - nothing to contrast, the "
                               "epoch is skipped (documented policy)", epoch + 1,
                               result.num_clusters)
            return EpochPlan(stats=stats)
        self.labels = torch.as_tensor(result.labels, device=ctx.device)
        self.memory.rebuild(features, self.labels)
        loader = build_train_loader(
            ctx.train_items, batch_size=int(s.BATCH_SIZE), num_instances=baseline_num_instances(cfg),
            size=tuple(cfg.INPUT.SIZE), flip_prob=cfg.INPUT.FLIP_PROB,
            padding=cfg.INPUT.PADDING, re_prob=cfg.INPUT.RE_PROB,
            color_jitter=cfg.INPUT.COLOR_JITTER, num_workers=cfg.DATALOADER.NUM_WORKERS,
            num_iters=int(s.ITERS_PER_EPOCH) or None,
            seed=ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE, labels=result.labels.tolist())
        self.model.train()
        return EpochPlan(loader, stats=stats)

    def train_step(self, batch: dict) -> dict:
        targets = self.labels[batch["index"]]
        with autocast(self.ctx.device, self.cfg.SOLVER.PRECISION):
            f = self.model(batch["img"])
        f = F.normalize(f.float(), dim=1)
        loss = cluster_contrast_loss(f, targets, self.memory, update=False)
        terms = {"cluster_contrast": float(loss.detach())}
        check_finite_terms(terms)
        backward_and_step(loss, self.optimizer, self.scaler)
        # Centroids move after the backward pass, which still needed their old values.
        self.memory.update(f.detach(), targets)
        return terms

    def epoch_extras(self) -> dict:
        return {"lr": self.optimizer.param_groups[0]["lr"]}
