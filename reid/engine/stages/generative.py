"""Stages ``gan_warmup`` and ``joint`` of GCL (thesis chapter 6.3.3).

``gan_warmup``: E_id frozen; E_str, G and D trained with L_gan only.
``joint``: the instance memory is filled with E_id features; every epoch the pseudo-labels are
rebuilt from the memory (Jaccard distance on the kNN graph, then DBSCAN; with
``CLUSTER.FOREGROUND_MASK`` from E_id features of the silhouette-masked images instead) and
E_id, E_str, G, D are trained with L_gan + the selected view-invariant losses. With ``GCL.USE_GAN False`` the joint
stage is the "L_vi without GAN" ablation: E_id alone with classic augmentation and the memory loss.
With ``GCL.VIDEO_VIEW.WEIGHTS`` set, every joint step also draws a generated frame of each crop
from the frozen video generator of ``GCL.VIDEO_VIEW.CONFIG`` and adds ``GCL.VIDEO_VIEW.WEIGHT *
L_vid`` (with or without the GAN); its random stream restarts from the epoch seed every epoch.

Both read their own ``SOLVER.GAN_WARMUP`` / ``SOLVER.JOINT`` section; the batch step is
:class:`reid.engine.gcl_step.GCLTrainStep`. Choices between our behaviour and the authors'
code: ``INPUT.GENERATIVE_AUGMENT`` (flip / pad-crop in both stages' loaders or none),
``GCL.JOINT_OUTLIERS`` (DBSCAN outliers trained in the joint stage or dropped from its loader),
``SOLVER.<STAGE>.GAN_WEIGHT_DECAY`` and ``SOLVER.JOINT.GAN_OPTIMIZER_STATE`` (the joint stage's
Adam states fresh or continued from the warm-up, which writes them into its file).

Policy for degenerate pseudo-labels (no cluster, or a single one): the contrastive losses are
skipped for that epoch (the GAN losses still train), and a warning says so.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

from common import distributed as dist_utils
from reid.data import ImageDataset, build_train_transform
from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
from reid.engine.loop import EpochResult
from reid.engine.reconstruction_step import ReconstructionStep
from reid.engine.stages.base import EpochPlan, Stage, build_lr_scheduler, maybe_distributed
from reid.engine.visualize import record_view_fidelity, save_view_grid
from reid.memory import build_memory
from reid.views.mesh_data import build_view_loader
from reid.views.structure_maps import structure_cache_for


class _GenerativeStage(Stage):
    needs_generative = True
    evaluates_baseline_before = True

    @property
    def use_gan(self) -> bool:
        return True

    def _gan_optimizers(self) -> None:
        """Adam of E_str + G and of D (``GAN_LR``, ``GAN_BETAS``, ``GAN_WEIGHT_DECAY``); with
        ``DECAY_GAN_LR`` both follow the section's learning-rate decay."""
        s, gen = self.solver, self.ctx.generative
        options = dict(lr=s.GAN_LR, betas=tuple(s.GAN_BETAS), weight_decay=s.GAN_WEIGHT_DECAY)
        self.gen_optimizer = torch.optim.Adam(gen.generator_parameters(), **options)
        self.dis_optimizer = torch.optim.Adam(gen.discriminator_parameters(), **options)
        if s.DECAY_GAN_LR:
            self._schedulers["generator"] = build_lr_scheduler(self.gen_optimizer, s,
                                                               self.num_epochs)
            self._schedulers["discriminator"] = build_lr_scheduler(self.dis_optimizer, s,
                                                                   self.num_epochs)

    def _iterations(self, loader) -> int:
        iters = int(self.solver.ITERS_PER_EPOCH)
        return min(iters, len(loader)) if iters else len(loader)

    def _view_loader(self, epoch: int, indices=None, batches: int = 0):
        """Images with their structure maps and a rotated map (:mod:`reid.views.mesh_data`),
        flipped and pad-cropped with ``INPUT.GENERATIVE_AUGMENT``; ``indices``: the training
        items drawn from (default: all); ``batches`` > 0: that many batches, drawn as
        successive random permutations of the items (an epoch longer than one pass)."""
        cfg = self.cfg
        augment = bool(cfg.INPUT.GENERATIVE_AUGMENT)
        seed = self.ctx.epoch_seed(self.name, epoch) + dist_utils.rank()
        batch_size = int(self.solver.BATCH_SIZE)
        sampler = None
        if batches:
            count = len(self.ctx.train_items) if indices is None else len(indices)
            sampler = torch.utils.data.RandomSampler(
                range(count), num_samples=batches * batch_size,
                generator=torch.Generator().manual_seed(seed))
        return build_view_loader(
            self.ctx.train_items, structure_cache_for(cfg, self.ctx.dataset),
            batch_size=batch_size, size=tuple(cfg.INPUT.SIZE),
            num_workers=cfg.DATALOADER.NUM_WORKERS, seed=seed,
            flip_prob=cfg.INPUT.FLIP_PROB if augment else 0.0,
            padding=cfg.INPUT.PADDING if augment else 0,
            skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE, indices=indices, sampler=sampler,
            start_method=cfg.DATALOADER.START_METHOD or None)

    def after_batches(self, epoch: int, result: EpochResult) -> None:
        if self.use_gan and result.last_batch is not None and dist_utils.is_main_process():
            save_view_grid(self.ctx, result.last_batch, self.name, epoch)
            record_view_fidelity(self.ctx, self.name, epoch)  # needs ground-truth views


