"""Reading images from disk, and the torch ``Dataset`` over ``(path, pid, camid)`` items.

Evaluation must see every image, so an unreadable one raises :class:`ImageReadError` naming the
file (the reader, :func:`common.image_io.read_image`, is shared with the mesh pipeline). Training
may instead skip it (``skip_unreadable=True``, config key ``DATASETS.SKIP_UNREADABLE``):
:func:`readable_training_indices` verifies a training list once up front so that unreadable
images can be dropped from it (count and first paths logged) before any reader sees them; an
image that turns unreadable later is replaced by another image of the same identity (or the next
readable item) and the skip is counted in a counter shared with the loader's worker processes.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional, Sequence

import numpy as np
from torch.utils.data import Dataset

from common.image_io import ImageReadError, read_image

__all__ = ["ImageDataset", "ImageReadError", "read_image", "readable_training_indices",
           "unreadable_images"]

logger = logging.getLogger(__name__)


def unreadable_images(paths: Sequence[str], workers: int = 4) -> list[tuple[str, str]]:
    """``(path, reason)`` of the images of ``paths`` that cannot be decoded, in order (each is
    read once, by ``workers`` threads)."""

    def problem(path: str) -> Optional[str]:
        try:
            read_image(path)
        except ImageReadError as err:
            return str(err)
        return None

    with ThreadPoolExecutor(max(1, min(workers, os.cpu_count() or 1))) as pool:
        reasons = list(pool.map(problem, paths))
    return [(path, reason) for path, reason in zip(paths, reasons) if reason is not None]


def readable_training_indices(items: Sequence[tuple], skip_unreadable: bool = True,
                              log: Optional[logging.Logger] = None, show: int = 5,
                              what: str = "training") -> list[int]:
    """Indices of the ``(path, pid, camid)`` items whose image decodes (reads each one once).

    With ``skip_unreadable`` (``DATASETS.SKIP_UNREADABLE``) the others are left out and their
    count and first ``show`` paths are logged; without it any unreadable image is an
    :class:`ImageReadError` naming it. A list without a single readable image is always an error.
    """
    bad = unreadable_images([item[0] for item in items])
    if not bad:
        return list(range(len(items)))
    first = "; ".join(reason for _, reason in bad[:show])
    more = f"; ... and {len(bad) - show} more" if len(bad) > show else ""
    if not skip_unreadable or len(bad) == len(items):
        advice = ("no readable image is left to train on" if skip_unreadable else
                  "set DATASETS.SKIP_UNREADABLE True to train without them")
        raise ImageReadError(bad[0][0], f"{len(bad)} of {len(items)} {what} images are "
                             f"unreadable ({first}{more}); {advice}")
    (log or logger).warning("skipping %d of %d %s images that cannot be read "
                            "(DATASETS.SKIP_UNREADABLE): %s%s", len(bad), len(items), what,
                            first, more)
    unreadable = {path for path, _ in bad}
    return [i for i, item in enumerate(items) if item[0] not in unreadable]


class ImageDataset(Dataset):
    """``(path, pid, camid)`` items as dicts ``{"img", "pid", "camid", "index", "path"}``.

    Args:
        items: list of ``(path, pid, camid)``.
        transform: applied to the PIL RGB image (``None`` = return the PIL image).
        skip_unreadable: replace unreadable images instead of raising (training only).
        max_replacements: give up (raise) after this many consecutive unreadable images.
        mp_context: start method (name or ``multiprocessing`` context) of the loader workers
            that will read the dataset, when not the platform's default: the skip counter they
            share must come from the same one.
    """

    def __init__(self, items: Sequence[tuple], transform: Callable | None = None,
                 skip_unreadable: bool = False, max_replacements: int = 50,
                 mp_context=None) -> None:
        self.items = list(items)
        self.transform = transform
        self.skip_unreadable = skip_unreadable
        self.max_replacements = max_replacements
        # Shared with DataLoader workers (handed over at process start), so counts survive them.
        if mp_context is None or isinstance(mp_context, str):
            mp_context = multiprocessing.get_context(mp_context)
        self._skipped = mp_context.Value("l", 0)
        self._by_pid: dict[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def num_skipped(self) -> int:
        """How many unreadable images have been skipped so far (all workers together)."""
        return int(self._skipped.value)

    def _same_identity(self) -> dict[int, np.ndarray]:
        if self._by_pid is None:
            pids = np.asarray([item[1] for item in self.items], dtype=np.int64)
            order = np.argsort(pids, kind="stable")
            uniq, starts = np.unique(pids[order], return_index=True)
            self._by_pid = dict(zip(uniq.tolist(), np.split(order, starts[1:])))
        return self._by_pid

    def _replacement(self, index: int, attempt: int) -> int:
        """Another item to use instead of ``index``: same identity when possible, else the next."""
        pid = int(self.items[index][1])
        group = self._same_identity().get(pid) if pid >= 0 else None
        if group is not None and len(group) > attempt + 1:
            pos = int(np.searchsorted(group, index)) if index in group else 0
            return int(group[(pos + attempt + 1) % len(group)])
        return (index + 1) % len(self.items)

    def __getitem__(self, index: int) -> dict:
        current = int(index)
        for attempt in range(self.max_replacements + 1):
            path, pid, camid = self.items[current]
            try:
                img = read_image(path)
            except ImageReadError as err:
                if not self.skip_unreadable:
                    raise
                with self._skipped.get_lock():
                    self._skipped.value += 1
                logger.warning("Skipping unreadable training image (%s)", err)
                current = self._replacement(int(index), attempt)
                continue
            if self.transform is not None:
                img = self.transform(img)
            return {"img": img, "pid": int(pid), "camid": int(camid), "index": current,
                    "path": path}
        raise ImageReadError(self.items[int(index)][0],
                             f"it and {self.max_replacements} replacement images are unreadable")

    def check_readable(self) -> list[str]:
        """Paths whose image cannot be decoded (reads every image once; for up-front checks)."""
        return [path for path, _ in unreadable_images([item[0] for item in self.items])]
