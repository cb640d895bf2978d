"""Memory banks: per-instance features (GCL contrast) and per-cluster centroids (baseline)."""
from .cluster_memory import ClusterMemory
from .distributed import all_gather_tensors, is_distributed
from .instance_memory import InstanceMemory

__all__ = ["ClusterMemory", "InstanceMemory", "all_gather_tensors", "is_distributed"]