class GanWarmupStage(_GenerativeStage):
    """E_id frozen; E_str, G and D with L_gan. With ``SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS``
    R > 0, the first R of the stage's epochs are a reconstruction-first phase
    (:class:`reid.engine.reconstruction_step.ReconstructionStep`: E_str + G alone, L1 of x'_ori,
    their own Adam at ``RECONSTRUCTION_LR``, ``RECONSTRUCTION_ITERS_PER_EPOCH`` iterations each,
    which may exceed one pass; 0 = ``ITERS_PER_EPOCH``); the adversarial epochs that follow start their Adam
    states fresh at ``GAN_LR``."""

    name = "gan_warmup"
    section = "GAN_WARMUP"
    saves_after = "generative_warmup.pth"
    rec_optimizer = None       # built by setup() when the stage has reconstruction epochs
    _reconstructing = False    # set per epoch by plan_epoch()

    @property
    def reconstruction_epochs(self) -> int:
        return int(self.solver.RECONSTRUCTION_EPOCHS)

    def setup(self) -> None:
        self._gan_optimizers()
        self.step = GCLTrainStep(self.ctx.encoder, self.ctx.generative,
                                 gen_optimizer=maybe_distributed(self.gen_optimizer),
                                 dis_optimizer=maybe_distributed(self.dis_optimizer),
                                 config=GCLStepConfig.from_cfg(self.cfg), train_encoder=False,
                                 scaler=self.grad_scaler("generator"),
                                 dis_scaler=self.grad_scaler("discriminator"))
        if self.reconstruction_epochs:
            s = self.solver
            self.rec_optimizer = torch.optim.Adam(self.ctx.generative.generator_parameters(),
                                                  lr=float(s.RECONSTRUCTION_LR),
                                                  betas=tuple(s.GAN_BETAS))
            self.rec_step = ReconstructionStep(
                self.ctx.encoder, self.ctx.generative, maybe_distributed(self.rec_optimizer),
                precision=self.cfg.SOLVER.PRECISION, img_loss_norm=self.cfg.GCL.IMG_LOSS_NORM,
                scaler=self.grad_scaler("reconstruction"))

    def optimizers(self) -> dict:
        opts = {"generator": self.gen_optimizer, "discriminator": self.dis_optimizer}
        if self.rec_optimizer is not None:
            opts["reconstruction"] = self.rec_optimizer
        return opts

    def learning_rate(self):
        opt = self.rec_optimizer if self._reconstructing else self.gen_optimizer
        return float(opt.param_groups[0]["lr"])

    def finish(self) -> dict:
        """The Adam states of E_str + G and D, kept for a joint stage that continues them
        (``SOLVER.JOINT.GAN_OPTIMIZER_STATE warmup``) and written into the warm-up file."""
        states = {name: self.optimizers()[name].state_dict() for name in ("generator", "discriminator")}
        self.ctx.warmup_optimizers = states
        return {"optimizers": states}

    def plan_epoch(self, epoch: int) -> EpochPlan:
        self._reconstructing = epoch < self.reconstruction_epochs
        if not self._reconstructing:
            loader = self._view_loader(epoch)
            return EpochPlan(loader, self._iterations(loader))
        iters = int(self.solver.RECONSTRUCTION_ITERS_PER_EPOCH)
        if iters:  # may be longer than one pass over the training set
            return EpochPlan(self._view_loader(epoch, batches=iters), iters,
                             label=f"{self.name} (reconstruction)")
        loader = self._view_loader(epoch)
        return EpochPlan(loader, self._iterations(loader), label=f"{self.name} (reconstruction)")

    def train_step(self, batch: dict) -> dict:
        if self._reconstructing:
            return self.rec_step(batch["img"], batch["s_ori"])
        return self.step(batch["img"], batch["s_ori"], batch["s_new"])


