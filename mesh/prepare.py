"""The structure-map pipeline: person crops -> HMR regressor -> SMPL mesh -> project convention
-> rotations about the vertical axis -> grey structure maps -> the cache
(:class:`mesh.structure_cache.StructureMapCache`).

Everything here takes explicit arguments: image paths per split (``train``: training images,
``test``: query and gallery images), the mesh folder, the HMR checkpoint, the SMPL folder and
gender, renderer, device, batch size, image size and angles. Images whose maps all exist are
skipped, so an interrupted run resumes where it stopped. Building these arguments from a ReID
config and its dataset is the ReID side's job (its views package, behind
``tools/prepare_meshes.py``).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from common import resolve_device
from common.image_io import read_image

from .hmr import HMRRegressor, hmr_to_project
from .rotation import VIEW_ANGLES, rotate_views
from .structure_cache import MAP_SIZE, StructureMapCache

_logger = logging.getLogger("mesh")


def load_crops(paths: Sequence[str], size: tuple[int, int]) -> torch.Tensor:
    """Person crops as a (B, 3, H, W) tensor in [-1, 1], resized to ``size``."""
    arrays = [np.asarray(read_image(p).convert("RGB").resize((size[1], size[0])), np.uint8)
              for p in paths]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


class StructureMapPreparer:
    """Runs regressor, body model, rotation and renderer over image batches into the cache."""

    def __init__(self, regressor: HMRRegressor, body, cache: StructureMapCache,
                 renderer: str = "auto", device: str | torch.device = "cpu",
                 batch_size: int = 32, angles: Sequence[int] = VIEW_ANGLES,
                 image_size: tuple[int, int] = MAP_SIZE):
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


def format_problems(missing: list[str], unreadable: list[str], mesh_dir: str,
                    limit: int = 20) -> str:
    lines = []
    for title, names in (("missing", missing), ("unreadable", unreadable)):
        if names:
            lines.append(f"{len(names)} {title} structure maps in {mesh_dir}; first "
                         f"{min(limit, len(names))}:")
            lines += [f"  {n}" for n in names[:limit]]
    return "\n".join(lines)


def prepare_structure_map_cache(paths_by_split: dict[str, Sequence[str]], mesh_dir: str,
                                checkpoint: str = "", smpl_dir: str = "",
                                smpl_gender: str = "neutral", renderer: str = "auto",
                                device: str = "cpu", batch_size: int = 32,
                                image_size: tuple[int, int] = MAP_SIZE,
                                angles: Sequence[int] = VIEW_ANGLES, check_only: bool = False,
                                progress: bool = True, image_dirs: Sequence[str] = ()) -> int:
    """Render (unless ``check_only``) and audit the maps of ``paths_by_split`` (``{split: image
    paths}``) in the cache at ``mesh_dir``; returns an exit code: 0 = every map present and
    readable, 1 = problems (logged by name). ``device``: auto | cpu | cuda | cuda:N.
    ``image_dirs``: the image folders whose sub-folders the maps keep
    (:class:`~mesh.structure_cache.StructureMapCache`)."""
    from .body import build_body_model

    angles = tuple(int(a) for a in angles)
    cache = StructureMapCache(mesh_dir, angles=angles, image_dirs=image_dirs)
    if not check_only:
        regressor = HMRRegressor()
        report = regressor.load_checkpoint(checkpoint)
        if not report.clean:
            _logger.warning("HMR checkpoint does not match the regressor completely:\n%s",
                            report.summary())
        body = build_body_model("smpl", smpl_dir=smpl_dir, gender=smpl_gender)
        preparer = StructureMapPreparer(regressor, body, cache, renderer=renderer,
                                        device=resolve_device(str(device)),
                                        batch_size=batch_size, angles=angles,
                                        image_size=image_size)
        for split, paths in paths_by_split.items():
            stats = preparer.run(split, paths, progress=progress)
            _logger.info("%s: rendered %d images, skipped %d, cache %s", split, stats["done"],
                         stats["skipped"], mesh_dir)
    missing, unreadable = cache.check_splits(paths_by_split)
    if missing or unreadable:
        _logger.error(format_problems(missing, unreadable, mesh_dir))
        return 1
    count = sum(len(p) for p in paths_by_split.values())
    _logger.info("all %d structure maps of %d images present and readable in %s",
                 count * len(angles), count, mesh_dir)
    return 0
