"""The embedded synthetic dataset of a ReID config, made on first use (``DATASETS.NAME synthetic``)."""
from __future__ import annotations

import logging

from common import resolve_device
from mesh.rotation import ORIGINAL_VIEW
from mesh.synthetic.dataset import (check_output_folder, check_settings, is_complete,
                                    make_synthetic_dataset, synthetic_dataset_dir)

from .structure_maps import view_angles_of

_logger = logging.getLogger(__name__)


def synthetic_settings(cfg) -> dict:
    """The generator settings of ``cfg``'s ``DATASETS.SYNTHETIC`` (as its completion marker
    records them): identities in all and training ones, cameras, images, seed and, when set,
    the training images in all (``TRAIN_IMAGES``) and the angles of the ground-truth views."""
    syn = cfg.DATASETS.SYNTHETIC
    if int(syn.TRAIN_IDS) > 0:
        num_ids, train_ids = int(syn.TRAIN_IDS) + int(syn.TEST_IDS), int(syn.TRAIN_IDS)
    else:
        num_ids = int(syn.IDS)
        train_ids = num_ids // 2
    settings = {"num_ids": num_ids, "train_ids": train_ids, "num_cameras": int(syn.CAMERAS),
                "images_per_camera": int(syn.IMAGES_PER_ID_PER_CAMERA), "seed": int(syn.SEED)}
    if int(syn.TRAIN_IMAGES):  # 0 is implied (is_complete compares it always)
        settings["train_images_setting"] = int(syn.TRAIN_IMAGES)
    if syn.GROUND_TRUTH_VIEWS:  # a dataset with them also serves a config that does not ask
        settings["ground_truth_angles"] = [a for a in view_angles_of(cfg) if a != ORIGINAL_VIEW]
    return settings


def ensure_synthetic_dataset(cfg, workers: int = 1) -> str:
    """Create the synthetic dataset of ``cfg`` (``DATASETS.ROOT`` + ``DATASETS.SYNTHETIC.*``,
    structure maps at 0 and ``MESH.ANGLES``, the evaluation-only ground-truth views) unless a
    complete one with the same settings exists; returns its folder.

    ``workers``: rendering processes on the CPU (the same files for any count; see
    :func:`mesh.synthetic.make_synthetic_dataset`).

    A dataset the generator was writing when it was interrupted (its in-progress marker, no
    completion marker) is cleared and rebuilt; a non-empty folder it did not write is refused
    (:class:`ForeignFolderError`) and left as it is.
    """
    out_dir = synthetic_dataset_dir(cfg.DATASETS.ROOT)
    expected = synthetic_settings(cfg)
    if is_complete(out_dir, expected):
        return out_dir
    check_settings(expected["num_ids"], expected["num_cameras"], expected["images_per_camera"],
                   tuple(cfg.INPUT.SIZE), renderer=cfg.MESH.RENDERER,
                   num_train_ids=expected["train_ids"],
                   train_images=expected.get("train_images_setting", 0))
    check_output_folder(out_dir)
    _logger.info("synthetic dataset missing or incomplete in %s: generating %d training and %d "
                 "test identities x %d cameras", out_dir, expected["train_ids"],
                 expected["num_ids"] - expected["train_ids"], expected["num_cameras"])
    device = resolve_device(cfg.MODEL.DEVICE)
    make_synthetic_dataset(out_dir, num_ids=expected["num_ids"],
                           num_train_ids=expected["train_ids"],
                           num_cameras=expected["num_cameras"],
                           images_per_camera=expected["images_per_camera"],
                           seed=expected["seed"], image_size=tuple(cfg.INPUT.SIZE),
                           device=str(device), renderer=cfg.MESH.RENDERER,
                           cache_dir=cfg.CACHE_DIR or None, angles=view_angles_of(cfg),
                           ground_truth_views=bool(cfg.DATASETS.SYNTHETIC.GROUND_TRUTH_VIEWS),
                           train_images=expected.get("train_images_setting", 0),
                           workers=workers if device.type == "cpu" else 1)
    return out_dir
