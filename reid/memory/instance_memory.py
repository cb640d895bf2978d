"""InstanceMemory: one L2-normalised feature per training image, momentum-updated (GCL eq. 6.5)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from common.distributed import all_gather_cat

from .grouping import grouped_mean


class InstanceMemory(nn.Module):
    """Memory bank M (num_samples, dim) with the current pseudo-labels of every entry.

    Update rule: ``M[i] <- normalise(a * M[i] + (1 - a) * f)`` with a = ``momentum`` (0.2 in GCL).
    Pseudo-labels: ``labels[i]`` is the cluster of entry i, -1 for an outlier. Outliers stay in
    the memory and are negatives for every anchor, but they are never anchors themselves.

    Both ``features`` and ``labels`` are buffers, so ``state_dict()`` holds the whole memory.
    Under DistributedDataParallel ``update`` first gathers indices and features from all ranks
    (``gather_fn``, :func:`all_gather_cat` by default) so that every rank applies the same
    update; without torch.distributed the hook is a no-op.
    """

    def __init__(self, num_samples: int, dim: int = 512, momentum: float = 0.2,
                 gather_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 outlier_negatives: bool = True):
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"InstanceMemory needs num_samples >= 1, got {num_samples}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"InstanceMemory momentum must be in [0, 1), got {momentum}")
        self.num_samples = num_samples
        self.dim = dim
        self.momentum = momentum
        # Whether entries labelled -1 (DBSCAN outliers) serve as negatives (GCL: yes).
        self.outlier_negatives = outlier_negatives
        self.gather_fn = gather_fn if gather_fn is not None else all_gather_cat
        self.register_buffer("features", torch.zeros(num_samples, dim))
        self.register_buffer("labels", torch.full((num_samples,), -1, dtype=torch.long))

    @property
    def bank(self) -> torch.Tensor:
        """What the contrastive losses score against: every entry's feature."""
        return self.features

    # ------------------------------------------------------------------ filling and updating
    @torch.no_grad()
    def initialize(self, features: torch.Tensor) -> None:
        """Set every entry from (num_samples, dim) features (L2-normalised here)."""
        if tuple(features.shape) != (self.num_samples, self.dim):
            raise ValueError(
                f"InstanceMemory.initialize expects features of shape ({self.num_samples}, {self.dim}), "
                f"got {tuple(features.shape)}")
        self.features.copy_(F.normalize(features.float(), dim=1))

    @torch.no_grad()
    def set_labels(self, labels: torch.Tensor) -> None:
        """Store the pseudo-labels of this epoch ((num_samples,), -1 = outlier)."""
        labels = torch.as_tensor(labels, dtype=torch.long, device=self.labels.device).view(-1)
        if labels.numel() != self.num_samples:
            raise ValueError(
                f"InstanceMemory.set_labels expects {self.num_samples} labels, got {labels.numel()}")
        self.labels.copy_(labels)

    def _check_indices(self, indices: torch.Tensor) -> torch.Tensor:
        indices = indices.to(self.features.device).long().view(-1)
        if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= self.num_samples):
            raise IndexError(
                f"memory indices must lie in [0, {self.num_samples}), got min {int(indices.min())} "
                f"and max {int(indices.max())}")
        return indices

    @torch.no_grad()
    def update(self, indices: torch.Tensor, features: torch.Tensor, gather: bool = True) -> None:
        """Momentum update of the entries ``indices`` with ``features`` (B, dim), vectorised.

        Features are L2-normalised before the update. Duplicate indices in one call (the same image
        twice in a batch, or on two ranks) are averaged first and the entry is updated once, so the
        result does not depend on the order of the batch.
        """
        if features.dim() != 2 or features.shape[1] != self.dim:
            raise ValueError(f"InstanceMemory.update expects features (B, {self.dim}), got {tuple(features.shape)}")
        if gather:
            indices = self.gather_fn(indices.to(features.device).long().view(-1))
            features = self.gather_fn(features.detach())
        indices = self._check_indices(indices)
        if indices.numel() != features.shape[0]:
            raise ValueError(f"{indices.numel()} indices for {features.shape[0]} features")
        feats = F.normalize(features.detach().to(self.features), dim=1)
        unique, mean = grouped_mean(feats, indices)
        updated = self.momentum * self.features[unique] + (1.0 - self.momentum) * mean
        self.features[unique] = F.normalize(updated, dim=1)

    # ------------------------------------------------------------------ sampling
    def _labels_or_stored(self, labels: Optional[torch.Tensor]) -> torch.Tensor:
        if labels is None:
            return self.labels
        labels = torch.as_tensor(labels, device=self.features.device).long().view(-1)
        if labels.numel() != self.num_samples:
            raise ValueError(f"expected {self.num_samples} pseudo-labels (one per memory entry), got {labels.numel()}")
        return labels

    @torch.no_grad()
    def sample_positives(self, indices: torch.Tensor, labels: Optional[torch.Tensor] = None,
                         generator: Optional[torch.Generator] = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One random memory entry of the same pseudo-identity per anchor, other than the anchor.

        Returns ``(positive_indices (B,), is_anchor (B,) bool, has_other (B,) bool)``.
        ``is_anchor`` is False for outliers (label -1). Where the anchor's cluster has no other
        member (``has_other`` False) the anchor's own entry is returned.
        """
        indices = self._check_indices(indices)
        labels = self._labels_or_stored(labels)
        anchor_labels = labels[indices]
        same = (labels.unsqueeze(0) == anchor_labels.unsqueeze(1)) & (anchor_labels >= 0).unsqueeze(1)
        same[torch.arange(indices.numel(), device=indices.device), indices] = False
        keys = torch.rand(same.shape, device=same.device, generator=generator).masked_fill_(~same, -1.0)
        best, choice = keys.max(dim=1)
        has_other = best >= 0
        positives = torch.where(has_other, choice, indices)
        return positives, anchor_labels >= 0, has_other

    @torch.no_grad()
    def sample_negatives(self, indices: torch.Tensor, labels: Optional[torch.Tensor] = None,
                         num_negatives: int = 8192, generator: Optional[torch.Generator] = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``num_negatives`` distinct random entries of other pseudo-identities per anchor
        (outliers included unless ``outlier_negatives`` is False).

        Returns ``(negative_indices (B, K'), valid (B, K') bool)`` where K' = min(K, the largest
        number of negatives any anchor has). Anchors with fewer negatives than K' get ``valid``
        False in the unused slots; K' = 0 when no anchor has a negative (a single cluster and no
        outliers). Sampling is vectorised: random keys, masked, then top-k.
        """
        if num_negatives < 0:
            raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
        indices = self._check_indices(indices)
        labels = self._labels_or_stored(labels)
        anchor_labels = labels[indices]
        other = labels.unsqueeze(0) != anchor_labels.unsqueeze(1)
        if not self.outlier_negatives:
            other &= (labels >= 0).unsqueeze(0)
        available = int(other.sum(dim=1).max()) if indices.numel() else 0
        k = min(num_negatives, available)
        if k == 0:
            empty = torch.zeros(indices.numel(), 0, dtype=torch.long, device=indices.device)
            return empty, empty.bool()
        keys = torch.rand(other.shape, device=other.device, generator=generator).masked_fill_(~other, -1.0)
        top, chosen = keys.topk(k, dim=1, sorted=False)
        return chosen, top >= 0

    def extra_repr(self) -> str:
        return (f"num_samples={self.num_samples}, dim={self.dim}, momentum={self.momentum}, "
                f"outlier_negatives={self.outlier_negatives}")
