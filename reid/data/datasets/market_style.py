"""Readers for folders in the Market-1501 layout: ``bounding_box_train``, ``query``,
``bounding_box_test``, identity and camera encoded in each file name.

Shared by Market-1501, DukeMTMC-reID, the generic (user cameras) and the synthetic readers.
Junk images (pid -1) are dropped everywhere; distractors (pid 0) are kept in the gallery only.
A broken symbolic link is listed like an image: in ``query`` / ``bounding_box_test`` it is an
:class:`~reid.data.image_io.ImageReadError` naming it (evaluation must see every image), in
``bounding_box_train`` it is an unreadable training image (skipped and counted when training).
"""
from __future__ import annotations

import os
import re
from typing import Pattern

from ..image_io import ImageReadError
from .base import DatasetFormatError, Item

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MARKET_SUBSETS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
JUNK_PID = -1
DISTRACTOR_PID = 0


def list_images(folder: str) -> list[str]:
    """Sorted image file names directly in ``folder``, broken symbolic links included (reading
    them is where they fail, naming the file; they are never left out silently)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries
                      if (e.is_file() or _is_broken_link(e))
                      and e.name.lower().endswith(IMAGE_EXTENSIONS))


def _is_broken_link(entry: os.DirEntry) -> bool:
    return entry.is_symlink() and not os.path.exists(entry.path)


def _check_test_image(path: str, subset: str) -> None:
    """An evaluation image (query / gallery) that is a broken link is an error naming it."""
    if subset != "train" and os.path.islink(path) and not os.path.exists(path):
        raise ImageReadError(path, f"broken symbolic link to '{os.readlink(path)}' in the "
                                   f"{subset} folder (evaluation needs every test image)")


def parse_market_style_folder(folder: str, pattern: Pattern[str], subset: str,
                              max_camera: int | None = None, example: str = "") -> list[Item]:
    """Read one sub-folder into ``(path, pid, camid)`` tuples.

    Args:
        folder: the sub-folder to read.
        pattern: regex whose first group is the pid (may be ``-1``) and second the 1-based camera.
        subset: ``train``, ``query`` or ``gallery``; distractors are kept only in ``gallery``.
        max_camera: largest valid camera number (None = no limit).
        example: an example valid file name, quoted in errors.

    Raises:
        DatasetFormatError: a file name that does not match ``pattern`` or has an invalid camera.
    """
    items: list[Item] = []
    hint = f" (expected names like '{example}')" if example else ""
    for name in list_images(folder):
        match = pattern.search(name)
        if match is None:
            raise DatasetFormatError(f"Image '{os.path.join(folder, name)}' does not follow the "
                                     f"naming rule {pattern.pattern!r}{hint}")
        pid, cam = int(match.group(1)), int(match.group(2))
        if cam < 1 or (max_camera is not None and cam > max_camera):
            limit = f"1..{max_camera}" if max_camera else ">= 1"
            raise DatasetFormatError(f"Image '{os.path.join(folder, name)}': camera {cam} is "
                                     f"outside {limit} (camera numbers are 1-based){hint}")
        if pid < JUNK_PID:
            raise DatasetFormatError(f"Image '{os.path.join(folder, name)}': invalid pid {pid}")
        if pid == JUNK_PID or (pid == DISTRACTOR_PID and subset != "gallery"):
            continue
        _check_test_image(os.path.join(folder, name), subset)
        items.append((os.path.join(folder, name), pid, cam - 1))
    return items


def read_market_style(dataset_dir: str, pattern: Pattern[str], max_camera: int | None,
                      example: str) -> dict[str, list[Item]]:
    """Read all three subsets of a Market-style dataset folder; empty subsets are an error."""
    subsets = {}
    for subset, sub in MARKET_SUBSETS.items():
        folder = os.path.join(dataset_dir, sub)
        items = parse_market_style_folder(folder, pattern, subset, max_camera, example)
        if not items:
            raise DatasetFormatError(_no_usable_images(folder, pattern, subset, example))
        subsets[subset] = items
    return subsets


def _no_usable_images(folder: str, pattern: Pattern[str], subset: str, example: str) -> str:
    """Why ``folder`` gave no item: no image at all, or only the pids that are dropped there."""
    pids = sorted({int(pattern.search(name).group(1)) for name in list_images(folder)})
    if not pids:
        return (f"No usable images in '{folder}': it holds no image (expected names like "
                f"'{example}')")
    meaning = {JUNK_PID: "-1 = junk, ignored everywhere",
               DISTRACTOR_PID: "0 = distractor, used only in the gallery"}
    lowest = DISTRACTOR_PID if subset == "gallery" else DISTRACTOR_PID + 1
    return (f"No usable images in '{folder}': every image has pid "
            f"{' or '.join(map(str, pids))} ({'; '.join(meaning[p] for p in pids)}); the "
            f"{subset} subset needs pids >= {lowest} (expected names like '{example}')")


MARKET_PATTERN = re.compile(r"([-\d]+)_c(\d)")
GENERIC_PATTERN = re.compile(r"^([-\d]+)_c(\d+)")
