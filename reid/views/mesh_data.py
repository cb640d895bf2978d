"""Training data of the GCL stages: an image, its structure map and a rotated structure map.

Each sample is ``{"img", "s_ori", "s_new", "angle", "index", "path"}``: the RGB image and its
original-view structure map go through the same random geometry (flip, pad + crop; none with
``flip_prob`` 0 and ``padding`` 0, as ``INPUT.GENERATIVE_AUGMENT False`` asks), and
``s_new`` is the map of one random rotation drawn per sample per iteration (one of the cache's
angles other than the original view: 45, ..., 315 degrees with the default ``MESH.ANGLES``),
transformed with the same flip so that left and right stay consistent. With
``skip_unreadable`` (``DATASETS.SKIP_UNREADABLE``) an image that cannot be read is replaced by
another of the same identity and counted, as in :class:`reid.data.ImageDataset`.
"""
from __future__ import annotations

import multiprocessing
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset

from mesh.rotation import ORIGINAL_VIEW, novel_view_angles
from mesh.structure_cache import StructureMapCache
from reid.data import ImageDataset, PairedTrainTransform


class ViewPairDataset(Dataset):
    """``angles``: the rotations ``s_new`` is drawn from (default: the cache's angles other than
    the original view); ``mp_context``: the start method of the workers that will read it (see
    :class:`reid.data.ImageDataset`)."""

    def __init__(self, items: Sequence[tuple], cache: StructureMapCache, split: str = "train",
                 size: Sequence[int] = (256, 128), flip_prob: float = 0.5, padding: int = 10,
                 angles: Sequence[int] | None = None, skip_unreadable: bool = False,
                 mp_context=None):
        self.items = list(items)
        self.images = ImageDataset(self.items, transform=None, skip_unreadable=skip_unreadable,
                                   mp_context=mp_context)
        self.cache = cache
        self.split = split
        self.angles = novel_view_angles(cache.angles) if angles is None else tuple(angles)
        self.paired = PairedTrainTransform(size, flip_prob=flip_prob, padding=padding, re_prob=0.0)
        self.size = tuple(size)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_skipped(self) -> int:
        """Unreadable images replaced so far (all loader workers together)."""
        return self.images.num_skipped

    def __getitem__(self, index: int) -> dict:
        sample = self.images[index]  # another item's image when this one is unreadable
        image, path, index = sample["img"], sample["path"], sample["index"]
        s_ori = Image.fromarray(self.cache.read(self.split, path, ORIGINAL_VIEW))
        angle = self.angles[int(torch.randint(len(self.angles), ()))]
        s_new = Image.fromarray(self.cache.read(self.split, path, angle))
        img_t, (s_ori_t, s_new_t) = self.paired.apply(image, [s_ori, s_new])
        return {"img": img_t, "s_ori": s_ori_t, "s_new": s_new_t, "angle": angle,
                "index": index, "path": path}


def build_view_loader(items: Sequence[tuple], cache: StructureMapCache, batch_size: int,
                      size: Sequence[int], num_workers: int, seed: int, split: str = "train",
                      flip_prob: float = 0.5, padding: int = 10, drop_last: bool = True,
                      sampler=None, skip_unreadable: bool = False,
                      angles: Sequence[int] | None = None,
                      indices: Sequence[int] | None = None,
                      start_method: str | None = None) -> DataLoader:
    """Loader over :class:`ViewPairDataset` (``angles``: see there), seeded by ``seed``;
    ``indices``: the items it draws from (default: all), each sample keeping its ``index`` in
    ``items`` (the memory row).

    ``start_method`` (:data:`START_METHODS`; None: the platform's default, ``fork`` on Linux)
    starts the ``num_workers`` processes. Forked workers start at once but map the whole
    training process (networks, memory bank, the heap of the last step): the pages the trainer
    rewrites afterwards are copied, so the workers keep a second copy of them. ``forkserver``
    (torch and this module preloaded in the server) and ``spawn`` workers are fresh processes
    of their own few hundred MB, and take seconds to start each epoch; they need the main
    script to guard its entry point (``if __name__ == "__main__"``) and everything the dataset
    holds to be picklable. The samples are the same whatever the start method.
    """
    context = _start_context(start_method)
    if num_workers == 0:  # no workers to start
        context = None
    dataset = ViewPairDataset(items, cache, split, size, flip_prob, padding, angles=angles,
                              skip_unreadable=skip_unreadable, mp_context=context)
    if indices is not None:
        dataset = Subset(dataset, [int(i) for i in indices])
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=sampler is None, sampler=sampler,
                      num_workers=num_workers, drop_last=drop_last and len(dataset) >= batch_size,
                      generator=generator, persistent_workers=False,
                      worker_init_fn=_seed_worker, pin_memory=torch.cuda.is_available(),
                      multiprocessing_context=context)


#: Start methods of the loader workers (``build_view_loader(start_method=...)``).
START_METHODS = ("fork", "forkserver", "spawn")


def _start_context(start_method: str | None):
    """The ``multiprocessing`` context of ``start_method`` (None for None: the platform's
    default); a forkserver preloads torch and this module, so that each worker need not import
    them."""
    if start_method is None:
        return None
    available = [m for m in START_METHODS if m in multiprocessing.get_all_start_methods()]
    if start_method not in available:
        raise ValueError(f"start_method {start_method!r}: expected one of {available} "
                         f"(or None for the platform's default)")
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(["torch", __name__])
    return context


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    import random

    random.seed(seed)
