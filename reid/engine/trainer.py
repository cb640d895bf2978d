"""The staged GCL trainer: ``[source ->] baseline -> gan_warmup -> joint``, resumable.

>>> from reid.config import load_config
>>> summary = GCLTrainer(load_config("configs/synthetic.yaml")).run()

Every epoch ends with an atomic checkpoint (models, optimisers, schedulers, memory,
pseudo-labels, RNG states, config, history); ``resume=True`` continues from the newest one in
``OUTPUT_DIR/checkpoints`` exactly. One run at a time per ``OUTPUT_DIR`` (``run.lock``); a fresh
run into a folder with checkpoints needs ``overwrite=True``. Evaluation is reported (every
``TEST.EVAL_PERIOD`` epochs, after the warm-up and at the end) and never used to choose a
checkpoint.

The trainer never names a stage: each stage class declares what is done around it
(:class:`reid.engine.stages.base.Stage`), and every stage's batches go through one loop
(:func:`reid.engine.loop.run_epoch`).
"""
from __future__ import annotations

import os
import time
import weakref
from typing import Optional

import numpy as np
import torch

from reid.config import save_config
from reid.data.build import build_dataset_from_cfg
from common import distributed as dist_utils
from reid.engine.checkpoint import CheckpointManager, ExistingCheckpointsError
from reid.engine.context import TrainingContext
from reid.engine.resume_config import (apply_schedule_settings, check_resume_config,
                                       schedule_settings)
from reid.engine.run_lock import OutputFolderLockedError, RunLock, sigterm_as_interrupt
from reid.engine.stages import STAGE_ORDER, STAGE_TYPES
from reid.engine.summary import format_summary_table
from reid.engine.validation import check_train_set, validate_training_config
from common import atomic_write_json, resolve_device, set_seed, setup_logger
from common.precision import check_precision
from common.seed import get_rng_state, set_rng_state


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
    def __init__(self, cfg, resume: bool = False, overwrite: bool = False):
        """``resume``: continue from the newest checkpoint of ``OUTPUT_DIR/checkpoints``.
        ``overwrite``: start afresh in a folder that holds checkpoints, deleting those (and
        nothing else); without it such a folder is refused. ``OUTPUT_DIR`` stays locked until
        :meth:`run` ends (or :meth:`close`)."""
        if resume and overwrite:
            raise ValueError("GCLTrainer: resume and overwrite exclude each other")
        self.cfg = cfg
        self.resume = resume
        self.stages = _check_stages(cfg.GCL.STAGES)
        validate_training_config(cfg, self.stages)  # key and rule named, before any work
        self.checkpoints = CheckpointManager.from_cfg(cfg)
        device = resolve_device(cfg.MODEL.DEVICE)
        check_precision(cfg.SOLVER.PRECISION, device)  # fp16 off CUDA: refused before any work
        dist_utils.init_distributed(device)
        if device.type == "cuda" and dist_utils.is_distributed():
            device = torch.device("cuda", dist_utils.local_rank())
        set_seed(int(cfg.SEED), cfg.DETERMINISTIC)
        output_dir = cfg.OUTPUT_DIR
        self._lock: Optional[RunLock] = None
        setup_logger("reid")  # console first: the lock may log a takeover
        self._claim_output_dir(overwrite)
        try:
            logger = setup_logger("reid", output_dir if dist_utils.is_main_process() else None)
            if dist_utils.is_main_process():
                self.checkpoints.remove_stale_temporaries()
            self._resume_from = self._find_resume_point(logger) if resume else None
            self.ctx = self._build_context(cfg, device, logger, output_dir)
            if dist_utils.is_main_process():  # only once nothing refused the run
                if overwrite:
                    self._remove_previous_checkpoints(logger)
                save_config(cfg, os.path.join(output_dir, "config.yaml"))
        except BaseException:
            self.close()
            raise
        self.metrics: dict = {}

    # ------------------------------------------------------------------ the output folder
    def _claim_output_dir(self, overwrite: bool) -> None:
        """Lock OUTPUT_DIR (rank 0) and refuse a fresh run into a folder with checkpoints
        unless ``overwrite``; every rank raises what rank 0 found."""
        problem = None
        if dist_utils.is_main_process():
            try:
                self._lock = RunLock(self.cfg.OUTPUT_DIR).acquire()
                weakref.finalize(self, self._lock.release)
                if not (self.resume or overwrite) and self.checkpoints.has_checkpoints():
                    raise ExistingCheckpointsError(self._existing_checkpoints_message())
            except (OutputFolderLockedError, ExistingCheckpointsError) as exc:
                self.close()
                problem = exc
        message = dist_utils.broadcast_object(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if message is not None:
            raise RuntimeError(f"rank 0 refused OUTPUT_DIR: {message}")

    def _existing_checkpoints_message(self) -> str:
        folder = self.checkpoints.folder
        names = sorted(os.listdir(folder))
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        return (f"OUTPUT_DIR {self.cfg.OUTPUT_DIR} already holds the checkpoints of a run "
                f"({folder}: {shown}); continue it with --resume, start afresh with "
                "--overwrite (deletes only those checkpoints), or choose another OUTPUT_DIR")

    def _remove_previous_checkpoints(self, logger) -> None:
        """``overwrite``: delete the previous run's checkpoints, once every check that can
        refuse the run has passed (a refused run loses nothing)."""
        removed = self.checkpoints.clear()
        if removed:
            logger.warning("overwrite: removed %d checkpoint file(s) of the previous run from %s",
                           len(removed), self.checkpoints.folder)

    def close(self) -> None:
        """Release OUTPUT_DIR's lock (:meth:`run` does this when it ends)."""
        if self._lock is not None:
            self._lock.release()

    # ------------------------------------------------------------------ building
    def _build_context(self, cfg, device, logger, output_dir) -> TrainingContext:
        from reid.cluster import PseudoLabeler
        from reid.models import build_identity_encoder, check_complete_load, load_identity_encoder
        from common.precision import resolve_precision

        logger.info("device %s, SOLVER.PRECISION %s -> %s", device, cfg.SOLVER.PRECISION,
                    resolve_precision(cfg.SOLVER.PRECISION, device))
        if cfg.DATASETS.NAME == "synthetic" and dist_utils.is_main_process():
            from reid.views.synthetic_dataset import ensure_synthetic_dataset

            ensure_synthetic_dataset(cfg)
        dist_utils.barrier()
        # DATASETS.NAME / ROOT with the dataset's own options (DATASETS.MSMT_MERGE_VAL) and the
        # folders of DATASETS.EXTRA_TRAIN_DIRS, as tools/test.py reads it.
        dataset = build_dataset_from_cfg(cfg)
        logger.info("\n%s", dataset.summary())
        train_items = list(dataset.train)
        # Ground-truth ids only monitor the pseudo-labels; an unlabelled set has none.
        monitor_ids = (np.asarray([item[1] for item in train_items], dtype=np.int64)
                       if dataset.train_labelled else None)
        check_train_set(cfg, self.stages, len(train_items))

        if cfg.MODEL.WEIGHTS:
            # A warm-up checkpoint (ours, fast-reid, torchreid, cluster-contrast, ...): missing
            # and shape-mismatched keys are an error listing them unless MODEL.PARTIAL_LOAD.
            encoder, report = load_identity_encoder(cfg.MODEL.WEIGHTS, cfg=cfg, device="cpu")
            check_complete_load(report, "MODEL.WEIGHTS", bool(cfg.MODEL.PARTIAL_LOAD), logger)
            logger.info("identity encoder initialised from %s:\n%s", cfg.MODEL.WEIGHTS,
                        report.summary())
        else:
            encoder = build_identity_encoder(cfg)
        memory_format = torch.channels_last if cfg.SOLVER.CHANNELS_LAST else torch.contiguous_format
        encoder = encoder.to(device, memory_format=memory_format)

        if cfg.CLUSTER.FOREGROUND_MASK:
            from reid.views.structure_maps import structure_cache_for
            from reid.views.structure_maps import check_structure_maps

            # The silhouettes come from the angle-0 maps (CLUSTER.FOREGROUND_MASK).
            check_structure_maps(structure_cache_for(cfg, dataset), train_items, angles=(0,))
        generative = None
        if cfg.GCL.USE_GAN and any(STAGE_TYPES[s].needs_generative for s in self.stages):
            from reid.views.structure_maps import structure_cache_for
            from reid.views.structure_maps import check_structure_maps
            from reid.models.gcl import build_generative_module

            check_structure_maps(structure_cache_for(cfg, dataset), train_items)
            m = cfg.MODEL
            generative = build_generative_module(cfg, code_dim=encoder.feature_dim)
            if m.GENERATIVE_WEIGHTS:
                from common import load_state_dict_with_report
                from common.finite import refuse_non_finite_load

                report = load_state_dict_with_report(generative, m.GENERATIVE_WEIGHTS, strict=True)
                refuse_non_finite_load(generative.state_dict(), m.GENERATIVE_WEIGHTS,
                                       what="MODEL.GENERATIVE_WEIGHTS")
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

    def _find_resume_point(self, logger) -> Optional[tuple[str, dict]]:
        """``(path, state)`` of the newest checkpoint, None when there is none. Its config is
        compared with this one first: a change of the model, the data or a key not known to be
        safe is a ResumeConfigError naming each key (old -> new) before anything is written;
        changed schedule keys are logged and applied (:meth:`_restore_stage`), harmless ones
        logged."""
        found = self.checkpoints.find_last()
        if found is not None:
            check_resume_config(found[1], self.cfg, self.stages, found[0], logger)
        return found

    def _restore_stage(self, stage, stage_state: dict) -> None:
        """Load the resumed stage's optimisers / schedulers, then re-apply what the config
        sets in them (learning rates, weight decays, LR steps...) where it changed since the
        checkpoint; the learning rate follows the new schedule at the restored epoch."""
        planned = schedule_settings(stage)
        stage.load_state_dict(stage_state)
        for line in apply_schedule_settings(stage, planned):
            self.ctx.logger.info("resume: %s", line)

    def _restore(self, state: dict) -> tuple[int, int, Optional[dict]]:
        ctx = self.ctx
        ctx.encoder.load_state_dict(state["models"]["E_id"])
        if ctx.generative is not None and "generative" in state["models"]:
            ctx.generative.load_state_dict(state["models"]["generative"])
        if state.get("memory") is not None:
            from reid.memory import build_memory

            memory = state["memory"]
            ctx.memory = build_memory(self.cfg, *memory["features"].shape).to(ctx.device)
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
        """Report mAP / CMC on the test split (never used to choose anything); None, said in
        the log, when the dataset has no query / gallery (a train-only or unlabelled folder)."""
        if not dist_utils.is_main_process():
            return None
        if not self.ctx.dataset.has_test_split:
            self.ctx.logger.info("evaluation [%s] skipped: %s", tag, self._no_test_split())
            return None
        from reid.evaluation.runner import run_evaluation

        results = run_evaluation(self.cfg, model=self.ctx.encoder,
                                 output_dir=self.ctx.path("eval", tag))
        self.ctx.encoder.train()
        self.ctx.logger.info("evaluation [%s]: mAP %.2f  Rank-1 %.2f  Rank-5 %.2f  mINP %.2f", tag,
                             results["mAP"], results["rank1"], results["rank5"], results["mINP"])
        self.ctx.log_scalars("eval", {"mAP": results["mAP"], "rank1": results["rank1"]})
        return results

    def _no_test_split(self) -> str:
        dataset = self.ctx.dataset
        return (f"dataset {dataset.name} ({dataset.root}) has {len(dataset.query)} query and "
                f"{len(dataset.gallery)} gallery images (training only)")

    # ------------------------------------------------------------------ main loop
    def run(self) -> dict:
        """Train and finish; OUTPUT_DIR's lock is released at the end, also after an error
        (logged with its traceback, to log.txt too), Ctrl-C or SIGTERM (handled like Ctrl-C)."""
        try:
            with sigterm_as_interrupt():
                return self._train()
        except KeyboardInterrupt as exc:
            self.ctx.logger.warning("interrupted (%s). %s", str(exc) or "Ctrl-C",
                                    self.ctx.checkpoint_note())
            raise
        except Exception as exc:  # the error and its traceback go to log.txt too
            self.ctx.logger.error("training failed: %s: %s", type(exc).__name__, exc,
                                  exc_info=True)
            raise
        finally:
            self.close()

    def _train(self) -> dict:
        ctx = self.ctx
        start_stage, start_epoch, stage_state = 0, 0, None
        if self.resume:
            found, self._resume_from = self._resume_from, None  # checked in __init__
            if found is None:
                ctx.logger.info("--resume: no checkpoint in %s, starting from scratch",
                                self.checkpoints.folder)
            else:
                start_stage, start_epoch, stage_state = self._restore(found[1])
                ctx.logger.info("resumed from %s: stage %s, epoch %d", found[0],
                                self.stages[start_stage], start_epoch)
        started = time.time()
        for index, name in enumerate(self.stages):
            if index < start_stage:
                continue
            stage = STAGE_TYPES[name](ctx)
            fresh = not (index == start_stage and stage_state is not None)
            if stage.evaluates_baseline_before and "baseline" not in self.metrics and fresh:
                self.metrics["baseline"] = self.evaluate("baseline")
                self._save_encoder_copy("baseline_encoder.pth")
            stage.setup()
            if fresh:
                stage.begin()
            else:
                self._restore_stage(stage, stage_state)
            first_epoch = start_epoch if index == start_stage else 0
            stage_state = None
            if first_epoch < stage.num_epochs:
                self._run_stage(index, stage, first_epoch)
            extras = stage.finish()
            if stage.saves_after and dist_utils.is_main_process():
                from common import atomic_save

                atomic_save({"state_dict": ctx.generative.state_dict(), **extras},
                            ctx.path(stage.saves_after))
        return self._finish(time.time() - started)

    def _run_stage(self, index: int, stage, first_epoch: int) -> None:
        ctx, cfg, name = self.ctx, self.cfg, stage.name
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
                from common.finite import model_output, probe_input, refuse_non_finite_save

                state = self._state(index, epoch, stage)
                # Exploded weights never replace the last good checkpoint: the run stops here.
                weights = dict(state["models"], memory=state["memory"] or {})
                refuse_non_finite_save(
                    weights, f"{name} epoch {epoch + 1}",
                    last_good=lambda: (self.checkpoints.find_last() or (None,))[0],
                    what="training checkpoint", probe=lambda: model_output(
                        ctx.encoder, probe_input((2, 3, *cfg.INPUT.SIZE), ctx.device)))
                self.checkpoints.save(state, name, epoch + 1)
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
        last = STAGE_TYPES[self.stages[-1]]
        final_tag = last.final_tag or last.name
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
            if not ctx.dataset.has_test_split:
                summary["evaluation"] = f"skipped: {self._no_test_split()}"
                table += f"\nevaluation {summary['evaluation']}"
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
