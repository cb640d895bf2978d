"""Ground-truth novel views of the synthetic training images, for evaluation only.

The generator knows every training image's body, clothing, pose, camera and background, so it
renders the same person rotated by each novel angle with full appearance, over the same
background and light, exactly where the structure maps hold the grey version:

    DIR/ground_truth_views/render_<angle>/<training image file name>

(angles of the dataset's structure maps other than 0: at 0 the training image is its own ground
truth). Nothing that trains reads this folder: it exists so that generated views x'_new can be
scored against the views they should be (``reid.evaluation.view_fidelity``,
``tools/eval_views.py``). The silhouette of a view is where its structure map (a grey body on
white) is darker than the background.
"""
from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np

from ..rotation import ORIGINAL_VIEW
from .layout import GROUND_TRUTH_FOLDER, MARKER


def ground_truth_dir(dataset_dir: str) -> str:
    """The evaluation-only folder of ground-truth novel views of a synthetic dataset."""
    return os.path.join(os.fspath(dataset_dir), GROUND_TRUTH_FOLDER)


def ground_truth_path(dataset_dir: str, filename: str, angle: int) -> str:
    """Where the ground-truth view of training image ``filename`` rotated by ``angle`` is."""
    if int(angle) == ORIGINAL_VIEW:
        raise ValueError("the ground truth of the original view (0 degrees) is the training "
                         "image itself; ground_truth_views holds the rotated views only")
    return os.path.join(ground_truth_dir(dataset_dir), f"render_{int(angle)}",
                        os.path.basename(filename))


def ground_truth_angles(dataset_dir: str) -> tuple[int, ...]:
    """The rotations a complete synthetic dataset has ground-truth views of (empty when it has
    none: made without them, or by a generator that did not write them)."""
    marker = os.path.join(os.fspath(dataset_dir), MARKER)
    try:
        with open(marker, "r", encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return ()
    return tuple(int(a) for a in record.get("ground_truth_angles", ()))


def read_ground_truth_views(dataset_dir: str, filenames: Sequence[str], angle: int) -> np.ndarray:
    """(N, H, W, 3) uint8 ground-truth views of ``filenames`` at ``angle``; a missing file is a
    FileNotFoundError naming it and the angles the dataset has."""
    from PIL import Image

    out = []
    for name in filenames:
        path = ground_truth_path(dataset_dir, name, angle)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no ground-truth view {path}; this dataset has ground-truth views at "
                f"{list(ground_truth_angles(dataset_dir)) or 'no angle'} (made by "
                "tools/make_synthetic.py with --ground-truth-views)")
        with Image.open(path) as image:
            out.append(np.asarray(image.convert("RGB")))
    return np.stack(out)


__all__ = ["ground_truth_angles", "ground_truth_dir", "ground_truth_path",
           "read_ground_truth_views"]
