"""Stage ``source`` (UDA): supervised warm-up of E_id on a labelled source dataset.

Cross-entropy with label smoothing on a temporary classifier plus batch-hard triplet, P x K
batches. The classifier is discarded afterwards; the unsupervised stages then run on the target.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from common import distributed as dist_utils
from common.precision import autocast, backward_and_step
from reid.data import build_train_loader, readable_training_indices
from reid.data.build import build_dataset_from_cfg
from reid.engine.loop import check_finite_terms
from reid.engine.stages.base import EpochPlan, Stage, build_lr_scheduler
from reid.losses import CrossEntropyLabelSmooth, TripletLoss


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
    section = "SOURCE"

    def setup(self) -> None:
        cfg = self.cfg
        if not cfg.DATASETS.SOURCE:
            raise ValueError("stage 'source' needs DATASETS.SOURCE (the labelled source dataset, "
                             "e.g. dukemtmc) and DATASETS.SOURCE_ROOT")
        self.source = build_dataset_from_cfg(cfg, source=True)
        pids = sorted({item[1] for item in self.source.train})
        relabel = {pid: i for i, pid in enumerate(pids)}
        items = [(path, relabel[pid], cam) for path, pid, cam in self.source.train]
        keep = readable_training_indices(items, bool(cfg.DATASETS.SKIP_UNREADABLE),
                                         self.ctx.logger, what="source training")
        self.items = [items[i] for i in keep]
        self.net = _EncoderWithClassifier(self.ctx.encoder, len(pids)).to(self.ctx.device)
        s = self.solver
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=s.LR,
                                          weight_decay=s.WEIGHT_DECAY)
        self._schedulers = {"lr": build_lr_scheduler(self.optimizer, s, self.num_epochs)}
        self.scaler = self.grad_scaler("encoder")
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

    def plan_epoch(self, epoch: int) -> EpochPlan:
        cfg, s = self.cfg, self.solver
        loader = build_train_loader(
            self.items, batch_size=int(s.BATCH_SIZE), num_instances=cfg.DATALOADER.NUM_INSTANCES,
            size=tuple(cfg.INPUT.SIZE), flip_prob=cfg.INPUT.FLIP_PROB,
            padding=cfg.INPUT.PADDING, re_prob=cfg.INPUT.RE_PROB,
            num_workers=cfg.DATALOADER.NUM_WORKERS, num_iters=int(s.ITERS_PER_EPOCH) or None,
            seed=self.ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
        self.model.train()
        return EpochPlan(loader)

    def train_step(self, batch: dict) -> dict:
        with autocast(self.ctx.device, self.cfg.SOLVER.PRECISION):
            f, logits = self.model(batch["img"])
        f, logits = f.float(), logits.float()
        targets = batch["pid"]
        l_ce, l_tri = self.ce(logits, targets), self.triplet(f, targets)
        loss = l_ce + l_tri
        terms = {"ce": float(l_ce.detach()), "triplet": float(l_tri.detach())}
        check_finite_terms(terms)
        backward_and_step(loss, self.optimizer, self.scaler)
        return terms
