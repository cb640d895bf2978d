"""Rules on config values, checked when a config is loaded (:func:`reid.config.load_config`).

Each broken rule is a :class:`ConfigError` naming the key, its value and the rule, so that a bad
value fails before any work instead of hours into a run. Rules that only concern training (at
least one epoch, the generator's input-size constraint) are checked when a trainer starts, see
:func:`reid.engine.validation.validate_training_config`.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable

from common.config import ConfigError


#: Distance metrics of :func:`reid.evaluation.distance.compute_distance_matrix` (``TEST.METRIC``).
TEST_METRICS = ("cosine", "euclidean")
#: The per-stage sections of ``SOLVER`` (``SOLVER.<STAGE>.EPOCHS``, ``BATCH_SIZE``, ``LR``, ...).
STAGE_SECTIONS = ("SOURCE", "BASELINE", "GAN_WARMUP", "JOINT")
#: Batch sizes, each an integer >= 1.
BATCH_SIZE_KEYS = tuple(f"SOLVER.{section}.BATCH_SIZE" for section in STAGE_SECTIONS) + (
    "TEST.BATCH_SIZE", "TEST.VIEW_METRICS.BATCH_SIZE", "MESH.BATCH_SIZE")
#: Batch sizes of the P x K identity sampler: multiples of ``DATALOADER.NUM_INSTANCES`` (when > 0).
IDENTITY_BATCH_KEYS = ("SOLVER.BASELINE.BATCH_SIZE", "SOLVER.SOURCE.BATCH_SIZE")
#: ``CLUSTER.EPS_POLICY``: eps from RHO chosen on the first clustering and kept, or every time.
EPS_POLICIES = ("first", "per_epoch")
#: ``MODEL.ADAIN_INPUT``: part stripe k, or slice k of the flattened code (the authors' code).
ADAIN_INPUTS = ("stripe", "flat_slice")
#: ``DATALOADER.START_METHOD``: the generative stages' loader workers ("" = the platform's default).
LOADER_START_METHODS = ("", "fork", "forkserver", "spawn")
#: ``SOLVER.JOINT.ENCODER_OPTIMIZER``: E_id's optimiser in the joint stage.
ENCODER_OPTIMIZERS = ("sgd", "adam")
#: ``GCL.MEMORY``: the view-invariant losses against instance entries or cluster centroids.
MEMORY_KINDS = ("instance", "centroid")
#: ``GCL.JOINT_OUTLIERS``: DBSCAN outliers kept in the joint stage's loader or dropped from it.
JOINT_OUTLIER_POLICIES = ("keep", "drop")
#: ``GCL.IMG_LOSS_NORM``: L_img on the [-1, 1] tensors or on ImageNet-normalised images.
IMG_LOSS_NORMS = ("none", "imagenet")
#: ``SOLVER.JOINT.GAN_OPTIMIZER_STATE``: fresh Adam states at the joint start, or gan_warmup's.
GAN_OPTIMIZER_STATES = ("fresh", "warmup")
#: ``DATASETS.CAMERAS``: the folder dataset's cameras, one per immediate sub-folder or one in all.
DATASET_CAMERA_MODES = ("folder", "single")


def baseline_num_instances(cfg) -> int:
    """K of the baseline stage's P x K batches: ``SOLVER.BASELINE.NUM_INSTANCES``, or
    ``DATALOADER.NUM_INSTANCES`` when that is 0."""
    return int(cfg.SOLVER.BASELINE.NUM_INSTANCES) or int(cfg.DATALOADER.NUM_INSTANCES)


def value_of(cfg, key: str) -> Any:
    """The value of the dotted ``key`` in ``cfg``."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(cfg, key: str, minimum: int, meaning: str = "") -> int:
    """``cfg``'s ``key`` as an integer >= ``minimum``; ConfigError naming key, value and rule."""
    value = value_of(cfg, key)
    if not _is_int(value) or value < minimum:
        note = f" ({meaning})" if meaning else ""
        raise ConfigError(f"{key} must be an integer >= {minimum}{note}; got {value!r}")
    return value


def check_choice(cfg, key: str, choices: Iterable[str]) -> str:
    """``cfg``'s ``key`` as one of ``choices``; ConfigError listing them otherwise."""
    value, choices = value_of(cfg, key), tuple(choices)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {value!r}{hint}")
    return value


def check_input_size(cfg, key: str = "INPUT.SIZE") -> tuple[int, int]:
    """``cfg``'s ``key`` as ``(height, width)``, two integers >= 1."""
    value = value_of(cfg, key)
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_int(v) and v >= 1 for v in value)):
        raise ConfigError(f"{key} must be (height, width), two integers >= 1; got {value!r}")
    return int(value[0]), int(value[1])


