"""Contact sheet of a synthetic dataset: identities x cameras, and one image's structure maps."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from common.io import atomic_write_image

from ..structure_cache import StructureMapCache
from .layout import MESH_SPLIT, SUBSET_FOLDERS

PREVIEW_IDS = 8
GAP = 4


def write_preview(out_dir: str, plan, cache: StructureMapCache,
                  num_ids: int = PREVIEW_IDS) -> str:
    """Write ``<out_dir>/preview.png``; returns its path.

    Top: one row per identity (the first ``num_ids`` pids), one column per camera (its first
    image there; blank where the identity is not seen by that camera). Bottom: an image and its
    structure maps at the angles of ``cache``.
    """
    def load(i: int) -> np.ndarray:
        path = os.path.join(out_dir, SUBSET_FOLDERS[str(plan.subset[i])], str(plan.filename[i]))
        return np.asarray(Image.open(path).convert("RGB"))

    num_cameras = int(plan.camera.max()) + 1
    pids = sorted(set(plan.pid.tolist()))[:num_ids]
    first = 0
    tile_h, tile_w = load(first).shape[:2]
    cols = max(num_cameras, 1 + len(cache.angles))
    rows = len(pids) + 1
    sheet = np.full((rows * (tile_h + GAP) + GAP, cols * (tile_w + GAP) + GAP, 3), 255,
                    np.uint8)

    def place(r: int, c: int, tile: np.ndarray) -> None:
        y, x = GAP + r * (tile_h + GAP), GAP + c * (tile_w + GAP)
        sheet[y:y + tile_h, x:x + tile_w] = tile

    for r, pid in enumerate(pids):
        for cam in range(num_cameras):
            hits = np.nonzero((plan.pid == pid) & (plan.camera == cam))[0]
            if len(hits):
                place(r, cam, load(int(hits[0])))
    place(len(pids), 0, load(first))
    split = MESH_SPLIT[str(plan.subset[first])]
    for a, angle in enumerate(cache.angles):
        grey = cache.read(split, str(plan.filename[first]), angle)
        place(len(pids), a + 1, np.repeat(grey[:, :, None], 3, axis=2))
    path = os.path.join(out_dir, "preview.png")
    return atomic_write_image(path, sheet)
