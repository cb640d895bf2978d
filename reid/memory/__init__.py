"""Memory banks: per-instance features (GCL contrast) and per-cluster centroids (baseline)."""
from .cluster_memory import ClusterMemory
from .instance_memory import InstanceMemory

__all__ = ["ClusterMemory", "InstanceMemory"]
