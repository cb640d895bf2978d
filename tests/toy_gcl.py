"""Tiny GCL training set-ups shared by the engine and distributed tests."""
import os

import numpy as np

from mesh.structure_cache import StructureMapCache
from reid.config import load_config
from reid.data import build_dataset, make_toy_reid_folder


def write_toy_structure_maps(root: str, items, split: str = "train") -> None:
    """Simple structure maps: a grey ellipse whose width changes with the angle."""
    cache = StructureMapCache(os.path.join(root, "meshes"))
    h, w = 256, 128
    yy, xx = np.mgrid[0:h, 0:w]
    for path, pid, _ in items:
        maps = []
        for angle in cache.ANGLES:
            half_width = 20 + 14 * abs(np.cos(np.deg2rad(angle))) + pid % 3
            inside = ((xx - w / 2) / half_width) ** 2 + ((yy - h / 2) / 110) ** 2 <= 1
            m = np.full((h, w), 255, np.uint8)
            m[inside] = 90 + (yy[inside] * 100 // h)
            maps.append(m)
        cache.write_views(split, os.path.basename(path), np.stack(maps))


def make_toy_gcl_root(root: str, num_ids: int = 16) -> str:
    make_toy_reid_folder(root, num_ids=num_ids, num_cameras=3, images_per_id_per_camera=2,
                         size=(64, 32), layout="generic", seed=3)
    write_toy_structure_maps(root, build_dataset("generic", root, verbose=False).train)
    return root


def toy_overrides(root: str, out: str) -> list:
    return ["DATASETS.NAME", "generic", "DATASETS.ROOT", root, "OUTPUT_DIR", out,
            "MESH.DIR", os.path.join(root, "meshes"),
            "MODEL.DEVICE", "cpu", "MODEL.BACKBONE", "resnet18", "INPUT.SIZE", "(128, 64)",
            "INPUT.PADDING", "2", "MODEL.STRUCTURE_DIM", "16", "MODEL.DISC_BASE_CHANNELS", "8",
            "DATALOADER.NUM_WORKERS", "0", "DATALOADER.NUM_INSTANCES", "2",
            "SOLVER.BASELINE.NUM_INSTANCES", "0",  # K of DATALOADER (the paper configs say 16)
            "SOLVER.BASELINE.EPOCHS", "1", "SOLVER.BASELINE.ITERS_PER_EPOCH", "2",
            "SOLVER.BASELINE.BATCH_SIZE", "8", "SOLVER.GAN_WARMUP.EPOCHS", "1",
            "SOLVER.GAN_WARMUP.ITERS_PER_EPOCH", "2", "SOLVER.JOINT.EPOCHS", "2",
            "SOLVER.JOINT.ITERS_PER_EPOCH", "2", "SOLVER.GAN_WARMUP.BATCH_SIZE", "4",
            "SOLVER.JOINT.BATCH_SIZE", "4",
            "CLUSTER.K1", "6", "CLUSTER.K2", "2", "CLUSTER.MIN_SAMPLES", "2", "CLUSTER.EPS", "0.6",
            "GCL.NUM_NEGATIVES", "16", "TEST.BATCH_SIZE", "32", "TEST.FLIP", "False",
            "EXPORT.ENABLED", "False", "SEED", "5"]


def toy_cfg(root: str, out: str, *opts):
    return load_config(None, toy_overrides(root, out) + list(opts))
