"""CentroidMemory: the instance memory, contrasted through its cluster centroids (GCL.MEMORY centroid).

GCL's view-invariant losses (eq. 6.6 - 6.8) score an anchor against one random memory entry of
its pseudo-identity and K entries of other pseudo-identities. With noisy pseudo-labels a random
entry of the anchor's cluster is often another person, and each negative is one image, so a
wrong label moves the anchor far. Cluster-contrast's remedy is to contrast against cluster
centroids instead: the positive is the mean of the anchor's cluster and the negatives are the
other clusters' means. This memory offers the same interface as :class:`InstanceMemory` to
:func:`reid.losses.view_invariant.view_invariant_losses`, with the centroids as the bank:

* ``bank``: the (C, D) L2-normalised centroids of the current pseudo-labels;
* ``sample_positives``: the anchor's own centroid (outliers, label -1, are not anchors);
* ``sample_negatives``: the other clusters' centroids (up to K of them, at random when C - 1 > K).

The instance features are kept and momentum-updated as in GCL (they are what the joint stage
clusters on when it does not extract fresh features); the centroids are rebuilt from them when
the labels are set, and the centroids of the batch's clusters are moved towards the batch mean
with the same momentum after every update. L'_vi (x'_new against x) is unchanged: its positive
is the anchor's own feature.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .grouping import cluster_centroids, grouped_mean
from .instance_memory import InstanceMemory


class CentroidMemory(InstanceMemory):
    """Instance features and labels as :class:`InstanceMemory`, plus one centroid per cluster."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("centroids", torch.zeros(0, self.dim))

    @property
    def bank(self) -> torch.Tensor:
        """What the contrastive losses score against: the centroids."""
        if self.centroids.shape[0] == 0:
            raise RuntimeError("CentroidMemory has no centroids: call set_labels(labels) with at "
                               "least one clustered entry first")
        return self.centroids

    @property
    def num_clusters(self) -> int:
        return int(self.centroids.shape[0])

    @torch.no_grad()
    def set_labels(self, labels: torch.Tensor) -> None:
        """Store the labels and rebuild the centroids: centroid k = the normalised mean of the
        entries labelled k. Labels must be 0..C-1 without gaps, -1 for outliers."""
        super().set_labels(labels)
        self.centroids = cluster_centroids(self.features, self.labels, "CentroidMemory.set_labels")

    @torch.no_grad()
    def update(self, indices: torch.Tensor, features: torch.Tensor, gather: bool = True) -> None:
        """The instance update of :class:`InstanceMemory`, then each cluster present in the batch
        moved towards the mean of its batch features: ``c <- normalise(a * c + (1 - a) * mean)``."""
        if gather:
            indices = self.gather_fn(self._check_indices(indices))
            features = self.gather_fn(features.detach())
        super().update(indices, features, gather=False)
        if self.num_clusters == 0:
            return
        labels = self.labels[indices.to(self.labels.device).long().view(-1)]
        keep = labels >= 0
        if not bool(keep.any()):
            return
        feats = F.normalize(features.detach()[keep].to(self.centroids), dim=1)
        unique, mean = grouped_mean(feats, labels[keep])
        moved = F.normalize(self.momentum * self.centroids[unique] + (1.0 - self.momentum) * mean, dim=1)
        # A new tensor: similarities computed before this update may still await their backward.
        centroids = self.centroids.clone()
        centroids[unique] = moved
        self.centroids = centroids

    @torch.no_grad()
    def sample_positives(self, indices: torch.Tensor, labels: Optional[torch.Tensor] = None,
                         generator: Optional[torch.Generator] = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The anchor's centroid row. Returns ``(rows (B,), is_anchor (B,), has_other (B,))``;
        outliers get row 0 and ``is_anchor`` False."""
        anchor_labels = self._anchor_labels(indices, labels)
        is_anchor = anchor_labels >= 0
        return anchor_labels.clamp(min=0), is_anchor, is_anchor.clone()

    @torch.no_grad()
    def sample_negatives(self, indices: torch.Tensor, labels: Optional[torch.Tensor] = None,
                         num_negatives: int = 8192, generator: Optional[torch.Generator] = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """The other clusters' centroid rows, ``(rows (B, K'), valid (B, K'))`` with
        K' = min(K, C - 1); the anchor's own centroid is never among the valid ones."""
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
        anchor_labels = self._anchor_labels(indices, labels)
        count = self.num_clusters
        rows = torch.arange(count, device=anchor_labels.device)
        other = rows.unsqueeze(0) != anchor_labels.unsqueeze(1)  # (B, C)
        k = min(num_negatives, max(count - 1, 0))
        if k == 0 or anchor_labels.numel() == 0:
            empty = torch.zeros(anchor_labels.numel(), 0, dtype=torch.long, device=rows.device)
            return empty, empty.bool()
        if k >= int(other.sum(dim=1).max()):
            # Every other centroid: the anchor's own column (if any) moves to the end, invalid.
            order = torch.argsort((~other).to(torch.int8), dim=1, stable=True)[:, :k]
        else:
            keys = torch.rand(other.shape, device=rows.device, generator=generator).masked_fill_(~other, -1.0)
            order = keys.topk(k, dim=1).indices
        return order, torch.gather(other, 1, order)

    def _anchor_labels(self, indices: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        if self.num_clusters == 0:
            raise RuntimeError("CentroidMemory has no centroids: call set_labels(labels) first")
        indices = self._check_indices(indices)
        return self._labels_or_stored(labels)[indices]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: D401
        # The number of clusters changes with every clustering: resize before loading.
        key = prefix + "centroids"
        if key in state_dict:
            self.centroids = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, clusters={self.num_clusters}"

