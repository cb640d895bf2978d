"""The structure maps of a ReID dataset: where they are for a config, and that they are there."""
from __future__ import annotations

from mesh.structure_cache import StructureMapCache


def structure_cache_for(cfg, dataset) -> StructureMapCache:
    """The structure-map cache of ``MESH.DIR``, or ``<dataset folder>/meshes`` (as
    ``tools/prepare_meshes.py`` writes it) for the located dataset folder ``dataset.root``.

    Maps are expected at ``INPUT.SIZE``, the size every reader brings them to: maps of that size
    are used as they are; others are resized once, with a warning that names both sizes."""
    from mesh.prepare import resolve_mesh_dir

    size = (int(cfg.INPUT.SIZE[0]), int(cfg.INPUT.SIZE[1]))
    return StructureMapCache(resolve_mesh_dir(cfg.MESH.DIR, dataset.root), size=size)
