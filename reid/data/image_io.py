"""Reading images from disk, and the torch ``Dataset`` over ``(path, pid, camid)`` items.

Evaluation must see every image, so an unreadable one raises :class:`ImageReadError` naming the
file. Training may instead skip it (``skip_unreadable=True``, config key
``DATASETS.SKIP_UNREADABLE``): the item is replaced by another image of the same identity (or the
next readable item) and the skip is counted in a counter shared with the loader's worker processes.
"""
from __future__ import annotations

import logging
import multiprocessing
from typing import Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

logger = logging.getLogger(__name__)


class ImageReadError(OSError):
    """An image file that is missing or cannot be decoded."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Cannot read image '{path}': {reason}")
        self.path = path


def read_image(path: str) -> Image.Image:
    """Open ``path`` as a fully decoded RGB PIL image; :class:`ImageReadError` names the file."""
    try:
        with Image.open(path) as img:
            img.load()
            return img.convert("RGB")
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise ImageReadError(path, f"{type(err).__name__}: {err}") from None


class ImageDataset(Dataset):
    """``(path, pid, camid)`` items as dicts ``{"img", "pid", "camid", "index", "path"}``.

    Args:
        items: list of ``(path, pid, camid)``.
        transform: applied to the PIL RGB image (``None`` = return the PIL image).
        skip_unreadable: replace unreadable images instead of raising (training only).
        max_replacements: give up (raise) after this many consecutive unreadable images.
    """

    def __init__(self, items: Sequence[tuple], transform: Callable | None = None,
                 skip_unreadable: bool = False, max_replacements: int = 50) -> None:
        self.items = list(items)
        self.transform = transform
        self.skip_unreadable = skip_unreadable
        self.max_replacements = max_replacements
        # Shared with DataLoader workers (inherited at process start), so counts survive them.
        self._skipped = multiprocessing.Value("l", 0)
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
        bad = []
        for path, _, _ in self.items:
            try:
                read_image(path)
            except ImageReadError:
                bad.append(path)
        return bad
