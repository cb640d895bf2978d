"""The embedded synthetic dataset of a ReID config, made on first use (``DATASETS.NAME synthetic``)."""
from __future__ import annotations

import logging

from common import resolve_device
from mesh.synthetic.dataset import (check_output_folder, check_settings, is_complete,
                                    make_synthetic_dataset, synthetic_dataset_dir)

from .structure_maps import view_angles_of

_logger = logging.getLogger(__name__)


def ensure_synthetic_dataset(cfg) -> str:
    """Create the synthetic dataset of ``cfg`` (``DATASETS.ROOT`` + ``DATASETS.SYNTHETIC.*``,
    structure maps at 0 and ``MESH.ANGLES``) unless a complete one with the same settings exists;
    returns its folder.

    A dataset the generator was writing when it was interrupted (its in-progress marker, no
    completion marker) is cleared and rebuilt; a non-empty folder it did not write is refused
    (:class:`ForeignFolderError`) and left as it is.
    """
    syn = cfg.DATASETS.SYNTHETIC
    out_dir = synthetic_dataset_dir(cfg.DATASETS.ROOT)
    expected = {"num_ids": int(syn.IDS), "num_cameras": int(syn.CAMERAS),
                "images_per_camera": int(syn.IMAGES_PER_ID_PER_CAMERA), "seed": int(syn.SEED)}
    if is_complete(out_dir, expected):
        return out_dir
    check_settings(expected["num_ids"], expected["num_cameras"], expected["images_per_camera"],
                   tuple(cfg.INPUT.SIZE), renderer=cfg.MESH.RENDERER)
    check_output_folder(out_dir)
    _logger.info("synthetic dataset missing or incomplete in %s: generating %d identities x %d "
                 "cameras", out_dir, expected["num_ids"], expected["num_cameras"])
    device = resolve_device(cfg.MODEL.DEVICE)
    make_synthetic_dataset(out_dir, num_ids=expected["num_ids"],
                           num_cameras=expected["num_cameras"],
                           images_per_camera=expected["images_per_camera"],
                           seed=expected["seed"], image_size=tuple(cfg.INPUT.SIZE),
                           device=str(device), renderer=cfg.MESH.RENDERER,
                           cache_dir=cfg.CACHE_DIR or None, angles=view_angles_of(cfg))
    return out_dir