class JointStage(_GenerativeStage):
    name = "joint"
    section = "JOINT"
    final_tag = "gcl"

    @property
    def use_gan(self) -> bool:
        return bool(self.cfg.GCL.USE_GAN)

    def setup(self) -> None:
        cfg, ctx, s = self.cfg, self.ctx, self.solver
        if s.ENCODER_OPTIMIZER == "adam":
            self.id_optimizer = torch.optim.Adam(ctx.encoder.parameters(), lr=s.LR,
                                                 weight_decay=s.WEIGHT_DECAY)
        else:
            self.id_optimizer = torch.optim.SGD(ctx.encoder.parameters(), lr=s.LR,
                                                momentum=s.SGD_MOMENTUM, nesterov=True,
                                                weight_decay=s.WEIGHT_DECAY)
        self._schedulers = {"encoder": build_lr_scheduler(self.id_optimizer, s, self.num_epochs)}
        if self.use_gan:
            self._gan_optimizers()
        if ctx.memory is None:
            ctx.memory = build_memory(cfg, len(ctx.train_items), cfg.MODEL.EMBED_DIM).to(ctx.device)
        self.step_config = GCLStepConfig.from_cfg(cfg)
        self.video_view = self._video_view()
        self.step = GCLTrainStep(
            ctx.encoder, ctx.generative if self.use_gan else None,
            id_optimizer=maybe_distributed(self.id_optimizer),
            gen_optimizer=maybe_distributed(self.gen_optimizer) if self.use_gan else None,
            dis_optimizer=maybe_distributed(self.dis_optimizer) if self.use_gan else None,
            memory=ctx.memory, config=self.step_config, train_encoder=True, use_gan=self.use_gan,
            video_view=self.video_view, video_view_weight=float(cfg.GCL.VIDEO_VIEW.WEIGHT),
            # one scaler for the G / E_id backward pass (E_id's alone without the GAN), one for D
            scaler=self.grad_scaler("generator" if self.use_gan else "encoder"),
            dis_scaler=self.grad_scaler("discriminator") if self.use_gan else None)

    def _video_view(self):
        """The frozen video view source of GCL.VIDEO_VIEW, or None when WEIGHTS is empty."""
        v = self.cfg.GCL.VIDEO_VIEW
        if not v.WEIGHTS:
            return None
        from reid.views.video import VideoViewGenerator

        view = VideoViewGenerator.from_files(v.CONFIG, v.WEIGHTS, device=self.ctx.device,
                                             seed=int(self.cfg.SEED))
        self.ctx.logger.info("joint: video view from %s (%s), frames %dx%d, L_vid weight %g",
                             v.WEIGHTS, v.CONFIG, *view.frame_size, float(v.WEIGHT))
        return view

    def optimizers(self) -> dict:
        opts = {"encoder": self.id_optimizer}
        if self.use_gan:
            opts.update(generator=self.gen_optimizer, discriminator=self.dis_optimizer)
        return opts

    def begin(self) -> None:
        """Memory initialised from E_id features of every training image; with
        ``SOLVER.JOINT.GAN_OPTIMIZER_STATE warmup`` the Adam states of the warm-up."""
        self.ctx.memory.initialize(self.ctx.extract_train_features())
        self.ctx.logger.info("joint: memory initialised with %d E_id features",
                             self.ctx.memory.num_samples)
        if self.use_gan and self.solver.GAN_OPTIMIZER_STATE == "warmup":
            self._continue_warmup_optimizers()

    def _continue_warmup_optimizers(self) -> None:
        """Load the Adam states (moments, step counts) the gan_warmup stage ended with: this
        run's, else the ``optimizers`` of ``MODEL.GENERATIVE_WEIGHTS``; learning rates, betas
        and weight decays stay this section's. Without any, a warning says that they start
        fresh."""
        states, source = self.ctx.warmup_optimizers, "this run's gan_warmup stage"
        path = self.cfg.MODEL.GENERATIVE_WEIGHTS
        if states is None and path:
            from common.serialization import load_checkpoint_file

            saved = load_checkpoint_file(path, what="MODEL.GENERATIVE_WEIGHTS")
            states, source = saved.get("optimizers"), path
        if not states:
            self.ctx.logger.warning(
                "joint: SOLVER.JOINT.GAN_OPTIMIZER_STATE warmup, but %s holds no optimiser states "
                "of a gan_warmup stage: E_str + G and D start with fresh Adam states",
                path or "the run (no gan_warmup stage, no MODEL.GENERATIVE_WEIGHTS)")
            return
        for name, opt in (("generator", self.gen_optimizer), ("discriminator", self.dis_optimizer)):
            settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
            opt.load_state_dict(states[name])
            for group, wanted in zip(opt.param_groups, settings):
                group.update(wanted)
        self.ctx.logger.info("joint: E_str + G and D continue the Adam states of %s", source)

    def plan_epoch(self, epoch: int) -> EpochPlan:
        ctx = self.ctx
        # Pseudo-labels from the memory, or with CLUSTER.FOREGROUND_MASK from fresh E_id features
        # of the silhouette-masked images (the memory still holds whole-image features).
        features = (ctx.extract_train_features(foreground=True) if self.cfg.CLUSTER.FOREGROUND_MASK
                    else ctx.memory.features)
        result = ctx.compute_pseudo_labels(features, self.name, epoch)
        ctx.memory.set_labels(torch.as_tensor(result.labels))
        terms = tuple(self.cfg.GCL.VI_LOSSES)
        if result.num_clusters < 2:
            ctx.logger.warning("joint epoch %d: %d cluster(s) - view-invariant losses skipped this "
                               "epoch (documented policy)", epoch + 1, result.num_clusters)
            terms = ()
        self.step.config = dataclasses.replace(self.step_config, vi_terms=terms)
        if self.video_view is not None:
            self.video_view.reseed(ctx.epoch_seed(self.name, epoch) + dist_utils.rank())
        stats = {"clusters": result.num_clusters, "outliers": result.num_outliers}
        indices = self._trained_indices(result)
        if self.use_gan:
            loader = self._view_loader(epoch, indices)
            return EpochPlan(loader, self._iterations(loader), stats)
        if not terms:  # without the GAN nothing is left to train
            return EpochPlan(stats=stats)
        loader = self._plain_loader(epoch, indices)
        return EpochPlan(loader, self._iterations(loader), stats, label=f"{self.name} (without GAN)")

    def _trained_indices(self, result):
        """``GCL.JOINT_OUTLIERS drop``: the clustered images, the only ones the epoch trains
        on; None (every image) with "keep" or when fewer than two clusters leave L_gan alone."""
        if self.cfg.GCL.JOINT_OUTLIERS != "drop" or result.num_clusters < 2:
            return None
        indices = np.flatnonzero(np.asarray(result.labels) >= 0)
        self.ctx.logger.info("joint: training on the %d clustered images (%d outliers dropped, "
                             "GCL.JOINT_OUTLIERS drop)", indices.size, result.num_outliers)
        return indices

    def _plain_loader(self, epoch: int, indices=None):
        """L_vi without GAN: classic augmentation of the images alone (``indices``: the items
        drawn from, default all), plain shuffling."""
        cfg, ctx = self.cfg, self.ctx
        transform = build_train_transform(tuple(cfg.INPUT.SIZE), cfg.INPUT.FLIP_PROB,
                                          cfg.INPUT.PADDING, cfg.INPUT.RE_PROB,
                                          cfg.INPUT.COLOR_JITTER)
        dataset = ImageDataset(ctx.train_items, transform,
                               skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
        if indices is not None:
            dataset = torch.utils.data.Subset(dataset, [int(i) for i in indices])
        generator = torch.Generator().manual_seed(ctx.epoch_seed(self.name, epoch) + dist_utils.rank())
        return torch.utils.data.DataLoader(dataset, batch_size=int(self.solver.BATCH_SIZE),
                                           shuffle=True, drop_last=True, generator=generator,
                                           num_workers=cfg.DATALOADER.NUM_WORKERS)

    def train_step(self, batch: dict) -> dict:
        return self.step(batch["img"], batch.get("s_ori"), batch.get("s_new"),
                         indices=batch["index"])

    def epoch_extras(self) -> dict:
        return {"lr": self.id_optimizer.param_groups[0]["lr"]} if self.use_gan else {}
