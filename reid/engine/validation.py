"""Checks that make a training run fail before it does work it cannot finish, or trains nothing.

* :func:`validate_training_config`: rules on the config that only concern training (at least one
  epoch over ``GCL.STAGES``, the generative networks' ``INPUT.SIZE`` constraint, ...), checked
  when the trainer starts, after :func:`reid.config.validation.validate_config` (run by
  ``load_config``) has checked every key on its own;
* :func:`check_train_set`: batch sizes against the number of training images, once the dataset
  is read;
* :func:`check_epoch_iterations`: an epoch whose loader yields no batch is an error naming the
  batch size, what the sampler yields and the key to change.
"""
from __future__ import annotations

import math
from typing import Sequence

from reid.config.validation import (ConfigError, baseline_num_instances, check_aspp_dilations,
                                    check_input_size, value_of)

#: E_str downsamples the structure map by 4 (two stride-2 convolutions) and G upsamples by 4
#: (reid/models/gcl/structure_encoder.py, generator.py): G's output has the input's size only
#: when height and width are multiples of 4.
GENERATOR_STRIDE = 4
#: The largest dilation of E_str's ASPP in the paper's configuration (MODEL.ASPP_DILATIONS);
#: its reflection padding needs more than that many pixels in the H/4 x W/4 structure features.
ASPP_MAX_DILATION = 9
STAGE_EPOCH_KEYS = {"source": "SOLVER.SOURCE.EPOCHS", "baseline": "SOLVER.BASELINE.EPOCHS",
                     "gan_warmup": "SOLVER.GAN_WARMUP.EPOCHS", "joint": "SOLVER.JOINT.EPOCHS"}


class EmptyEpochError(RuntimeError):
    """A training epoch whose data loader yields no batch: it would train nothing."""


def uses_generator(cfg, stages: Sequence[str]) -> bool:
    """True when the run builds the GCL generative module (E_str, G, D)."""
    return bool(cfg.GCL.USE_GAN) and any(s in ("gan_warmup", "joint") for s in stages)


def _check_epochs(cfg, stages: Sequence[str]) -> None:
    keys = [STAGE_EPOCH_KEYS[s] for s in stages if s in STAGE_EPOCH_KEYS]
    if sum(int(value_of(cfg, key)) for key in keys) < 1:
        shown = ", ".join(f"{key} {value_of(cfg, key)}" for key in keys)
        raise ConfigError(f"GCL.STAGES {tuple(stages)} train no epoch at all ({shown}): set at "
                          "least one of these to >= 1, the run would write an untrained model")


def generator_size_problem(length: int, disc_scales: int,
                           max_dilation: int = ASPP_MAX_DILATION) -> str:
    """Why ``length`` (an image height or width) does not fit the generative networks ('' if
    it does); ``max_dilation``: the largest of MODEL.ASPP_DILATIONS."""
    if length % GENERATOR_STRIDE:
        return (f"is not a multiple of {GENERATOR_STRIDE} (E_str downsamples by "
                f"{GENERATOR_STRIDE} and G upsamples by {GENERATOR_STRIDE}, so the generated "
                "image would not have the input's size)")
    if length // GENERATOR_STRIDE <= max_dilation:
        return (f"is below {GENERATOR_STRIDE * (max_dilation + 1)} (E_str's ASPP pads its "
                f"1/{GENERATOR_STRIDE}-size features by up to {max_dilation} pixels, the largest "
                f"of MODEL.ASPP_DILATIONS)")
    coarsest = math.ceil(length / 2 ** (disc_scales + 1))
    if coarsest < 2:
        return (f"leaves the coarsest of MODEL.DISC_SCALES {disc_scales} discriminator scales "
                f"{coarsest} pixel(s) wide (at least 2 needed: use fewer scales or a larger size)")
    return ""


def _suggested_length(length: int, max_dilation: int) -> int:
    floor = GENERATOR_STRIDE * (max_dilation + 1)
    return max(floor, int(round(length / GENERATOR_STRIDE)) * GENERATOR_STRIDE)


def _check_generator_input_size(cfg) -> None:
    size = check_input_size(cfg)
    scales = int(cfg.MODEL.DISC_SCALES)
    dilation = max(check_aspp_dilations(cfg))
    for name, length in zip(("height", "width"), size):
        problem = generator_size_problem(length, scales, dilation)
        if problem:
            suggested = tuple(_suggested_length(v, dilation) for v in size)
            smaller = max(1, min(size) // GENERATOR_STRIDE - 1)
            raise ConfigError(f"INPUT.SIZE {size}: the {name} {length} {problem}; the "
                              f"generative stages need both sides multiples of "
                              f"{GENERATOR_STRIDE}, e.g. INPUT.SIZE {suggested}, or dilations "
                              f"of at most {smaller} in MODEL.ASPP_DILATIONS at this size")


def validate_training_config(cfg, stages: Sequence[str]) -> None:
    """ConfigError naming the key and the rule when ``cfg`` cannot train ``stages``."""
    _check_epochs(cfg, stages)
    if "gan_warmup" in stages and not cfg.GCL.USE_GAN:
        raise ConfigError("GCL.STAGES holds 'gan_warmup' but GCL.USE_GAN is False: the warm-up "
                          "trains only the generative module; drop the stage or set "
                          "GCL.USE_GAN True")
    if uses_generator(cfg, stages):
        _check_generator_input_size(cfg)


def check_train_set(cfg, stages: Sequence[str], num_images: int) -> None:
    """Batch sizes that drop every batch of a ``num_images`` training set (known before the
    first epoch) are a ConfigError naming the key."""
    checks = []
    if "joint" in stages and not cfg.GCL.USE_GAN:  # plain shuffling, incomplete batch dropped
        checks.append(("SOLVER.JOINT.BATCH_SIZE", "the joint stage without GAN"))
    if ("baseline" in stages and baseline_num_instances(cfg) == 0
            and int(cfg.SOLVER.BASELINE.ITERS_PER_EPOCH) == 0):
        checks.append(("SOLVER.BASELINE.BATCH_SIZE", "the baseline stage"))
    for key, what in checks:
        batch = int(value_of(cfg, key))
        if batch > num_images:
            raise ConfigError(f"{key} {batch} is larger than the {num_images} training images: "
                              f"{what} drops incomplete batches and would run 0 iterations per "
                              f"epoch; set {key} to at most {num_images}")


def check_epoch_iterations(loader, iterations: int, stage: str, epoch: int,
                           batch_key: str) -> int:
    """``iterations`` (of ``loader`` in this epoch) when > 0; else an EmptyEpochError naming
    the batch size, the images the sampler yields and ``batch_key``, the key to change."""
    if iterations > 0:
        return iterations
    batch = loader.batch_size
    images = len(loader.dataset)
    try:
        sampled = len(loader.sampler)
    except TypeError:
        sampled = images
    share = (f"the {sampled} images its sampler yields this epoch (of {images} training images)"
             if sampled != images else f"the {images} training images")
    sampler = ""
    if hasattr(loader.sampler, "num_instances"):
        sampler = (f" (P x K identity sampler, K = DATALOADER.NUM_INSTANCES "
                   f"{loader.sampler.num_instances}: only labelled identities are sampled)")
    raise EmptyEpochError(
        f"{stage} epoch {epoch + 1}: 0 training iterations: {batch_key} {batch} is larger than "
        f"{share}{sampler}, and incomplete batches are dropped; set {batch_key} to at most "
        f"{max(1, sampled)}")
