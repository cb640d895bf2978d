"""The structure-map pipeline behind ``tools/prepare_meshes.py``.

For every dataset image: HMR regressor -> SMPL mesh -> project convention -> 8 rotations about
the vertical axis -> grey structure maps -> the cache (:class:`mesh.structure_cache.StructureMapCache`).
Training images go to split ``train``, query and gallery images to split ``test``. Images whose
8 maps all exist are skipped, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import logging
import os
from typing import Iterable, Sequence

import numpy as np
import torch

from .hmr import HMRRegressor, hmr_to_project
from .rotation import rotate_views
from .structure_cache import ANGLES, SPLITS, StructureMapCache

_logger = logging.getLogger("mesh")


def dataset_splits(dataset) -> dict[str, list[str]]:
    """``{"train": train image paths, "test": query + gallery image paths}`` (unique names)."""
    def unique(items: Iterable[tuple]) -> list[str]:
        seen, paths = set(), []
        for path, *_ in items:
            name = os.path.basename(path)
            if name not in seen:
                seen.add(name)
                paths.append(path)
        return paths

    return {"train": unique(dataset.train),
            "test": unique(list(dataset.query) + list(dataset.gallery))}


def resolve_mesh_dir(mesh_dir: str, dataset_root: str) -> str:
    """``MESH.DIR``, or ``<dataset folder>/meshes`` when empty."""
    return mesh_dir or os.path.join(dataset_root, "meshes")


def load_crops(paths: Sequence[str], size: tuple[int, int]) -> torch.Tensor:
    """Person crops as a (B, 3, H, W) tensor in [-1, 1], resized to ``size``."""
    from reid.data import read_image

    arrays = [np.asarray(read_image(p).convert("RGB").resize((size[1], size[0])), np.uint8)
              for p in paths]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


class StructureMapPreparer:
    """Runs regressor, body model, rotation and renderer over image batches into the cache."""

    def __init__(self, regressor: HMRRegressor, body, cache: StructureMapCache,
                 renderer: str = "auto", device: str | torch.device = "cpu",
                 batch_size: int = 32, angles: Sequence[int] = ANGLES,
                 image_size: tuple[int, int] = (256, 128)):
        self.device = torch.device(device)
        self.regressor = regressor.to(self.device).eval()
        self.body = body.to(self.device)
        self.cache = cache
        self.renderer = renderer
        self.batch_size = max(1, int(batch_size))
        self.angles = tuple(int(a) for a in angles)
        self.image_size = tuple(int(s) for s in image_size)

    def pending(self, split: str, paths: Sequence[str]) -> list[str]:
        """The images that still lack at least one of their maps."""
        return [p for p in paths if not self.cache.complete(split, p, self.angles)]

    @torch.no_grad()
    def render_batch(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) crops in [-1, 1] -> (B, A, 1, H, W) structure maps in [0, 1]."""
        from .render import render_structure_maps

        estimate = self.regressor(images.to(self.device))
        out = self.body(pose=estimate["pose"], shape=estimate["betas"])
        out.check("regressed SMPL mesh")
        vertices, camera = hmr_to_project(out.vertices, estimate["camera"])
        rotated, cameras = rotate_views(vertices, camera, self.angles, self.image_size)
        batch, num_angles, num_vertices = rotated.shape[:3]
        maps = render_structure_maps(rotated.reshape(batch * num_angles, num_vertices, 3),
                                     out.faces, cameras.reshape(-1, 3), self.image_size,
                                     backend=self.renderer)
        return maps.reshape(batch, num_angles, 1, *maps.shape[-2:])

    def run(self, split: str, paths: Sequence[str], progress: bool = True) -> dict[str, int]:
        """Render every pending image of ``split``; returns ``{"done", "skipped"}`` counts."""
        from tqdm import tqdm

        todo = self.pending(split, paths)
        skipped = len(paths) - len(todo)
        if skipped:
            _logger.info("%s: %d of %d images already have all %d maps (skipped)", split,
                         skipped, len(paths), len(self.angles))
        bar = tqdm(total=len(todo), desc=f"structure maps [{split}]", unit="img",
                   disable=not progress)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            maps = self.render_batch(load_crops(chunk, self.image_size)).cpu()
            for path, views in zip(chunk, maps):
                self.cache.write_views(split, path, views, self.angles)
            bar.update(len(chunk))
        bar.close()
        return {"done": len(todo), "skipped": skipped}


def check_structure_maps(cache: StructureMapCache, splits: dict[str, Sequence[str]],
                         angles: Sequence[int] = ANGLES) -> tuple[list[str], list[str]]:
    """Missing and unreadable maps (relative paths) over all ``splits``."""
    missing, unreadable = [], []
    for split, paths in splits.items():
        miss, bad = cache.check(split, paths, angles)
        missing += miss
        unreadable += bad
    return missing, unreadable


def format_problems(missing: list[str], unreadable: list[str], mesh_dir: str,
                    limit: int = 20) -> str:
    lines = []
    for title, names in (("missing", missing), ("unreadable", unreadable)):
        if names:
            lines.append(f"{len(names)} {title} structure maps in {mesh_dir}; first "
                         f"{min(limit, len(names))}:")
            lines += [f"  {n}" for n in names[:limit]]
    return "\n".join(lines)


def prepare_structure_maps(cfg, checkpoint: str = "", smpl_dir: str = "",
                           splits: Sequence[str] = SPLITS, batch_size: int | None = None,
                           check_only: bool = False, progress: bool = True) -> int:
    """Run (or ``check_only``: audit) the pipeline for the dataset of ``cfg``; returns an exit
    code: 0 = every map present and readable, 1 = problems (reported by name)."""
    from reid.data import build_dataset
    from common import resolve_device

    from .body import build_body_model

    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"--splits: unknown split(s) {unknown}; expected some of {SPLITS}")
    dataset = build_dataset(cfg.DATASETS.NAME, cfg.DATASETS.ROOT)
    all_paths = dataset_splits(dataset)
    wanted = {s: all_paths[s] for s in splits}
    mesh_dir = resolve_mesh_dir(cfg.MESH.DIR, dataset.root)
    cache = StructureMapCache(mesh_dir)
    size = tuple(cfg.INPUT.SIZE)
    if not check_only:
        checkpoint = checkpoint or cfg.MESH.HMR_CHECKPOINT
        smpl_dir = smpl_dir or cfg.MESH.SMPL_DIR
        regressor = HMRRegressor()
        report = regressor.load_checkpoint(checkpoint)
        if not report.clean:
            _logger.warning("HMR checkpoint does not match the regressor completely:\n%s",
                            report.summary())
        body = build_body_model("smpl", smpl_dir=smpl_dir, gender=cfg.MESH.SMPL_GENDER)
        preparer = StructureMapPreparer(
            regressor, body, cache, renderer=cfg.MESH.RENDERER,
            device=resolve_device(cfg.MODEL.DEVICE),
            batch_size=batch_size or cfg.MESH.BATCH_SIZE, image_size=size)
        for split, paths in wanted.items():
            stats = preparer.run(split, paths, progress=progress)
            _logger.info("%s: rendered %d images, skipped %d, cache %s", split, stats["done"],
                         stats["skipped"], mesh_dir)
    missing, unreadable = check_structure_maps(cache, wanted)
    if missing or unreadable:
        _logger.error(format_problems(missing, unreadable, mesh_dir))
        return 1
    count = sum(len(p) for p in wanted.values())
    _logger.info("all %d structure maps of %d images present and readable in %s",
                 count * len(ANGLES), count, mesh_dir)
    return 0
