"""Stage ``source`` (UDA): supervised warm-up of E_id on a labelled source dataset.

Cross-entropy with label smoothing on a temporary classifier plus batch-hard triplet, P x K
batches. The classifier is discarded afterwards; the unsupervised stages then run on the target.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from reid.data import build_dataset, build_train_loader, readable_training_indices
from common import distributed as dist_utils
from reid.engine.stages.base import RunningMeans, Stage
from reid.engine.validation import check_epoch_iterations
from reid.losses import CrossEntropyLabelSmooth, TripletLoss
from common.precision import autocast


class _EncoderWithClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int):
        super().__init__()
        self.encoder = encoder
        self.classifier = nn.Linear(encoder.embed_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x):
        f = self.encoder(x)
        return f, self.classifier(f)


class SourceWarmupStage(Stage):
    name = "source"

    @property
    def num_epochs(self) -> int:
        return int(self.cfg.SOLVER.SOURCE.EPOCHS)

    def setup(self) -> None:
        cfg = self.cfg
        if not cfg.DATASETS.SOURCE:
            raise ValueError("stage 'source' needs DATASETS.SOURCE (the labelled source dataset, "
                             "e.g. dukemtmc) and DATASETS.SOURCE_ROOT")
        self.source = build_dataset(cfg.DATASETS.SOURCE, cfg.DATASETS.SOURCE_ROOT or cfg.DATASETS.ROOT)
        pids = sorted({item[1] for item in self.source.train})
        relabel = {pid: i for i, pid in enumerate(pids)}
        items = [(path, relabel[pid], cam) for path, pid, cam in self.source.train]
        keep = readable_training_indices(items, bool(cfg.DATASETS.SKIP_UNREADABLE),
                                         self.ctx.logger, what="source training")
        self.items = [items[i] for i in keep]
        self.net = _EncoderWithClassifier(self.ctx.encoder, len(pids)).to(self.ctx.device)
        s = cfg.SOLVER.SOURCE
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=s.LR,
                                          weight_decay=cfg.SOLVER.BASELINE.WEIGHT_DECAY)
        self._schedulers = {"lr": torch.optim.lr_scheduler.StepLR(
            self.optimizer, max(1, self.num_epochs // 2), 0.1)}
        self.ce = CrossEntropyLabelSmooth(0.1)
        self.triplet = TripletLoss(margin=s.TRIPLET_MARGIN)
        self.model = (DistributedDataParallel(self.net) if dist_utils.is_distributed() else self.net)

    def optimizers(self) -> dict:
        return {"encoder": self.optimizer}

    def state_dict(self) -> dict:
        return dict(super().state_dict(), classifier=self.net.classifier.state_dict())

    def load_state_dict(self, state: dict) -> None:
        self.net.classifier.load_state_dict(state["classifier"])
        super().load_state_dict(state)

    def train_epoch(self, epoch: int) -> dict:
        ctx, s = self.ctx, self.cfg.SOLVER.SOURCE
        loader = build_train_loader(
            self.items, batch_size=int(s.BATCH_SIZE), num_instances=self.cfg.DATALOADER.NUM_INSTANCES,
            size=tuple(self.cfg.INPUT.SIZE), flip_prob=self.cfg.INPUT.FLIP_PROB,
            padding=self.cfg.INPUT.PADDING, re_prob=self.cfg.INPUT.RE_PROB,
            num_workers=self.cfg.DATALOADER.NUM_WORKERS, num_iters=int(s.ITERS_PER_EPOCH) or None,
            seed=ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            skip_unreadable=self.cfg.DATASETS.SKIP_UNREADABLE)
        check_epoch_iterations(loader, len(loader), self.name, epoch,
                               "SOLVER.SOURCE.BATCH_SIZE")
        self.model.train()
        means = RunningMeans()
        for step, data in enumerate(self.progress(loader, len(loader), epoch)):
            images = data["img"].to(ctx.device, non_blocking=True)
            targets = data["pid"].to(ctx.device)
            with autocast(ctx.device, self.cfg.SOLVER.PRECISION):
                f, logits = self.model(images)
            f, logits = f.float(), logits.float()
            l_ce, l_tri = self.ce(logits, targets), self.triplet(f, targets)
            loss = l_ce + l_tri
            terms = {"ce": float(l_ce.detach()), "triplet": float(l_tri.detach())}
            self.check_finite(terms, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            means.add(terms)
            ctx.global_step += 1
        return means.means()
