"""Unlabelled images in any folder tree: ``DATASETS.NAME folder`` (or ``unlabelled``).

Every image below the folder (``DATASETS.ROOT``), at any depth and with any file name, is a
training image; identities are unknown (pid :data:`~reid.data.datasets.base.UNKNOWN_PID`), which
the unsupervised pipeline never needs. Camera ids (``DATASETS.CAMERAS``):

* ``folder``: one camera per immediate sub-folder of the root (``root/cam_a/**`` is one camera,
  ``root/cam_b/**`` another; images directly in the root form a camera of their own);
* ``single``: every image from one camera.

There is no query or gallery: training runs, evaluation is skipped. Sub-folders are part of each
image's place, so the structure maps keep them and equal file names in different folders keep
apart. Hidden folders (names starting with ``.``) and the folders in ``exclude`` (the structure-map
cache and the output folder when they lie below the root) are left out. A broken symbolic link is
listed like an image (an unreadable training image: skipped and counted when training).
"""
from __future__ import annotations

import os
from typing import Iterable

from reid.config.validation import DATASET_CAMERA_MODES

from .base import UNKNOWN_PID, DatasetFormatError, DatasetLayoutError, Item, ReIDDataset
from .market_style import IMAGE_EXTENSIONS, list_images
from .registry import register_dataset

#: ``DATASETS.CAMERAS``: how the ``folder`` dataset assigns camera ids.
CAMERA_MODES = DATASET_CAMERA_MODES
NAME = "folder"


def _check_camera_mode(cameras: str) -> str:
    if cameras not in CAMERA_MODES:
        raise ValueError(f"Dataset '{NAME}': cameras (DATASETS.CAMERAS) must be one of "
                         f"{', '.join(CAMERA_MODES)}; got {cameras!r}")
    return cameras


def list_image_tree(root: str, exclude: Iterable[str] = ()) -> list[str]:
    """Paths of every image below ``root``, sorted by their path relative to ``root``; hidden
    folders and the folders in ``exclude`` are left out."""
    skipped = {os.path.abspath(os.fspath(d)) for d in exclude if d}
    paths = []
    for folder, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.abspath(os.path.join(folder, d)) not in skipped)
        paths += [os.path.join(folder, name) for name in list_images(folder)]
    return sorted(paths, key=lambda p: os.path.relpath(p, root).split(os.sep))


def camera_ids(root: str, paths: list[str], cameras: str) -> list[int]:
    """0-based camera id of each path: its immediate sub-folder of ``root`` (``folder``; the
    root's own images first, then the sub-folders in name order) or 0 for all (``single``)."""
    if _check_camera_mode(cameras) == "single":
        return [0] * len(paths)
    groups = [os.path.relpath(p, root).split(os.sep)[0] if os.path.dirname(
        os.path.relpath(p, root)) else "" for p in paths]
    index = {name: i for i, name in enumerate(sorted(set(groups)))}
    return [index[g] for g in groups]


@register_dataset(NAME, "unlabelled", "unlabeled", "image_folder")
def read_image_folder(root: str, cameras: str = "folder", exclude: Iterable[str] = (),
                      test_only: bool = False) -> ReIDDataset:
    """Read every image below ``root`` as an unlabelled training image.

    Args:
        cameras: ``folder`` (one camera per immediate sub-folder) or ``single``.
        exclude: folders below ``root`` to leave out.
        test_only: refused: these images have no identities to evaluate with.
    """
    root = os.fspath(root)
    _check_camera_mode(cameras)
    if test_only:
        raise DatasetLayoutError(
            f"Dataset '{NAME}' ('{root}') holds unlabelled training images only; evaluation "
            f"needs query/ and bounding_box_test/ with identities in their file names: evaluate "
            f"on such a folder with DATASETS.NAME generic")
    if not os.path.isdir(root):
        raise DatasetLayoutError(f"Dataset '{NAME}': folder '{root}' does not exist (set "
                                 f"DATASETS.ROOT to the folder that holds the images)")
    paths = list_image_tree(root, exclude)
    if not paths:
        raise DatasetFormatError(f"Dataset '{NAME}': no images below '{root}' (looked for "
                                 f"{', '.join(IMAGE_EXTENSIONS)} files at any depth)")
    train: list[Item] = [(p, UNKNOWN_PID, cam)
                         for p, cam in zip(paths, camera_ids(root, paths, cameras))]
    return ReIDDataset(NAME, root, train, [], [], train_labelled=False,
                       nested_image_dirs=(root,))
