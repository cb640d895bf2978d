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
:class:`reid.engine.gcl_step.GCLTrainStep`.

Policy for degenerate pseudo-labels (no cluster, or a single one): the contrastive losses are
skipped for that epoch (the GAN losses still train), and a warning says so.
"""
from __future__ import annotations

import dataclasses

import torch

from common import distributed as dist_utils
from reid.data import ImageDataset, build_train_transform
from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
from reid.engine.loop import EpochResult
from reid.engine.stages.base import EpochPlan, Stage, build_lr_scheduler, maybe_distributed
from reid.engine.visualize import save_view_grid
from reid.memory import InstanceMemory
from reid.views.mesh_data import build_view_loader
from reid.views.structure_maps import structure_cache_for


class _GenerativeStage(Stage):
    needs_generative = True
    evaluates_baseline_before = True

    @property
    def use_gan(self) -> bool:
        return True

    def _gan_optimizers(self) -> None:
        """Adam of E_str + G and of D (``GAN_LR``, ``GAN_BETAS``); with ``DECAY_GAN_LR`` both
        follow the section's learning-rate decay."""
        s, gen = self.solver, self.ctx.generative
        betas = tuple(s.GAN_BETAS)
        self.gen_optimizer = torch.optim.Adam(gen.generator_parameters(), lr=s.GAN_LR, betas=betas)
        self.dis_optimizer = torch.optim.Adam(gen.discriminator_parameters(), lr=s.GAN_LR,
                                              betas=betas)
        if s.DECAY_GAN_LR:
            self._schedulers["generator"] = build_lr_scheduler(self.gen_optimizer, s,
                                                               self.num_epochs)
            self._schedulers["discriminator"] = build_lr_scheduler(self.dis_optimizer, s,
                                                                   self.num_epochs)

    def _iterations(self, loader) -> int:
        iters = int(self.solver.ITERS_PER_EPOCH)
        return min(iters, len(loader)) if iters else len(loader)

    def _view_loader(self, epoch: int):
        """Images with their structure maps and a rotated map (:mod:`reid.views.mesh_data`)."""
        cfg = self.cfg
        return build_view_loader(
            self.ctx.train_items, structure_cache_for(cfg, self.ctx.dataset),
            batch_size=int(self.solver.BATCH_SIZE), size=tuple(cfg.INPUT.SIZE),
            num_workers=cfg.DATALOADER.NUM_WORKERS,
            seed=self.ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            flip_prob=cfg.INPUT.FLIP_PROB, padding=cfg.INPUT.PADDING,
            skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)

    def after_batches(self, epoch: int, result: EpochResult) -> None:
        if self.use_gan and result.last_batch is not None and dist_utils.is_main_process():
            save_view_grid(self.ctx, result.last_batch, self.name, epoch)


class GanWarmupStage(_GenerativeStage):
    name = "gan_warmup"
    section = "GAN_WARMUP"
    saves_after = "generative_warmup.pth"

    def setup(self) -> None:
        self._gan_optimizers()
        self.step = GCLTrainStep(self.ctx.encoder, self.ctx.generative,
                                 gen_optimizer=maybe_distributed(self.gen_optimizer),
                                 dis_optimizer=maybe_distributed(self.dis_optimizer),
                                 config=GCLStepConfig.from_cfg(self.cfg), train_encoder=False)

    def optimizers(self) -> dict:
        return {"generator": self.gen_optimizer, "discriminator": self.dis_optimizer}

    def plan_epoch(self, epoch: int) -> EpochPlan:
        loader = self._view_loader(epoch)
        return EpochPlan(loader, self._iterations(loader))

    def train_step(self, batch: dict) -> dict:
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
        self.id_optimizer = torch.optim.SGD(ctx.encoder.parameters(), lr=s.LR,
                                            momentum=s.SGD_MOMENTUM, nesterov=True,
                                            weight_decay=s.WEIGHT_DECAY)
        self._schedulers = {"encoder": build_lr_scheduler(self.id_optimizer, s, self.num_epochs)}
        if self.use_gan:
            self._gan_optimizers()
        if ctx.memory is None:
            ctx.memory = InstanceMemory(len(ctx.train_items), cfg.MODEL.EMBED_DIM,
                                        cfg.GCL.MEMORY_MOMENTUM,
                                        outlier_negatives=cfg.GCL.OUTLIER_NEGATIVES).to(ctx.device)
        self.step_config = GCLStepConfig.from_cfg(cfg)
        self.video_view = self._video_view()
        self.step = GCLTrainStep(
            ctx.encoder, ctx.generative if self.use_gan else None,
            id_optimizer=maybe_distributed(self.id_optimizer),
            gen_optimizer=maybe_distributed(self.gen_optimizer) if self.use_gan else None,
            dis_optimizer=maybe_distributed(self.dis_optimizer) if self.use_gan else None,
            memory=ctx.memory, config=self.step_config, train_encoder=True, use_gan=self.use_gan,
            video_view=self.video_view, video_view_weight=float(cfg.GCL.VIDEO_VIEW.WEIGHT))

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
        """Memory initialised from E_id features of every training image."""
        self.ctx.memory.initialize(self.ctx.extract_train_features())
        self.ctx.logger.info("joint: memory initialised with %d E_id features",
                             self.ctx.memory.num_samples)

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
        if self.use_gan:
            loader = self._view_loader(epoch)
            return EpochPlan(loader, self._iterations(loader), stats)
        if not terms:  # without the GAN nothing is left to train
            return EpochPlan(stats=stats)
        loader = self._plain_loader(epoch)
        return EpochPlan(loader, self._iterations(loader), stats, label=f"{self.name} (without GAN)")

    def _plain_loader(self, epoch: int):
        """L_vi without GAN: classic augmentation of the images alone, plain shuffling."""
        cfg, ctx = self.cfg, self.ctx
        transform = build_train_transform(tuple(cfg.INPUT.SIZE), cfg.INPUT.FLIP_PROB,
                                          cfg.INPUT.PADDING, cfg.INPUT.RE_PROB,
                                          cfg.INPUT.COLOR_JITTER)
        dataset = ImageDataset(ctx.train_items, transform,
                               skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
        generator = torch.Generator().manual_seed(ctx.epoch_seed(self.name, epoch) + dist_utils.rank())
        return torch.utils.data.DataLoader(dataset, batch_size=int(self.solver.BATCH_SIZE),
                                           shuffle=True, drop_last=True, generator=generator,
                                           num_workers=cfg.DATALOADER.NUM_WORKERS)

    def train_step(self, batch: dict) -> dict:
        return self.step(batch["img"], batch.get("s_ori"), batch.get("s_new"),
                         indices=batch["index"])

    def epoch_extras(self) -> dict:
        return {"lr": self.id_optimizer.param_groups[0]["lr"]} if self.use_gan else {}
