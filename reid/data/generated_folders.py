"""Folders of generated person images as extra unlabelled training data
(``DATASETS.EXTRA_TRAIN_DIRS``), in the Market-1501 layout that
:func:`reid.views.generated_folders.write_generated_views` writes::

    OUT/bounding_box_train/{pid:04d}_c{cam}s1_{src:06d}_{k:02d}.jpg
    OUT/manifest.json       (each file's source image)

A generated frame animates its source image (same body, camera and place in the crop), so it
uses the source's structure maps (``dataset.structure_map_sources``, read from the manifest):
the silhouette-masked clustering features (``CLUSTER.FOREGROUND_MASK``) and the generative
stages work on such folders as on the dataset itself. The frame's small motion is not
re-rendered. A folder without a manifest has no maps.
"""
from __future__ import annotations

import os
from typing import Sequence

from common.io import read_json_if_present
from reid.data.datasets.base import (UNKNOWN_PID, DatasetFormatError, DatasetLayoutError,
                                     ReIDDataset)
from reid.data.datasets.market_style import GENERIC_PATTERN, parse_market_style_folder

TRAIN_FOLDER = "bounding_box_train"
MANIFEST = "manifest.json"
EXAMPLE_NAME = "0002_c1s1_000451_00.jpg"


def generated_view_name(pid: int, camid: int, source_index: int, view: int) -> str:
    """File name of view ``view`` of training image ``source_index`` (0-based ``camid``)."""
    if pid < 1:
        raise ValueError(f"generated views need a source pid >= 1 (pid 0 / -1 are dropped from "
                         f"training sets by the Market-style readers); got {pid}")
    return f"{pid:04d}_c{camid + 1}s1_{source_index:06d}_{view:02d}.jpg"


def read_generated_folder(folder: str) -> list[tuple]:
    """``(path, raw pid, camid)`` of the images of one extra folder: ``folder/bounding_box_train``
    when it exists, else ``folder`` itself. Missing or empty folders are an error."""
    if not os.path.isdir(folder):
        raise DatasetLayoutError(f"DATASETS.EXTRA_TRAIN_DIRS: '{folder}' is not a folder (expected "
                                 f"the output of tools/generate_views.py, with {TRAIN_FOLDER}/)")
    images = os.path.join(folder, TRAIN_FOLDER)
    images = images if os.path.isdir(images) else folder
    items = parse_market_style_folder(images, GENERIC_PATTERN, "train", None, EXAMPLE_NAME)
    if not items:
        raise DatasetFormatError(f"DATASETS.EXTRA_TRAIN_DIRS: no usable images in '{images}' "
                                 f"(expected names like '{EXAMPLE_NAME}')")
    return items


def read_structure_map_sources(folder: str) -> dict[str, str]:
    """``{generated image path: its source image path}`` from ``folder/manifest.json``; empty
    when the folder has no manifest. A manifest that is not the generator's is an error naming
    the file and the entry."""
    path = os.path.join(folder, MANIFEST)
    try:
        manifest = read_json_if_present(path)
        if manifest is None:
            return {}
        return {os.path.join(folder, entry["file"]): entry["source"]
                for entry in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetFormatError(f"DATASETS.EXTRA_TRAIN_DIRS: {path} is not a manifest of "
                                 f"tools/generate_views.py (expected 'files' entries with 'file' "
                                 f"and 'source'; {type(exc).__name__}: {exc})") from None


def append_extra_train_dirs(dataset: ReIDDataset, folders: Sequence[str]) -> ReIDDataset:
    """``dataset`` with the images of ``folders`` appended to its training list (raw pids kept
    for monitoring and relabelled with the rest; of an unlabelled dataset, the appended images
    are unlabelled too); query and gallery unchanged. ``structure_map_sources`` maps each
    appended image that has a manifest entry to its source image (:func:`read_structure_map_sources`)."""
    if not folders:
        return dataset
    extra = [item for folder in folders for item in read_generated_folder(folder)]
    if not dataset.train_labelled:
        extra = [(path, UNKNOWN_PID, cam) for path, _, cam in extra]
    train = [(path, raw, cam) for (path, _, cam), raw in zip(dataset.train,
                                                             dataset.train_original_pids)]
    merged = ReIDDataset(dataset.name, dataset.root, train + extra, dataset.query, dataset.gallery,
                         train_labelled=dataset.train_labelled,
                         nested_image_dirs=dataset.nested_image_dirs)
    for key, value in vars(dataset).items():  # reader-specific extras survive
        if key not in vars(merged):
            setattr(merged, key, value)
    sources = dict(getattr(dataset, "structure_map_sources", None) or {})
    for folder in folders:
        sources.update(read_structure_map_sources(folder))
    merged.structure_map_sources = sources
    merged.extra_train_dirs = list(folders)
    merged.num_extra_train = len(extra)
    return merged
