"""ClusterMemory: one L2-normalised centroid per pseudo-identity (cluster-contrast baseline)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from common.distributed import all_gather_cat

from .grouping import cluster_centroids, grouped_mean


class ClusterMemory(nn.Module):
    """Centroids (num_clusters, dim), rebuilt each epoch from features, momentum-updated per batch.

    ``update_mode``:
      * ``"mean"`` (default): each cluster present in the batch is moved towards the mean of its
        batch features: ``c <- normalise(m * c + (1 - m) * mean)``;
      * ``"hard"``: towards its hardest batch feature (lowest cosine similarity to the centroid).
    ``momentum`` is 0.1 in cluster-contrast. Updates gather from all ranks under DDP.
    """

    def __init__(self, dim: int = 512, momentum: float = 0.1, temperature: float = 0.05,
                 update_mode: str = "mean",
                 gather_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None):
        super().__init__()
        if update_mode not in ("mean", "hard"):
            raise ValueError(f"ClusterMemory update_mode must be 'mean' or 'hard', got {update_mode!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"ClusterMemory momentum must be in [0, 1), got {momentum}")
        if temperature <= 0:
            raise ValueError(f"ClusterMemory temperature must be > 0, got {temperature}")
        self.dim = dim
        self.momentum = momentum
        self.temperature = temperature
        self.update_mode = update_mode
        self.gather_fn = gather_fn if gather_fn is not None else all_gather_cat
        self.register_buffer("centroids", torch.zeros(0, dim))

    @property
    def num_clusters(self) -> int:
        return self.centroids.shape[0]

    @torch.no_grad()
    def rebuild(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Centroid k = normalised mean of the features labelled k; outliers (-1) are ignored.

        Labels must be 0..C-1 (every cluster non-empty) and -1 for outliers.
        """
        labels = torch.as_tensor(labels, device=features.device).long().view(-1)
        if features.dim() != 2 or features.shape[1] != self.dim or features.shape[0] != labels.numel():
            raise ValueError(
                f"ClusterMemory.rebuild expects features (N, {self.dim}) and N labels, got "
                f"{tuple(features.shape)} and {labels.numel()} labels")
        if not bool((labels >= 0).any()):
            raise ValueError("ClusterMemory.rebuild: every sample is an outlier (label -1); no cluster to build")
        self.centroids = cluster_centroids(features, labels, "ClusterMemory.rebuild")

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Cosine similarities to every centroid divided by the temperature, (B, C)."""
        if self.num_clusters == 0:
            raise RuntimeError("ClusterMemory has no centroids; call rebuild(features, labels) first")
        return F.normalize(features, dim=1) @ self.centroids.t() / self.temperature

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor, gather: bool = True) -> None:
        """Momentum update of the centroids of the clusters in the batch (outliers skipped)."""
        labels = labels.to(features.device).long().view(-1)
        if gather:
            labels = self.gather_fn(labels)
            features = self.gather_fn(features.detach())
        keep = labels >= 0
        labels, feats = labels[keep], F.normalize(features.detach()[keep].to(self.centroids), dim=1)
        if labels.numel() == 0:
            return
        if int(labels.max()) >= self.num_clusters:
            raise IndexError(f"cluster label {int(labels.max())} >= number of centroids {self.num_clusters}")
        if self.update_mode == "mean":
            unique, target = grouped_mean(feats, labels)
        else:
            unique, inverse = torch.unique(labels, return_inverse=True)
            sim = (feats * self.centroids[labels]).sum(dim=1)
            # hardest = lowest similarity within each cluster: scatter-reduce the minimum, then pick it
            lowest = torch.full((unique.numel(),), float("inf"), device=feats.device)
            lowest = lowest.scatter_reduce(0, inverse, sim, reduce="amin")
            is_hardest = sim == lowest[inverse]
            order = torch.arange(labels.numel(), device=feats.device)
            pick = torch.full((unique.numel(),), labels.numel(), device=feats.device, dtype=torch.long)
            pick = pick.scatter_reduce(0, inverse[is_hardest], order[is_hardest], reduce="amin")
            target = feats[pick]
        updated = self.momentum * self.centroids[unique] + (1.0 - self.momentum) * target
        # A new tensor, not an in-place write: logits computed before this update may still be
        # waiting for their backward pass, which needs the old centroids.
        centroids = self.centroids.clone()
        centroids[unique] = F.normalize(updated, dim=1)
        self.centroids = centroids

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: D401
        # The number of clusters changes every epoch: resize before loading.
        key = prefix + "centroids"
        if key in state_dict:
            self.centroids = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
