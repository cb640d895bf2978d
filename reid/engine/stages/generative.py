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

Policy for degenerate pseudo-labels (no cluster, or a single one): the contrastive losses are
skipped for that epoch (the GAN losses still train), and a warning says so.
"""
from __future__ import annotations

import dataclasses
from abc import abstractmethod

import torch

from reid.data import ImageDataset, build_train_transform
from common import distributed as dist_utils
from reid.engine.stages.base import RunningMeans, Stage, TrainingDivergedError, maybe_distributed
from reid.engine.validation import check_epoch_iterations
from reid.engine.view_data import build_view_loader
from reid.engine.visualize import save_view_grid
from reid.memory import InstanceMemory
from reid.views.structure_maps import structure_cache_for
from reid.models.gcl import GCLStepConfig, GCLTrainStep, NonFiniteLossError


class _GenerativeStage(Stage):
    train_encoder = False

    def _gan_optimizers(self):
        s = self.cfg.SOLVER
        gen = self.ctx.generative
        betas = tuple(s.GAN_BETAS)
        self.gen_optimizer = torch.optim.Adam(gen.generator_parameters(), lr=s.GAN_LR, betas=betas)
        self.dis_optimizer = torch.optim.Adam(gen.discriminator_parameters(), lr=s.GAN_LR,
                                              betas=betas)

    def _loader(self, epoch: int):
        cfg = self.cfg
        iters = int(self._iters_per_epoch())
        loader = build_view_loader(
            self.ctx.train_items, structure_cache_for(cfg, self.ctx.dataset), batch_size=int(cfg.SOLVER.BATCH_SIZE),
            size=tuple(cfg.INPUT.SIZE), num_workers=cfg.DATALOADER.NUM_WORKERS,
            seed=self.ctx.epoch_seed(self.name, epoch) + dist_utils.rank(),
            flip_prob=cfg.INPUT.FLIP_PROB, padding=cfg.INPUT.PADDING,
            skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
        total = min(iters, len(loader)) if iters else len(loader)
        return loader, check_epoch_iterations(loader, total, self.name, epoch,
                                              "SOLVER.BATCH_SIZE")

    @abstractmethod
    def _iters_per_epoch(self) -> int:
        """Iterations per epoch from the stage's SOLVER section (0 = one pass over the data)."""

    def _run(self, step: GCLTrainStep, epoch: int, with_labels: bool) -> dict:
        ctx = self.ctx
        loader, total = self._loader(epoch)
        means = RunningMeans()
        last = None
        for i, data in enumerate(self.progress(loader, total, epoch)):
            if i >= total:
                break
            x = data["img"].to(ctx.device, non_blocking=True)
            s_ori = data["s_ori"].to(ctx.device, non_blocking=True)
            s_new = data["s_new"].to(ctx.device, non_blocking=True)
            indices = data["index"].to(ctx.device) if with_labels else None
            try:
                terms = step(x, s_ori, s_new, indices=indices)
            except NonFiniteLossError as exc:
                raise TrainingDivergedError(
                    f"{self.name}: non-finite loss at epoch {epoch + 1}, step {i}: {exc.terms}. "
                    f"{ctx.checkpoint_note()}") from exc
            means.add(terms)
            ctx.global_step += 1
            if ctx.global_step % self.cfg.SOLVER.LOG_PERIOD == 0:
                ctx.log_scalars(self.name, terms)
            last = data
        if last is not None and dist_utils.is_main_process():
            save_view_grid(ctx, last, self.name, epoch)
        return means.means()


