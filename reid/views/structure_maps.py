"""Mesh views: the structure-map cache of a ReID config and its dataset, the check that every
training image has its maps, and the config-aware preparation of the cache
(``tools/prepare_meshes.py``) on top of the explicit-argument pipeline of :mod:`mesh.prepare`."""
from __future__ import annotations

import logging
import os
from typing import Iterable, Sequence

from mesh.rotation import ORIGINAL_VIEW
from mesh.structure_cache import SPLITS, StructureMapCache, resolve_mesh_dir, structure_map_key

_logger = logging.getLogger("reid")
_WARNED_MESH_DIRS: set = set()


class MissingStructureMapsError(FileNotFoundError):
    """Training images whose structure maps are not in the cache."""


def view_angles_of(cfg) -> tuple[int, ...]:
    """The structure-map viewpoints of ``cfg``: the original view, then ``MESH.ANGLES``."""
    return (ORIGINAL_VIEW,) + tuple(int(a) for a in cfg.MESH.ANGLES)


def mesh_dir_of(cfg, dataset) -> str:
    """The structure-map folder of ``cfg`` for the located dataset folder ``dataset.root`` (the
    one ``DATASETS.ROOT`` leads to): an absolute ``MESH.DIR`` as given, a relative one below the
    dataset folder, ``""`` = ``<dataset folder>/meshes``.

    A relative ``MESH.DIR`` that is missing below the dataset folder but present below the
    working folder (what it meant before) is used from there, with a warning (once per folder)."""
    mesh_dir = str(cfg.MESH.DIR)
    if not mesh_dir or os.path.isabs(mesh_dir):
        return resolve_mesh_dir(mesh_dir, dataset.root)
    below = os.path.join(dataset.root, mesh_dir)
    if not os.path.isdir(below) and os.path.isdir(mesh_dir):
        if mesh_dir not in _WARNED_MESH_DIRS:
            _WARNED_MESH_DIRS.add(mesh_dir)
            _logger.warning("MESH.DIR %s: not below the dataset folder %s, using it relative to the "
                            "working folder; a relative MESH.DIR lies below the dataset folder "
                            "(write it that way, or as an absolute path)", mesh_dir, dataset.root)
        return mesh_dir
    return below


def structure_cache_for(cfg, dataset) -> StructureMapCache:
    """The structure-map cache of :func:`mesh_dir_of` (default ``<dataset folder>/meshes``, as
    ``tools/prepare_meshes.py`` writes it), with the viewpoints of :func:`view_angles_of`.

    Maps are expected at ``INPUT.SIZE``, the size every reader brings them to: maps of that size
    are used as they are; others are resized once, with a warning that names both sizes. Below
    the dataset's ``nested_image_dirs`` (MSMT17, the folder dataset) the maps keep the images'
    sub-folders; elsewhere they are found by file name (Market-1501, DukeMTMC-reID). Generated
    frames of ``DATASETS.EXTRA_TRAIN_DIRS`` use the maps of the image they animate
    (``dataset.structure_map_sources``, from each folder's manifest)."""
    size = (int(cfg.INPUT.SIZE[0]), int(cfg.INPUT.SIZE[1]))
    return StructureMapCache(mesh_dir_of(cfg, dataset), size=size, angles=view_angles_of(cfg),
                             image_dirs=getattr(dataset, "nested_image_dirs", ()),
                             sources=getattr(dataset, "structure_map_sources", None))


def check_structure_maps(cache: StructureMapCache, items: Sequence[tuple], split: str = "train",
                         angles: Sequence[int] | None = None, show: int = 10) -> None:
    """Fail before training starts when any image of ``items`` lacks a structure map at one of
    ``angles`` (default: the cache's), naming the first ones and the count; one map is read, so
    that maps of another size are reported (once) before the loaders start."""
    angles = cache.angles if angles is None else tuple(angles)
    names = [item[0] for item in items]
    missing = cache.missing(split, names, angles)
    if missing:
        raise MissingStructureMapsError(
            f"{len(missing)} structure maps are missing from {cache.mesh_dir}/{split} "
            f"(first: {', '.join(missing[:show])}). Create them with "
            f"`python tools/prepare_meshes.py --config CFG --checkpoint HMR.pth --smpl-dir DIR`, "
            f"or set MESH.DIR to the folder of the released renders.")
    if names:
        cache.read(split, names[0], angles[0])


def dataset_splits(dataset) -> dict[str, list[str]]:
    """``{"train": train image paths, "test": query + gallery image paths}``, one path per
    structure-map place (:func:`~mesh.structure_cache.structure_map_key`)."""
    image_dirs = getattr(dataset, "nested_image_dirs", ())

    def unique(items: Iterable[tuple]) -> list[str]:
        seen, paths = set(), []
        for path, *_ in items:
            name = structure_map_key(path, image_dirs)
            if name not in seen:
                seen.add(name)
                paths.append(path)
        return paths

    return {"train": unique(dataset.train),
            "test": unique(list(dataset.query) + list(dataset.gallery))}


def prepare_structure_maps(cfg, checkpoint: str = "", smpl_dir: str = "",
                           splits: Sequence[str] = SPLITS, batch_size: int | None = None,
                           check_only: bool = False, progress: bool = True) -> int:
    """Render (or ``check_only``: audit) the structure maps of the dataset of ``cfg``
    (:func:`reid.data.build.build_dataset_from_cfg`) at 0 and ``MESH.ANGLES`` into
    :func:`structure_cache_for`'s folder; returns an exit code: 0 = every map present and
    readable, 1 = problems (reported by name). ``checkpoint``, ``smpl_dir`` and ``batch_size``
    default to ``MESH.HMR_CHECKPOINT``, ``MESH.SMPL_DIR`` and ``MESH.BATCH_SIZE``."""
    from mesh.prepare import prepare_structure_map_cache
    from reid.data.build import build_dataset_from_cfg

    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"--splits: unknown split(s) {unknown}; expected some of {SPLITS}")
    dataset = build_dataset_from_cfg(cfg)
    all_paths = dataset_splits(dataset)
    mesh = cfg.MESH
    return prepare_structure_map_cache(
        {s: all_paths[s] for s in splits}, mesh_dir_of(cfg, dataset),
        checkpoint=checkpoint or mesh.HMR_CHECKPOINT, smpl_dir=smpl_dir or mesh.SMPL_DIR,
        smpl_gender=mesh.SMPL_GENDER, renderer=mesh.RENDERER, device=cfg.MODEL.DEVICE,
        batch_size=batch_size or mesh.BATCH_SIZE, image_size=tuple(cfg.INPUT.SIZE),
        angles=view_angles_of(cfg), check_only=check_only, progress=progress,
        image_dirs=dataset.nested_image_dirs)
