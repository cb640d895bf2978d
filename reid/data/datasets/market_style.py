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
from typing import Mapping, Pattern, Sequence

from ..image_io import ImageReadError
from .base import DatasetFormatError, Item, ReIDDataset
from .layout import locate_dataset_dir, optional_group

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
                      example: str, subsets: Sequence[str] = tuple(MARKET_SUBSETS)
                      ) -> dict[str, list[Item]]:
    """Read ``subsets`` (default all three) of a Market-style dataset folder; an empty subset is
    an error, one not read is an empty list."""
    out: dict[str, list[Item]] = {}
    for subset, sub in MARKET_SUBSETS.items():
        if subset not in subsets:
            out[subset] = []
            continue
        folder = os.path.join(dataset_dir, sub)
        items = parse_market_style_folder(folder, pattern, subset, max_camera, example)
        if not items:
            raise DatasetFormatError(_no_usable_images(folder, pattern, subset, example))
        out[subset] = items
    return out


def read_market_style_dataset(name: str, root: str, folder_names: Sequence[str],
                              layout: Mapping[str, str], pattern: Pattern[str],
                              max_camera: int | None, example: str,
                              test_only: bool = False) -> ReIDDataset:
    """Locate and read a Market-style dataset.

    Training (``test_only`` False) needs ``bounding_box_train``; ``query`` and
    ``bounding_box_test`` come together or not at all (a train-only folder: evaluation is
    skipped). ``test_only`` (evaluation) needs and reads ``query`` and ``bounding_box_test`` only.
    """
    train_dir, query_dir, gallery_dir = (MARKET_SUBSETS[k] for k in ("train", "query", "gallery"))
    required = [query_dir, gallery_dir] if test_only else [train_dir]
    folder = locate_dataset_dir(name, root, folder_names, layout, required=required)
    if test_only:
        subsets: tuple[str, ...] = ("query", "gallery")
    elif optional_group(name, root, folder, layout, [query_dir, gallery_dir],
                        "evaluation"):
        subsets = tuple(MARKET_SUBSETS)
    else:
        subsets = ("train",)
    return ReIDDataset(name, folder, **read_market_style(folder, pattern, max_camera, example,
                                                         subsets))


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