class GanWarmupStage(_GenerativeStage):
    name = "gan_warmup"

    @property
    def num_epochs(self) -> int:
        return int(self.cfg.SOLVER.GAN_WARMUP.EPOCHS)

    def _iters_per_epoch(self) -> int:
        return int(self.cfg.SOLVER.GAN_WARMUP.ITERS_PER_EPOCH)

    def setup(self) -> None:
        self._gan_optimizers()
        self.step = GCLTrainStep(self.ctx.encoder, self.ctx.generative,
                                 gen_optimizer=maybe_distributed(self.gen_optimizer),
                                 dis_optimizer=maybe_distributed(self.dis_optimizer),
                                 config=GCLStepConfig.from_cfg(self.cfg), train_encoder=False)

    def optimizers(self) -> dict:
        return {"generator": self.gen_optimizer, "discriminator": self.dis_optimizer}

    def train_epoch(self, epoch: int) -> dict:
        return self._run(self.step, epoch, with_labels=False)


class JointStage(_GenerativeStage):
    name = "joint"

    @property
    def num_epochs(self) -> int:
        return int(self.cfg.SOLVER.JOINT.EPOCHS)

    def _iters_per_epoch(self) -> int:
        return int(self.cfg.SOLVER.JOINT.ITERS_PER_EPOCH)

    @property
    def use_gan(self) -> bool:
        return bool(self.cfg.GCL.USE_GAN)

    def setup(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        s = cfg.SOLVER
        self.id_optimizer = torch.optim.SGD(ctx.encoder.parameters(), lr=s.ID_LR,
                                            momentum=s.ID_MOMENTUM, nesterov=True,
                                            weight_decay=s.ID_WEIGHT_DECAY)
        decay = lambda opt: torch.optim.lr_scheduler.MultiStepLR(  # noqa: E731
            opt, [int(s.LR_DECAY_EPOCH)], float(s.LR_DECAY_FACTOR))
        self._schedulers = {"encoder": decay(self.id_optimizer)}
        if self.use_gan:
            self._gan_optimizers()
            if s.DECAY_GAN_LR:
                self._schedulers["generator"] = decay(self.gen_optimizer)
                self._schedulers["discriminator"] = decay(self.dis_optimizer)
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
        from reid.models.gcl.video_view import VideoViewGenerator

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

    def train_epoch(self, epoch: int) -> dict:
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
        if not self.use_gan:
            if not terms:
                return dict(stats, skipped=1)
            return dict(stats, **self._run_without_gan(epoch))
        return dict(stats, **self._run(self.step, epoch, with_labels=True),
                    lr=self.id_optimizer.param_groups[0]["lr"])

    def _run_without_gan(self, epoch: int) -> dict:
        """L_vi without GAN: classic augmentation, E_id and the memory loss only."""
        cfg, ctx = self.cfg, self.ctx
        transform = build_train_transform(tuple(cfg.INPUT.SIZE), cfg.INPUT.FLIP_PROB,
                                          cfg.INPUT.PADDING, cfg.INPUT.RE_PROB,
                                          cfg.INPUT.COLOR_JITTER)
        dataset = ImageDataset(ctx.train_items, transform,
                               skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE)
        generator = torch.Generator().manual_seed(ctx.epoch_seed(self.name, epoch) + dist_utils.rank())
        loader = torch.utils.data.DataLoader(dataset, batch_size=int(cfg.SOLVER.BATCH_SIZE),
                                             shuffle=True, drop_last=True, generator=generator,
                                             num_workers=cfg.DATALOADER.NUM_WORKERS)
        iters = int(self._iters_per_epoch())
        total = min(iters, len(loader)) if iters else len(loader)
        check_epoch_iterations(loader, total, f"{self.name} (without GAN)", epoch,
                               "SOLVER.BATCH_SIZE")
        means = RunningMeans()
        for i, data in enumerate(self.progress(loader, total, epoch)):
            if i >= total:
                break
            x = data["img"].to(ctx.device, non_blocking=True)
            try:
                terms = self.step(x, indices=data["index"].to(ctx.device))
            except NonFiniteLossError as exc:
                raise TrainingDivergedError(f"joint (without GAN): non-finite loss at epoch "
                                            f"{epoch + 1}, step {i}: {exc.terms}") from exc
            means.add(terms)
            ctx.global_step += 1
        return means.means()
