"""Stage ``baseline``: a cluster-contrast style warm-up of the identity encoder.

Each epoch: E_id features of all training images -> pseudo-labels (Jaccard + DBSCAN) -> one
centroid per cluster (mean feature) -> P x K batches of clustered images with flip / pad-crop /
random erasing -> InfoNCE against the centroids (temperature 0.05), the matched centroid moved
with momentum 0.1. Outliers are not trained on. No ground-truth id is used.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from reid.data import build_train_loader
from common import distributed as dist_utils
from reid.engine.stages.base import RunningMeans, Stage
from reid.engine.validation import check_epoch_iterations
from reid.losses import cluster_contrast_loss
from reid.memory import ClusterMemory
from common.precision import autocast


class ClusterContrastStage(Stage):
    name = "baseline"

    @property
    def num_epochs(self) -> int:
        return int(self.cfg.SOLVER.BASELINE.EPOCHS)

    def setup(self) -> None:
        s = self.cfg.SOLVER.BASELINE
        params = [p for p in self.ctx.encoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=s.LR, weight_decay=s.WEIGHT_DECAY)
        self._schedulers = {"lr": torch.optim.lr_scheduler.StepLR(self.optimizer, s.STEP_SIZE, 0.1)}
        self.memory = ClusterMemory(dim=self.cfg.MODEL.EMBED_DIM, momentum=s.MOMENTUM,
                                    temperature=s.TEMPERATURE).to(self.ctx.device)
        encoder = self.ctx.encoder
        self.model = (DistributedDataParallel(encoder, device_ids=None if self.ctx.device.type == "cpu"
                                              else [self.ctx.device.index])
                      if dist_utils.is_distributed() else encoder)

    def optimizers(self) -> dict:
        return {"encoder": self.optimizer}

    def train_epoch(self, epoch: int) -> dict:
        ctx, s = self.ctx, self.cfg.SOLVER.BASELINE
        features = ctx.extract_train_features(foreground=bool(self.cfg.CLUSTER.FOREGROUND_MASK))
        result = ctx.compute_pseudo_labels(features, self.name, epoch)
        stats = {"clusters": result.num_clusters, "outliers": result.num_outliers}
        if result.num_clusters < 2:
            ctx.logger.warning("baseline epoch %d: %d cluster(s) found - nothing to contrast, the "
                               "epoch is skipped (documented policy)", epoch + 1,
                               result.num_clusters)
            return dict(stats, skipped=1)
        labels = torch.as_tensor(result.labels, device=ctx.device)
        self.memory.rebuild(features, labels)
        batch = int(s.BATCH_SIZE)
        loader = build_train_loader(
            ctx.train_items, batch_size=batch, num_instances=self.cfg.DATALOADER.NUM_INSTANCES,
            size=tuple(self.cfg.INPUT.SIZE), flip_prob=self.cfg.INPUT.FLIP_PROB,
            padding=self.cfg.INPUT.PADDING, re_prob=self.cfg.INPUT.RE_PROB,
            color_jitter=self.cfg.INPUT.COLOR_JITTER, num_workers=self.cfg.DATALOADER.NUM_WORKERS,
            num_iters=int(s.ITERS_PER_EPOCH) or None,
            seed=ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            skip_unreadable=self.cfg.DATASETS.SKIP_UNREADABLE, labels=result.labels.tolist())
        check_epoch_iterations(loader, len(loader), self.name, epoch,
                               "SOLVER.BASELINE.BATCH_SIZE")
        self.model.train()
        means = RunningMeans()
        for step, data in enumerate(self.progress(loader, len(loader), epoch)):
            images = data["img"].to(ctx.device, non_blocking=True)
            targets = labels[data["index"].to(ctx.device)]
            with autocast(ctx.device, self.cfg.SOLVER.PRECISION):
                f = self.model(images)
            f = F.normalize(f.float(), dim=1)
            loss = cluster_contrast_loss(f, targets, self.memory, update=False)
            terms = {"cluster_contrast": float(loss.detach())}
            self.check_finite(terms, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            # Centroids move after the backward pass, which still needed their old values.
            self.memory.update(f.detach(), targets)
            means.add(terms)
            ctx.global_step += 1
            if ctx.global_step % self.cfg.SOLVER.LOG_PERIOD == 0:
                ctx.log_scalars(self.name, terms)
        return dict(stats, **means.means(), lr=self.optimizer.param_groups[0]["lr"])