def check_view_angles(cfg, key: str = "MESH.ANGLES") -> tuple[int, ...]:
    """``cfg``'s ``key`` as the rotations of the novel views: at least one, distinct integer
    degrees in (0, 360); the original view 0 is implied."""
    value = value_of(cfg, key)
    if (not isinstance(value, (tuple, list)) or not value
            or not all(_is_int(v) and 0 < v < 360 for v in value) or len(set(value)) != len(value)):
        raise ConfigError(f"{key} must be one or more distinct integer degrees in (0, 360), the "
                          f"rotations of the novel views (the original view 0 is implied); "
                          f"got {value!r}")
    return tuple(value)


def check_aspp_dilations(cfg, key: str = "MODEL.ASPP_DILATIONS") -> tuple[int, ...]:
    """``cfg``'s ``key`` as E_str's ASPP dilations: one or more integers >= 1 (how they fit
    INPUT.SIZE is a training rule: :mod:`reid.engine.validation`)."""
    value = value_of(cfg, key)
    if (not isinstance(value, (tuple, list)) or not value
            or not all(_is_int(v) and v >= 1 for v in value)):
        raise ConfigError(f"{key} must be one or more integers >= 1 (E_str's ASPP dilations; the "
                          f"paper: (3, 6, 9)); got {value!r}")
    return tuple(int(v) for v in value)


def _check_reconstruction_phase(cfg) -> None:
    """SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS within the stage's epochs, a positive rate."""
    epochs = check_int(cfg, "SOLVER.GAN_WARMUP.EPOCHS", 0)
    rec = check_int(cfg, "SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS", 0,
                    "the first epochs of gan_warmup that train the reconstruction alone")
    if rec > epochs:
        raise ConfigError(f"SOLVER.GAN_WARMUP.RECONSTRUCTION_EPOCHS {rec} exceeds "
                          f"SOLVER.GAN_WARMUP.EPOCHS {epochs}: the reconstruction epochs are "
                          f"the first epochs of that stage")
    if rec:
        lr = value_of(cfg, "SOLVER.GAN_WARMUP.RECONSTRUCTION_LR")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
            raise ConfigError(f"SOLVER.GAN_WARMUP.RECONSTRUCTION_LR must be a number > 0; "
                              f"got {lr!r}")


def check_epoch_list(cfg, key: str) -> tuple[int, ...]:
    """``cfg``'s ``key`` as a tuple of epoch numbers, integers >= 0 (``()`` allowed)."""
    value = value_of(cfg, key)
    if not isinstance(value, (tuple, list)) or not all(_is_int(v) and v >= 0 for v in value):
        raise ConfigError(f"{key} must be a tuple of epoch numbers, integers >= 0 (e.g. (10,) "
                          f"or ()); got {value!r}")
    return tuple(value)


def _check_counts(cfg) -> None:
    """Epochs, iterations, batch sizes, workers: integers in their ranges."""
    for section in STAGE_SECTIONS:
        check_int(cfg, f"SOLVER.{section}.EPOCHS", 0, "0 skips the stage")
        check_int(cfg, f"SOLVER.{section}.ITERS_PER_EPOCH", 0, "0 = one pass over the data")
        check_int(cfg, f"SOLVER.{section}.LR_STEP_SIZE", 0, "0 = half of EPOCHS")
        check_epoch_list(cfg, f"SOLVER.{section}.LR_STEPS")
    for key in BATCH_SIZE_KEYS:
        check_int(cfg, key, 1)
    check_int(cfg, "DATALOADER.NUM_WORKERS", 0, "0 = load in the main process")
    check_int(cfg, "DATALOADER.NUM_INSTANCES", 0, "K of the P x K sampler, 0 = plain shuffling")
    check_int(cfg, "SOLVER.LOG_PERIOD", 1, "iterations between logged scalars")
    check_int(cfg, "TEST.EVAL_PERIOD", 0, "0 = evaluate only at the end")
    check_int(cfg, "TEST.VIEW_METRICS.IMAGES", 0, "training images whose views are scored, 0 = off")
    check_int(cfg, "SOLVER.CHECKPOINT_KEEP_LAST", 0, "epoch files kept per stage, 0 = all")


def _check_identity_batches(cfg) -> None:
    """P x K batches: each identity-sampled batch size a multiple of its K (the baseline's is
    ``SOLVER.BASELINE.NUM_INSTANCES`` when that is set)."""
    check_int(cfg, "SOLVER.BASELINE.NUM_INSTANCES", 0, "0 = DATALOADER.NUM_INSTANCES")
    for key in IDENTITY_BATCH_KEYS:
        k_key = ("SOLVER.BASELINE.NUM_INSTANCES" if key == "SOLVER.BASELINE.BATCH_SIZE"
                 and cfg.SOLVER.BASELINE.NUM_INSTANCES else "DATALOADER.NUM_INSTANCES")
        k, batch = value_of(cfg, k_key), value_of(cfg, key)
        if k and batch % k:
            raise ConfigError(f"{key} {batch} must be a multiple of {k_key} {k} "
                              f"(P x K batches of K images per identity); e.g. "
                              f"{max(k, batch - batch % k)}")


def check_float(cfg, key: str, minimum: float, meaning: str = "") -> float:
    """``cfg``'s ``key`` as a number >= ``minimum``; ConfigError naming key, value and rule."""
    value = value_of(cfg, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        note = f" ({meaning})" if meaning else ""
        raise ConfigError(f"{key} must be a number >= {minimum}{note}; got {value!r}")
    return float(value)


def _check_paper_switches(cfg) -> None:
    """The keys that choose between our behaviour and the authors' code's."""
    check_choice(cfg, "CLUSTER.EPS_POLICY", EPS_POLICIES)
    check_choice(cfg, "MODEL.ADAIN_INPUT", ADAIN_INPUTS)
    check_choice(cfg, "DATALOADER.START_METHOD", LOADER_START_METHODS)
    check_choice(cfg, "GCL.MEMORY", MEMORY_KINDS)
    check_choice(cfg, "SOLVER.JOINT.ENCODER_OPTIMIZER", ENCODER_OPTIMIZERS)
    check_choice(cfg, "GCL.JOINT_OUTLIERS", JOINT_OUTLIER_POLICIES)
    check_choice(cfg, "GCL.IMG_LOSS_NORM", IMG_LOSS_NORMS)
    check_choice(cfg, "SOLVER.JOINT.GAN_OPTIMIZER_STATE", GAN_OPTIMIZER_STATES)
    check_float(cfg, "GCL.LSGAN_GEN_FACTOR", 0.0, "the authors' code: 2")
    check_float(cfg, "SOLVER.BASELINE.EPS", 0.0, "0 = the CLUSTER eps rule")
    for section in ("GAN_WARMUP", "JOINT"):
        check_float(cfg, f"SOLVER.{section}.GAN_WEIGHT_DECAY", 0.0)


def _check_solver_modes(cfg) -> None:
    """SOLVER.PRECISION and SOLVER.PROGRESS: known names (fp16 off CUDA is refused when the
    trainer starts, once the device is known)."""
    from common.logging import PROGRESS_MODES
    from common.precision import check_precision

    check_precision(cfg.SOLVER.PRECISION)
    check_choice(cfg, "SOLVER.PROGRESS", PROGRESS_MODES)


def _check_synthetic_ids(cfg) -> None:
    """DATASETS.SYNTHETIC: IDS (split in halves) or TRAIN_IDS and TEST_IDS (both >= 1, IDS 0 or
    their sum): never a count that would be silently ignored."""
    ids = check_int(cfg, "DATASETS.SYNTHETIC.IDS", 0, "identities in all, half train / half test")
    train = check_int(cfg, "DATASETS.SYNTHETIC.TRAIN_IDS", 0, "0 = half of IDS")
    test = check_int(cfg, "DATASETS.SYNTHETIC.TEST_IDS", 0, "0 = half of IDS")
    if (train == 0) != (test == 0):
        raise ConfigError(f"DATASETS.SYNTHETIC.TRAIN_IDS {train} and TEST_IDS {test}: give both "
                          "(>= 1 each; they replace IDS) or neither (0: IDS split in halves)")
    if train == 0 and ids < 2:
        raise ConfigError(f"DATASETS.SYNTHETIC.IDS must be >= 2 (one training and one test "
                          f"identity) when TRAIN_IDS and TEST_IDS are 0; got {ids}")
    if train and ids not in (0, train + test):
        raise ConfigError(f"DATASETS.SYNTHETIC.IDS {ids} with TRAIN_IDS {train} and TEST_IDS "
                          f"{test}: give the separate counts (IDS 0) or IDS alone (TRAIN_IDS 0 "
                          f"TEST_IDS 0), e.g. DATASETS.SYNTHETIC.TRAIN_IDS {max(1, ids // 2)} "
                          f"DATASETS.SYNTHETIC.TEST_IDS {max(1, ids - ids // 2)}")


def validate_config(cfg) -> None:
    """Check the values of a ReID config (:func:`reid.config.defaults.get_cfg_defaults` tree)."""
    _check_counts(cfg)
    _check_synthetic_ids(cfg)
    _check_identity_batches(cfg)
    _check_paper_switches(cfg)
    _check_solver_modes(cfg)
    check_input_size(cfg)
    check_aspp_dilations(cfg)
    _check_reconstruction_phase(cfg)
    check_view_angles(cfg)
    check_choice(cfg, "TEST.METRIC", TEST_METRICS)
    check_choice(cfg, "DATASETS.CAMERAS", DATASET_CAMERA_MODES)
