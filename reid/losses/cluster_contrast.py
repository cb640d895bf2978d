"""Cluster-contrast loss for the baseline stage: InfoNCE against one centroid per cluster."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..memory.cluster_memory import ClusterMemory


def cluster_contrast_loss(features: torch.Tensor, targets: torch.Tensor, memory: ClusterMemory,
                          update: bool = True) -> torch.Tensor:
    """Cross-entropy of cos(f, centroids) / temperature against the pseudo-label.

    Logits use the centroids before this batch; then (``update``) the matched centroids are
    momentum-updated with the batch features. Outliers (-1) must not be passed as targets.
    """
    targets = targets.to(features.device).long().view(-1)
    if bool((targets < 0).any()):
        raise ValueError("cluster_contrast_loss: outliers (label -1) cannot be trained; filter them out first")
    loss = F.cross_entropy(memory.logits(features), targets)
    if update:
        memory.update(features.detach(), targets)
    return loss


class ClusterContrastLoss(nn.Module):
    """Module form: holds the :class:`ClusterMemory` (momentum 0.1, temperature 0.05)."""

    def __init__(self, memory: ClusterMemory):
        super().__init__()
        self.memory = memory

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return cluster_contrast_loss(features, targets, self.memory, update=self.training)
