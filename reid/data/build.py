"""DataLoader builders for training and evaluation.

The plain builders take explicit arguments; the ``*_from_cfg`` wrappers read ``cfg.INPUT``,
``cfg.DATALOADER``, ``cfg.DATASETS`` and ``cfg.TEST``. Batches are dicts of ``img`` (B x 3 x H x W
in [-1, 1]), ``pid``, ``camid``, ``index`` (tensors) and ``path`` (list of str).
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader

from common.config import ConfigError

from .datasets import ReIDDataset, build_dataset, canonical_name, reader_accepts
from .datasets.folder import CAMERA_MODES, NAME as FOLDER_READER
from .generated_folders import append_extra_train_dirs
from .image_io import ImageDataset
from .samplers import RandomIdentitySampler
from .transforms import build_test_transform, build_train_transform

DEFAULT_CAMERAS = CAMERA_MODES[0]


def build_train_loader(items: Sequence[tuple], batch_size: int, num_instances: int = 4,
                       size: Sequence[int] = (256, 128), flip_prob: float = 0.5,
                       padding: int = 10, re_prob: float = 0.5, color_jitter: bool = False,
                       num_workers: int = 2, num_iters: int | None = None, seed: int = 0,
                       skip_unreadable: bool = True, transform: Callable | None = None,
                       labels: Sequence[int] | None = None) -> DataLoader:
    """Training loader over ``(path, label, camid)`` items.

    Args:
        items: training items; their pid field is the label used for sampling unless ``labels``.
        batch_size: images per batch.
        num_instances: K of the P x K identity sampler; 0 = plain shuffling (all items).
        num_iters: batches per iteration of the loader (None = one pass).
        seed: seeds the sampler and the workers' transforms.
        transform: overrides the transform built from size / flip / padding / erasing options.
        labels: sampling labels (e.g. pseudo-labels with -1 outliers) instead of item pids.
    """
    if transform is None:
        transform = build_train_transform(size, flip_prob, padding, re_prob, color_jitter)
    dataset = ImageDataset(items, transform, skip_unreadable=skip_unreadable)
    generator = torch.Generator().manual_seed(int(seed))
    if num_instances > 0:
        labels = [item[1] for item in items] if labels is None else list(labels)
        if len(labels) != len(items):
            raise ValueError(f"Got {len(labels)} labels for {len(items)} items")
        sampler = RandomIdentitySampler(labels, batch_size, num_instances, num_iters, seed)
    else:
        num_samples = None if num_iters is None else num_iters * batch_size
        sampler = torch.utils.data.RandomSampler(dataset, replacement=num_samples is not None
                                                 and num_samples > len(dataset),
                                                 num_samples=num_samples, generator=generator)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      drop_last=True, pin_memory=torch.cuda.is_available(), generator=generator,
                      persistent_workers=False)


def build_test_loader(items: Sequence[tuple], size: Sequence[int] = (256, 128),
                      batch_size: int = 128, num_workers: int = 2,
                      transform: Callable | None = None) -> DataLoader:
    """Evaluation loader in item order; an unreadable image raises, naming the file."""
    dataset = ImageDataset(items, transform or build_test_transform(size), skip_unreadable=False)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      drop_last=False, pin_memory=torch.cuda.is_available())


def build_dataset_from_cfg(cfg, source: bool = False, verbose: bool = True,
                           extra_train_dirs: bool = True, test_only: bool = False) -> ReIDDataset:
    """``build_dataset`` for ``DATASETS.NAME`` / ``ROOT`` (or ``SOURCE`` / ``SOURCE_ROOT``) with
    the reader options of the config (``DATASETS.MSMT_MERGE_VAL``; ``DATASETS.CAMERAS`` for the
    ``folder`` dataset, which also leaves out the structure-map cache and ``OUTPUT_DIR`` when they
    lie below its root); unless ``extra_train_dirs`` is False, the target's training list gets
    the images of ``DATASETS.EXTRA_TRAIN_DIRS`` appended. ``test_only``: query and gallery only
    (what evaluation reads; the training folder need not exist)."""
    name = cfg.DATASETS.SOURCE if source else cfg.DATASETS.NAME
    root = (cfg.DATASETS.SOURCE_ROOT or cfg.DATASETS.ROOT) if source else cfg.DATASETS.ROOT
    reader = canonical_name(name)
    options = {}
    if reader == "msmt17":
        options["merge_val"] = bool(cfg.DATASETS.MSMT_MERGE_VAL)
    if reader == FOLDER_READER:
        # A relative MESH.DIR (default "" = meshes) lies below the dataset folder, i.e. the root.
        options["cameras"] = str(cfg.DATASETS.CAMERAS)
        options["exclude"] = [os.path.join(root, str(cfg.MESH.DIR) or "meshes"), cfg.OUTPUT_DIR]
    elif cfg.DATASETS.CAMERAS != DEFAULT_CAMERAS and not source:
        raise ConfigError(f"DATASETS.CAMERAS {cfg.DATASETS.CAMERAS!r} applies to the "
                          f"'{FOLDER_READER}' dataset only; the cameras of '{name}' come from "
                          f"its file names (leave DATASETS.CAMERAS at {DEFAULT_CAMERAS!r})")
    if test_only and reader_accepts(name, "test_only"):
        options["test_only"] = True
    dataset = build_dataset(name, root, verbose=verbose, **options)
    if source and not dataset.train_labelled:
        raise ConfigError(f"DATASETS.SOURCE {name!r}: the source stage trains on identity "
                          f"labels, and this dataset has none; choose a labelled source dataset "
                          f"(market1501, dukemtmc, msmt17, generic)")
    if source or test_only or not extra_train_dirs:
        return dataset
    return append_extra_train_dirs(dataset, list(cfg.DATASETS.EXTRA_TRAIN_DIRS))


def build_train_loader_from_cfg(cfg, items: Sequence[tuple], batch_size: int,
                                num_iters: int | None = None, labels: Sequence[int] | None = None,
                                seed: int | None = None,
                                transform: Callable | None = None) -> DataLoader:
    """``build_train_loader`` with input, loader and dataset options from the config."""
    return build_train_loader(
        items, batch_size, num_instances=cfg.DATALOADER.NUM_INSTANCES, size=tuple(cfg.INPUT.SIZE),
        flip_prob=cfg.INPUT.FLIP_PROB, padding=cfg.INPUT.PADDING, re_prob=cfg.INPUT.RE_PROB,
        color_jitter=cfg.INPUT.COLOR_JITTER, num_workers=cfg.DATALOADER.NUM_WORKERS,
        num_iters=num_iters, seed=cfg.SEED if seed is None else seed,
        skip_unreadable=cfg.DATASETS.SKIP_UNREADABLE, transform=transform, labels=labels)


def build_test_loader_from_cfg(cfg, items: Sequence[tuple],
                               batch_size: int | None = None) -> DataLoader:
    """``build_test_loader`` with ``INPUT.SIZE``, ``TEST.BATCH_SIZE`` and
    ``DATALOADER.NUM_WORKERS``."""
    return build_test_loader(items, size=tuple(cfg.INPUT.SIZE),
                             batch_size=batch_size or cfg.TEST.BATCH_SIZE,
                             num_workers=cfg.DATALOADER.NUM_WORKERS)
