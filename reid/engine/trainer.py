"""The staged GCL trainer: ``[source ->] baseline -> gan_warmup -> joint``, resumable.

>>> from reid.config import load_config
>>> summary = GCLTrainer(load_config("configs/synthetic.yaml")).run()

Every epoch ends with an atomic checkpoint (models, optimisers, schedulers, memory,
pseudo-labels, RNG states, config, history); ``resume=True`` continues from
``OUTPUT_DIR/checkpoints/last.pth`` exactly. Evaluation is reported (every ``TEST.EVAL_PERIOD``
epochs, after the warm-up and at the end) and never used to choose a checkpoint.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np
import torch

from reid.config import save_config
from reid.data import build_dataset
from reid.data.generated_views import append_extra_train_dirs
from reid.engine import distributed as dist_utils
from reid.engine.checkpoint import CheckpointManager
from reid.engine.context import TrainingContext
from reid.engine.stages import GENERATIVE_STAGES, STAGE_ORDER, STAGE_TYPES
from reid.engine.summary import format_summary_table
from reid.utils import atomic_write_json, resolve_device, set_seed, setup_logger
from reid.utils.seed import get_rng_state, set_rng_state


def _check_stages(stages) -> list[str]:
    stages = [str(s) for s in stages]
    unknown = [s for s in stages if s not in STAGE_TYPES]
    if unknown or not stages:
        raise ValueError(f"GCL.STAGES: unknown or empty stage list {stages}; "
                         f"choose an ordered subset of {list(STAGE_ORDER)}")
    order = [STAGE_ORDER.index(s) for s in stages]
    if order != sorted(order) or len(set(order)) != len(order):
        raise ValueError(f"GCL.STAGES {stages} must follow the order {list(STAGE_ORDER)} "
                         "without repeats")
    return stages


class GCLTrainer:
    def __init__(self, cfg, resume: bool = False):
        self.cfg = cfg
        self.resume = resume
        self.stages = _check_stages(cfg.GCL.STAGES)
        device = resolve_device(cfg.MODEL.DEVICE)
        dist_utils.init_distributed(device)
        if device.type == "cuda" and dist_utils.is_distributed():
            device = torch.device("cuda", dist_utils.local_rank())
        set_seed(int(cfg.SEED), cfg.DETERMINISTIC)
        output_dir = cfg.OUTPUT_DIR
        logger = setup_logger("reid", output_dir if dist_utils.is_main_process() else None)
        if dist_utils.is_main_process():
            os.makedirs(output_dir, exist_ok=True)
            save_config(cfg, os.path.join(output_dir, "config.yaml"))
        self.ctx = self._build_context(cfg, device, logger, output_dir)
        self.checkpoints = CheckpointManager(output_dir)
        self.metrics: dict = {}

    # ------------------------------------------------------------------ building
    def _build_context(self, cfg, device, logger, output_dir) -> TrainingContext:
        from reid.cluster import PseudoLabeler
        from reid.models import build_identity_encoder, load_identity_encoder

        if cfg.DATASETS.NAME == "synthetic" and dist_utils.is_main_process():
            from mesh.synthetic import ensure_synthetic_dataset

            ensure_synthetic_dataset(cfg)
        dist_utils.barrier()
        dataset = build_dataset(cfg.DATASETS.NAME, cfg.DATASETS.ROOT)
        dataset = append_extra_train_dirs(dataset, list(cfg.DATASETS.EXTRA_TRAIN_DIRS))
        logger.info("\n%s", dataset.summary())
        train_items = list(dataset.train)
        monitor_ids = np.asarray([item[1] for item in train_items], dtype=np.int64)

        if cfg.MODEL.WEIGHTS:
            # A warm-up checkpoint (ours, fast-reid, torchreid, cluster-contrast, ...): missing
            # and unexpected keys are reported by name.
            encoder, report = load_identity_encoder(cfg.MODEL.WEIGHTS, cfg=cfg, device="cpu")
            logger.info("identity encoder initialised from %s:\n%s", cfg.MODEL.WEIGHTS,
                        report.summary())
        else:
            encoder = build_identity_encoder(cfg)
        memory_format = torch.channels_last if cfg.SOLVER.CHANNELS_LAST else torch.contiguous_format
        encoder = encoder.to(device, memory_format=memory_format)

        if cfg.CLUSTER.FOREGROUND_MASK:
            from reid.engine.stages.generative import structure_cache_for
            from reid.engine.view_data import check_structure_maps

            # The silhouettes come from the angle-0 maps (CLUSTER.FOREGROUND_MASK).
            check_structure_maps(structure_cache_for(cfg, dataset), train_items, angles=(0,))
        generative = None
        if any(s in GENERATIVE_STAGES for s in self.stages) and cfg.GCL.USE_GAN:
            from reid.engine.stages.generative import structure_cache_for
            from reid.engine.view_data import check_structure_maps
            from reid.models.gcl import build_generative_module

            check_structure_maps(structure_cache_for(cfg, dataset), train_items)
            m = cfg.MODEL
            generative = build_generative_module(cfg, code_dim=encoder.feature_dim)
            if m.GENERATIVE_WEIGHTS:
                from reid.utils import load_state_dict_with_report

                report = load_state_dict_with_report(generative, m.GENERATIVE_WEIGHTS, strict=True)
                logger.info("generative module initialised from %s (%d tensors)",
                            m.GENERATIVE_WEIGHTS, len(report.loaded))
            generative = generative.to(device, memory_format=memory_format)
        writer = None
        if dist_utils.is_main_process():
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(os.path.join(output_dir, "tensorboard"))
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                logger.warning("tensorboard is not installed; scalars are only logged to log.txt")
        return TrainingContext(cfg=cfg, device=device, logger=logger, output_dir=output_dir,
                               dataset=dataset, train_items=train_items, monitor_ids=monitor_ids,
                               encoder=encoder, generative=generative,
                               pseudo_labeler=PseudoLabeler.from_cfg(cfg), writer=writer)

    # ------------------------------------------------------------------ checkpoints
    def _state(self, stage_index: int, epoch: int, stage) -> dict:
        ctx = self.ctx
        models = {"E_id": ctx.encoder.state_dict()}
        if ctx.generative is not None:
            models["generative"] = ctx.generative.state_dict()
        return {
            "stage_index": stage_index, "stage": self.stages[stage_index], "epoch": epoch,
            "models": models, "stage_state": stage.state_dict(),
            "memory": None if ctx.memory is None else ctx.memory.state_dict(),
            "pseudo_labels": ctx.pseudo_labels, "pseudo_labeler": ctx.pseudo_labeler.state_dict(),
            "rng": get_rng_state(), "config": self.cfg.dump(), "history": ctx.history,
            "metrics": self.metrics, "global_step": ctx.global_step,
            "encoder_config": ctx.encoder.config(),
        }

    def _restore(self, state: dict) -> tuple[int, int, Optional[dict]]:
        ctx = self.ctx
        ctx.encoder.load_state_dict(state["models"]["E_id"])
        if ctx.generative is not None and "generative" in state["models"]:
            ctx.generative.load_state_dict(state["models"]["generative"])
        if state.get("memory") is not None:
            from reid.memory import InstanceMemory

            memory = state["memory"]
            ctx.memory = InstanceMemory(memory["features"].shape[0], memory["features"].shape[1],
                                        self.cfg.GCL.MEMORY_MOMENTUM,
                                        outlier_negatives=self.cfg.GCL.OUTLIER_NEGATIVES
                                        ).to(ctx.device)
            ctx.memory.load_state_dict(memory)
        ctx.pseudo_labels = state.get("pseudo_labels")
        ctx.pseudo_labeler.load_state_dict(state["pseudo_labeler"])
        ctx.history = list(state.get("history", []))
        ctx.global_step = int(state.get("global_step", 0))
        self.metrics = dict(state.get("metrics", {}))
        set_rng_state(state["rng"])
        stage_index, epoch = int(state["stage_index"]), int(state["epoch"])
        if state["stage"] != self.stages[stage_index]:
            raise RuntimeError(f"checkpoint was written in stage '{state['stage']}' but GCL.STAGES "
                               f"is now {self.stages}: resume with the same config")
        # epoch is the index of the last finished epoch of that stage.
        return stage_index, epoch + 1, state["stage_state"]

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, tag: str) -> Optional[dict]:
        """Report mAP / CMC on the test split (never used to choose anything)."""
        if not dist_utils.is_main_process():
            return None
        from reid.evaluation.runner import run_evaluation

        results = run_evaluation(self.cfg, model=self.ctx.encoder,
                                 output_dir=self.ctx.path("eval", tag))
        self.ctx.encoder.train()
        self.ctx.logger.info("evaluation [%s]: mAP %.2f  Rank-1 %.2f  Rank-5 %.2f  mINP %.2f", tag,
                             results["mAP"], results["rank1"], results["rank5"], results["mINP"])
        self.ctx.log_scalars("eval", {"mAP": results["mAP"], "rank1": results["rank1"]})
        return results

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict:
        ctx = self.ctx
        start_stage, start_epoch, stage_state = 0, 0, None
        if self.resume:
            state = self.checkpoints.load_last()
            if state is None:
                ctx.logger.info("--resume: no checkpoint in %s, starting from scratch",
                                self.checkpoints.folder)
            else:
                start_stage, start_epoch, stage_state = self._restore(state)
                ctx.logger.info("resumed from %s: stage %s, epoch %d", self.checkpoints.last_path,
                                self.stages[start_stage], start_epoch)
        started = time.time()
        for index, name in enumerate(self.stages):
            if index < start_stage:
                continue
            stage = STAGE_TYPES[name](ctx)
            fresh = not (index == start_stage and stage_state is not None)
            if name in GENERATIVE_STAGES and "baseline" not in self.metrics and fresh:
                self.metrics["baseline"] = self.evaluate("baseline")
                self._save_encoder_copy("baseline_encoder.pth")
            stage.setup()
            if fresh:
                stage.begin()
            else:
                stage.load_state_dict(stage_state)
            first_epoch = start_epoch if index == start_stage else 0
            stage_state = None
            if first_epoch < stage.num_epochs:
                self._run_stage(index, name, stage, first_epoch)
            if name == "gan_warmup" and dist_utils.is_main_process():
                from reid.utils import atomic_save

                atomic_save({"state_dict": ctx.generative.state_dict()},
                            ctx.path("generative_warmup.pth"))
        return self._finish(time.time() - started)

    def _run_stage(self, index: int, name: str, stage, first_epoch: int) -> None:
        ctx, cfg = self.ctx, self.cfg
        ctx.logger.info("stage %s: epochs %d..%d", name, first_epoch + 1, stage.num_epochs)
        for epoch in range(first_epoch, stage.num_epochs):
            set_seed(ctx.epoch_seed(name, epoch))
            t0 = time.time()
            stats = stage.train_epoch(epoch)
            stage.end_epoch(epoch, skipped=bool(stats.get("skipped")))
            stats = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in stats.items()}
            ctx.history.append({"stage": name, "epoch": epoch + 1,
                                "seconds": round(time.time() - t0, 1), **stats})
            ctx.logger.info("%s epoch %d/%d (%.0fs): %s", name, epoch + 1, stage.num_epochs,
                            time.time() - t0, _format_stats(stats))
            ctx.log_scalars(f"{name}/epoch", stats, step=epoch)
            self._check_replicas()
            period = int(cfg.TEST.EVAL_PERIOD)
            if period and (epoch + 1) % period == 0 and epoch + 1 < stage.num_epochs:
                self.metrics.setdefault("periodic", []).append(
                    {"stage": name, "epoch": epoch + 1, **(self.evaluate(f"{name}_{epoch + 1}") or {})})
            due = (epoch + 1) % max(1, int(cfg.SOLVER.CHECKPOINT_PERIOD)) == 0
            if (due or epoch + 1 == stage.num_epochs) and dist_utils.is_main_process():
                self.checkpoints.save(self._state(index, epoch, stage), name, epoch + 1)
            dist_utils.barrier()

    def _check_replicas(self) -> None:
        """In a distributed job, memory and pseudo-labels must be identical on every rank."""
        if not dist_utils.is_distributed():
            return
        ctx = self.ctx
        if ctx.memory is not None:
            dist_utils.assert_same_across_ranks(ctx.memory.features, "instance memory")
        if ctx.pseudo_labels is not None:
            dist_utils.assert_same_across_ranks(
                torch.as_tensor(ctx.pseudo_labels, device=ctx.device), "pseudo-labels")

    def _save_encoder_copy(self, filename: str) -> None:
        """E_id as a self-describing encoder file (architecture, INPUT.SIZE, normalisation)."""
        if dist_utils.is_main_process():
            from reid.models.checkpoint import input_description_from_cfg, save_identity_encoder

            save_identity_encoder(self.ctx.encoder, self.ctx.path(filename),
                                  **input_description_from_cfg(self.cfg))

    def _finish(self, seconds: float) -> dict:
        ctx, cfg = self.ctx, self.cfg
        final_tag = "gcl" if "joint" in self.stages else self.stages[-1]
        self.metrics["final"] = self.evaluate(final_tag)
        self._save_encoder_copy("final_encoder.pth")
        summary = {"stages": self.stages, "train_seconds": round(seconds, 1),
                   "final_tag": final_tag, "history": ctx.history}
        for key in ("baseline", "final"):
            if self.metrics.get(key):
                summary[key] = {k: self.metrics[key][k]
                                for k in ("mAP", "rank1", "rank5", "rank10", "mINP")}
        if dist_utils.is_main_process():
            if cfg.EXPORT.ENABLED:
                from reid.export import export_encoder

                summary["export"] = export_encoder(ctx.encoder, ctx.path("export"),
                                                   formats=tuple(cfg.EXPORT.FORMATS),
                                                   input_size=tuple(cfg.INPUT.SIZE))
            table = format_summary_table(summary)
            ctx.logger.info("\n%s", table)
            summary["table"] = table
            atomic_write_json(ctx.path("summary.json"), _jsonable(summary))
        if ctx.writer is not None:
            ctx.writer.close()
        return summary


def _format_stats(stats: dict) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in stats.items())


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj
