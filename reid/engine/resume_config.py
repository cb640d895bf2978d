"""``--resume`` with a changed config: compare it with the checkpoint's, refuse or apply.

The checkpoint holds the config it was written with (``state["config"]``, YAML text). Read
through the project's config loading (:func:`checkpoint_config`: the defaults fill keys added
since), both configs are compared key by key (:func:`config_changes`) and every differing key
falls in one class (:func:`classify`):

* ``refused``: the model, its input and the training data (:data:`REFUSED_KEYS`): the
  checkpoint's weights, memory rows and pseudo-labels belong to the old values;
* ``schedule``: optimisation and schedule keys of the ``SOLVER.<STAGE>`` sections
  (:data:`SCHEDULE_KEYS`): applied where the run still uses them. Epoch counts, iterations and
  batch sizes are read from the config every epoch; learning rates, weight decays, momenta,
  betas and LR steps live in the restored optimiser / scheduler state and are re-applied by
  :func:`apply_schedule_settings`. A schedule change that would change nothing (its stages
  finished before the checkpoint) or cannot be applied consistently (fewer epochs than the stage
  already trained, another set of schedulers in the stage under way) is refused;
* ``harmless``: how the run executes, logs, checkpoints, evaluates and exports
  (:data:`HARMLESS_KEYS`): accepted;
* any other key (augmentation, clustering, loss weights, the memory, ...) is not known to be
  safe to change in the middle of a run and is refused.

:func:`plan_resume` does the comparison without side effects; :func:`check_resume_config` is
what the trainer calls before it writes anything (``config.yaml`` included).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Optional, Sequence

import yaml

from reid.config import CfgNode, ConfigError, get_cfg_defaults, merge_mapping, valid_keys
from reid.config.renames import rename_mapping
from reid.config.validation import value_of
from reid.engine.validation import STAGE_EPOCH_KEYS

REFUSED, SCHEDULE, HARMLESS, UNCLASSIFIED = "refused", "schedule", "harmless", "unclassified"

_ARCHITECTURE = "the network's architecture (the checkpoint's weights fit only its own)"
_INITIALISATION = "the weights the run started from"
_DATA = ("the training data (the checkpoint's memory rows and pseudo-labels belong to its "
         "training images)")
#: Keys (or sections, ending with ".") that make the checkpoint unusable, with the reason.
#: SEED is refused too: the epochs trained so far used the checkpoint's seed, and config.yaml
#: would claim a run that no seed reproduces.
REFUSED_KEYS = {
    **{f"MODEL.{k}": _ARCHITECTURE for k in (
        "BACKBONE", "LAST_STRIDE", "NUM_PARTS", "EMBED_DIM", "STRUCTURE_DIM", "GEN_RES_BLOCKS",
        "DISC_SCALES", "DISC_BASE_CHANNELS", "ADAIN_INPUT")},
    **{f"MODEL.{k}": _INITIALISATION for k in (
        "PRETRAINED_PATH", "PRETRAINED_FROM_TIMM", "WEIGHTS", "PARTIAL_LOAD",
        "GENERATIVE_WEIGHTS")},
    "INPUT.SIZE": "the input size the networks were trained on",
    "GCL.STAGES": "the stages of the run (the checkpoint names its stage by position)",
    "GCL.USE_GAN": "whether the run has the generative networks",
    **{f"DATASETS.{k}": _DATA for k in (
        "NAME", "ROOT", "SOURCE", "SOURCE_ROOT", "MSMT_MERGE_VAL", "SKIP_UNREADABLE",
        "EXTRA_TRAIN_DIRS", "SYNTHETIC.")},
    "MESH.DIR": "the structure maps the generative stages train on",
    "MESH.ANGLES": "the rotations the generative stages draw novel views from",
    "SEED": "the run's seed (the epochs trained so far used the checkpoint's)",
}
_SECTION_STAGE = {"SOURCE": "source", "BASELINE": "baseline", "GAN_WARMUP": "gan_warmup",
                  "JOINT": "joint"}
#: The keys every ``SOLVER.<STAGE>`` section holds, and those of the generative stages.
STAGE_SCHEDULE_KEYS = ("EPOCHS", "ITERS_PER_EPOCH", "BATCH_SIZE", "LR", "WEIGHT_DECAY",
                       "LR_STEPS", "LR_STEP_SIZE", "LR_DECAY_FACTOR")
GENERATIVE_SCHEDULE_KEYS = ("GAN_LR", "GAN_BETAS", "GAN_WEIGHT_DECAY", "DECAY_GAN_LR")
#: Keys present in a section that its stage does not read (gan_warmup keeps E_id frozen).
_UNREAD = {"SOLVER.GAN_WARMUP.LR", "SOLVER.GAN_WARMUP.WEIGHT_DECAY"}
#: The reconstruction-first phase of gan_warmup (its length, learning rate, iterations).
RECONSTRUCTION_KEYS = ("RECONSTRUCTION_EPOCHS", "RECONSTRUCTION_LR", "RECONSTRUCTION_ITERS_PER_EPOCH")
#: Keys that decide which optimisers and schedulers a stage builds (not changed while it is
#: under way; before it starts, the stage builds them from the new values).
SCHEDULER_LAYOUT_KEYS = ("LR_STEPS", "DECAY_GAN_LR", "ENCODER_OPTIMIZER")
#: Schedule / optimisation keys, applied on resume, with the stages that use them.
SCHEDULE_KEYS = {
    **{f"SOLVER.{section}.{k}": (stage,) for section, stage in _SECTION_STAGE.items()
       for k in STAGE_SCHEDULE_KEYS},
    **{f"SOLVER.{section}.{k}": (_SECTION_STAGE[section],) for section in ("GAN_WARMUP", "JOINT")
       for k in GENERATIVE_SCHEDULE_KEYS},
    "SOLVER.JOINT.SGD_MOMENTUM": ("joint",),
    "SOLVER.JOINT.ENCODER_OPTIMIZER": ("joint",),
    **{f"SOLVER.GAN_WARMUP.{k}": ("gan_warmup",) for k in RECONSTRUCTION_KEYS},
    **{key: () for key in _UNREAD},
}
#: Keys (or sections) that change how the run executes, logs, checkpoints, evaluates and
#: exports, not what it trains. MESH.* other than MESH.DIR and MESH.ANGLES only concern building the maps.
HARMLESS_KEYS = ("OUTPUT_DIR", "CACHE_DIR", "DETERMINISTIC", "MODEL.DEVICE",
                 "DATALOADER.NUM_WORKERS", "DATALOADER.START_METHOD", "CLUSTER.USE_GPU", "SOLVER.CHECKPOINT_PERIOD",
                 "SOLVER.CHECKPOINT_KEEP_LAST", "SOLVER.LOG_PERIOD", "SOLVER.PROGRESS",
                 "SOLVER.PRECISION", "SOLVER.CHANNELS_LAST", "TEST.", "EXPORT.", "MESH.")
_UNCLASSIFIED_REASON = "not known to be safe to change in the middle of a run"
#: Scheduler attributes built from the config (the others hold the position in the schedule).
SCHEDULER_SETTINGS = ("base_lrs", "step_size", "gamma", "milestones")


class ResumeConfigError(ConfigError):
    """``--resume`` with a config that differs from the checkpoint's in keys that cannot change
    in the middle of a run."""


@dataclasses.dataclass(frozen=True)
class ConfigChange:
    """One key whose value differs between the checkpoint's config and the new one."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key} {self.old!r} -> {self.new!r}"


@dataclasses.dataclass
class ResumePlan:
    """What :func:`plan_resume` decided for each changed key."""

    applied: list = dataclasses.field(default_factory=list)   # ConfigChange, schedule keys
    accepted: list = dataclasses.field(default_factory=list)  # ConfigChange, harmless keys
    refused: list = dataclasses.field(default_factory=list)   # (ConfigChange, reason)


# ---------------------------------------------------------------------- reading and comparing
def checkpoint_config(text: str, source: str = "the checkpoint's config"
                      ) -> tuple[CfgNode, list[str]]:
    """The config a checkpoint was written with (``state["config"]``): the defaults, then its
    YAML text. Returns it and the dotted keys of the text that are no longer config keys (left
    out); a text that is not YAML or whose values do not fit the keys is a ConfigError."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}")
    cfg = get_cfg_defaults()
    # Checkpoints written before keys moved (reid.config.renames) hold the old names.
    known, dropped = _known_part(rename_mapping(data, source, warn=False), cfg)
    merge_mapping(cfg, known, source)
    return cfg, dropped


def _known_part(data: dict, node: CfgNode, prefix: str = "") -> tuple[dict, list[str]]:
    """The part of ``data`` whose keys exist in ``node``, and the dotted keys that do not."""
    known, dropped = {}, []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in node:
            dropped.append(path)
        elif isinstance(node[key], CfgNode) and isinstance(value, dict):
            known[key], more = _known_part(value, node[key], path + ".")
            dropped.extend(more)
        elif isinstance(node[key], CfgNode):
            dropped.append(path)  # a section that once was a single key
        else:
            known[key] = value
    return known, dropped


def config_changes(old: CfgNode, new: CfgNode) -> list[ConfigChange]:
    """The leaf keys of ``new`` whose values differ in ``old``, in the order of the defaults."""
    return [ConfigChange(key, value_of(old, key), value_of(new, key))
            for key in valid_keys(new) if value_of(old, key) != value_of(new, key)]


def _matches(key: str, patterns) -> Optional[str]:
    """The entry of ``patterns`` naming ``key`` (itself, or a section "X." above it)."""
    for pattern in patterns:
        if key == pattern or (pattern.endswith(".") and key.startswith(pattern)):
            return pattern
    return None


def classify(key: str) -> str:
    """``REFUSED``, ``SCHEDULE``, ``HARMLESS`` or ``UNCLASSIFIED`` (refused as well)."""
    if _matches(key, REFUSED_KEYS):
        return REFUSED
    if key in SCHEDULE_KEYS:
        return SCHEDULE
    if _matches(key, HARMLESS_KEYS):
        return HARMLESS
    return UNCLASSIFIED


# ---------------------------------------------------------------------- deciding
def schedule_refusal(change: ConfigChange, stages: Sequence[str], stage_index: int,
                     epochs_done: int, new: CfgNode) -> Optional[str]:
    """Why the schedule ``change`` cannot be applied to a run of ``stages`` resumed after
    ``epochs_done`` epochs of ``stages[stage_index]``, or None when it can (or when no stage
    of the run uses the key)."""
    used = [s for s in SCHEDULE_KEYS[change.key] if s in stages]
    current = stages[stage_index]
    if not used:
        return None
    if change.key == STAGE_EPOCH_KEYS[current]:
        if change.new < epochs_done:
            return (f"stage {current} has already trained {epochs_done} epoch(s); "
                    f"{change.key} must be >= {epochs_done}")
        return None
    current_left = epochs_done < int(value_of(new, STAGE_EPOCH_KEYS[current]))
    live = [s for s in used if stages.index(s) > stage_index or (s == current and current_left)]
    if not live:
        return (f"only stage(s) {', '.join(used)} use it, which finished before the checkpoint "
                f"({current}, {epochs_done} epoch(s)): it would change nothing")
    if current in used and current_left and _changes_scheduler_layout(change):
        return (f"the {current} stage is under way: its optimisers and schedulers are in the "
                f"checkpoint as they are ({change.key} decides which ones it has)")
    return None


def _changes_scheduler_layout(change: ConfigChange) -> bool:
    """True when ``change`` gives its stage other schedulers: G / D decay on or off, or the
    decay at ``LR_STEPS`` instead of every ``LR_STEP_SIZE`` epochs (or back)."""
    leaf = change.key.rsplit(".", 1)[-1]
    if leaf == "LR_STEPS":
        return bool(tuple(change.old)) != bool(tuple(change.new))
    if leaf == "RECONSTRUCTION_EPOCHS":  # with or without the reconstruction optimiser
        return bool(change.old) != bool(change.new)
    return leaf in SCHEDULER_LAYOUT_KEYS


def plan_resume(old: CfgNode, new: CfgNode, stages: Sequence[str], stage_index: int,
                epochs_done: int) -> ResumePlan:
    """Classify every key that differs between ``old`` (the checkpoint's config) and ``new``
    for a run of ``stages`` resumed after ``epochs_done`` epochs of ``stages[stage_index]``."""
    plan = ResumePlan()
    for change in config_changes(old, new):
        kind = classify(change.key)
        if kind == REFUSED:
            plan.refused.append((change, REFUSED_KEYS[_matches(change.key, REFUSED_KEYS)]))
        elif kind == UNCLASSIFIED:
            plan.refused.append((change, _UNCLASSIFIED_REASON))
        elif kind == HARMLESS:
            plan.accepted.append(change)
        else:
            reason = schedule_refusal(change, stages, stage_index, epochs_done, new)
            if reason is not None:
                plan.refused.append((change, f"cannot be applied: {reason}"))
            elif any(s in stages for s in SCHEDULE_KEYS[change.key]):
                plan.applied.append(change)
            else:
                plan.accepted.append(change)  # no stage of this run uses it
    return plan


def refusal_message(plan: ResumePlan, checkpoint: str) -> str:
    """The ResumeConfigError text: each refused key with old -> new and why, then what to do."""
    lines = "\n".join(f"  {change}: {reason}" for change, reason in plan.refused)
    return (f"--resume: the config differs from the one {checkpoint} was written with, in "
            f"key(s) that cannot change in the middle of a run (checkpoint -> now):\n{lines}\n"
            "Resume with the checkpoint's values of these keys, or start afresh with "
            "--overwrite (deletes the checkpoints) or in another OUTPUT_DIR. config.yaml and the "
            "checkpoints are left as they are.")


def check_resume_config(state: dict, cfg: CfgNode, stages: Sequence[str], checkpoint: str,
                        logger) -> ResumePlan:
    """Compare ``cfg`` with the config of the checkpoint ``state`` (read from ``checkpoint``):
    ResumeConfigError naming every refused key, else log what is applied and accepted and
    return the plan. A checkpoint without a config is logged and not compared."""
    text = state.get("config")
    if not isinstance(text, str):
        logger.warning("resume: %s holds no config; cannot compare it with this one", checkpoint)
        return ResumePlan()
    old, dropped = checkpoint_config(text, f"the config in {checkpoint}")
    if dropped:
        logger.warning("resume: the config in %s has key(s) that no longer exist (ignored): %s",
                       checkpoint, ", ".join(dropped))
    plan = plan_resume(old, cfg, stages, int(state["stage_index"]), int(state["epoch"]) + 1)
    if plan.refused:
        raise ResumeConfigError(refusal_message(plan, checkpoint))
    if plan.applied:
        logger.info("resume: applying changed schedule keys: %s",
                    "; ".join(str(c) for c in plan.applied))
    if plan.accepted:
        logger.info("resume: accepting changed keys that do not change the checkpoint's "
                    "training: %s", "; ".join(str(c) for c in plan.accepted))
    return plan


# ---------------------------------------------------------------------- applying to a stage
def _schedulers(stage) -> dict:
    return getattr(stage, "_schedulers", {})  # as Stage.load_state_dict reads them


def schedule_settings(stage) -> dict:
    """The optimiser and scheduler settings ``stage.setup()`` just built from the config; call
    it before ``stage.load_state_dict`` and hand it to :func:`apply_schedule_settings` after."""
    return {
        "optimizers": {name: [copy.deepcopy({k: v for k, v in group.items() if k != "params"})
                              for group in opt.param_groups]
                       for name, opt in stage.optimizers().items()},
        "schedulers": {name: {k: copy.deepcopy(getattr(sched, k))
                              for k in SCHEDULER_SETTINGS if hasattr(sched, k)}
                       for name, sched in _schedulers(stage).items()},
    }


def _update(target: dict, wanted: dict, label: str) -> list[str]:
    """Set the entries of ``target`` that differ from ``wanted``; one line per change."""
    lines = []
    for key, value in wanted.items():
        if target.get(key) != value:
            lines.append(f"{label}{key} {target.get(key)!r} -> {value!r}")
            target[key] = copy.deepcopy(value)
    return lines


def _scheduled_lrs(sched) -> list[float]:
    """The learning rates ``sched``'s schedule prescribes at its current epoch."""
    closed_form = getattr(sched, "_get_closed_form_lr", None)
    if closed_form is None:
        raise RuntimeError(f"resume: cannot re-apply a changed schedule to a "
                           f"{type(sched).__name__} (no closed form of its learning rate)")
    return list(closed_form())


def apply_schedule_settings(stage, planned: dict) -> list[str]:
    """Make ``stage``'s restored optimisers and schedulers follow ``planned`` (what the new
    config built, :func:`schedule_settings`) where they differ, keeping the position in the
    schedule (scheduler epoch, optimiser moments): an optimiser with a scheduler gets the
    learning rate the new schedule prescribes at that epoch, one without gets the new one.
    Returns the changes, one line each; with the same settings nothing changes, bit for bit."""
    lines = []
    by_optimizer = {id(s.optimizer): (name, s) for name, s in _schedulers(stage).items()}
    for name, opt in stage.optimizers().items():
        sched_name, sched = by_optimizer.get(id(opt), (None, None))
        changed = []
        if sched is not None:
            changed += _update(vars(sched), planned["schedulers"].get(sched_name, {}),
                               f"{stage.name} scheduler '{sched_name}': ")
        wanted = planned["optimizers"][name]
        for i, (group, want) in enumerate(zip(opt.param_groups, wanted)):
            changed += _update(group, {k: v for k, v in want.items() if k != "lr"},
                               f"{stage.name} optimiser '{name}' group {i}: ")
        if sched is None:
            lrs = [want["lr"] for want in wanted]
        else:
            lrs = _scheduled_lrs(sched) if changed else [g["lr"] for g in opt.param_groups]
        for i, (group, lr) in enumerate(zip(opt.param_groups, lrs)):
            if group["lr"] != lr:
                changed.append(f"{stage.name} optimiser '{name}' group {i}: lr "
                               f"{group['lr']!r} -> {lr!r}")
                group["lr"] = lr
        if sched is not None and changed:
            sched._last_lr = [g["lr"] for g in opt.param_groups]
        lines += changed
    return lines
