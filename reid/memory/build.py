"""The joint stage's memory from the config (``GCL.MEMORY``, ``GCL.MEMORY_MOMENTUM``,
``GCL.OUTLIER_NEGATIVES``)."""
from __future__ import annotations

from .centroid_memory import CentroidMemory
from .instance_memory import InstanceMemory

MEMORY_TYPES = {"instance": InstanceMemory, "centroid": CentroidMemory}


def build_memory(cfg, num_samples: int, dim: int) -> InstanceMemory:
    """An :class:`InstanceMemory` (``GCL.MEMORY instance``) or :class:`CentroidMemory`
    (``centroid``) of ``num_samples`` entries of ``dim`` features."""
    kind = cfg.GCL.MEMORY
    if kind not in MEMORY_TYPES:
        raise ValueError(f"GCL.MEMORY must be one of {', '.join(MEMORY_TYPES)}; got {kind!r}")
    return MEMORY_TYPES[kind](num_samples, dim, cfg.GCL.MEMORY_MOMENTUM,
                              outlier_negatives=cfg.GCL.OUTLIER_NEGATIVES)
