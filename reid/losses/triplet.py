"""Supervised losses for the UDA source warm-up: batch-hard triplet and label-smoothed cross-entropy."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pairwise_euclidean(x: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances, numerically safe at zero."""
    sq = x.pow(2).sum(dim=1, keepdim=True)
    d2 = (sq + sq.t() - 2.0 * x @ x.t()).clamp_min(1e-12)
    return d2.sqrt()


def batch_hard_triplet_loss(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.3,
                            normalize: bool = False) -> torch.Tensor:
    """Batch-hard triplet loss: hardest positive and hardest negative per anchor, hinge with margin.

    Anchors without a positive or without a negative in the batch are left out; if none is left
    the loss is a zero that keeps the graph.
    """
    if features.shape[0] != labels.numel():
        raise ValueError(f"{features.shape[0]} features but {labels.numel()} labels")
    if normalize:
        features = F.normalize(features, dim=1)
    dist = pairwise_euclidean(features)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    pos_mask, neg_mask = same & ~eye, ~same
    hardest_pos = dist.masked_fill(~pos_mask, float("-inf")).max(dim=1).values
    hardest_neg = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    if not bool(valid.any()):
        return features.sum() * 0.0
    return F.relu(hardest_pos[valid] - hardest_neg[valid] + margin).mean()


class TripletLoss(nn.Module):
    """Module form of :func:`batch_hard_triplet_loss`."""

    def __init__(self, margin: float = 0.3, normalize: bool = False):
        super().__init__()
        self.margin = margin
        self.normalize = normalize

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return batch_hard_triplet_loss(features, labels, self.margin, self.normalize)


class CrossEntropyLabelSmooth(nn.Module):
    """Cross-entropy with label smoothing epsilon (0.1 in the usual ReID recipe)."""

    def __init__(self, epsilon: float = 0.1):
        super().__init__()
        if not 0.0 <= epsilon < 1.0:
            raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.epsilon)
