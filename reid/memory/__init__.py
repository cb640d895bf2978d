"""Memory banks: per-instance features (GCL contrast), per-cluster centroids (baseline), and the
instance memory contrasted through its centroids (GCL.MEMORY centroid)."""
from .centroid_memory import CentroidMemory
from .build import build_memory
from .cluster_memory import ClusterMemory
from .instance_memory import InstanceMemory

__all__ = ["CentroidMemory", "ClusterMemory", "InstanceMemory", "build_memory"]
