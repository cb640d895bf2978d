"""Grouped means of memory features, shared by the instance, cluster and centroid memories."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def grouped_mean(values: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(unique keys (G,), mean of the rows of values (N, D) with each key (G, D))``, keys
    sorted; vectorised (one ``index_add_``)."""
    unique, inverse = torch.unique(keys, return_inverse=True)
    sums = torch.zeros(unique.numel(), values.shape[1], device=values.device, dtype=values.dtype)
    sums.index_add_(0, inverse, values)
    counts = torch.bincount(inverse, minlength=unique.numel()).to(values.dtype).unsqueeze(1)
    return unique, sums / counts


def cluster_centroids(features: torch.Tensor, labels: torch.Tensor, owner: str) -> torch.Tensor:
    """(C, D) normalised means of the L2-normalised ``features`` labelled 0..C-1 (outliers, -1,
    ignored; (0, D) when every entry is one). ``owner`` names the caller in the error raised
    when a label between 0 and the largest one has no entry."""
    keep = labels >= 0
    if not bool(keep.any()):
        return features.new_zeros(0, features.shape[1], dtype=torch.float32)
    kept = labels[keep]
    unique, means = grouped_mean(F.normalize(features[keep].float(), dim=1), kept)
    num = int(kept.max()) + 1
    if unique.numel() != num:
        present = torch.zeros(num, dtype=torch.bool, device=kept.device)
        present[unique] = True
        missing = torch.nonzero(~present).view(-1)[:5].tolist()
        raise ValueError(f"{owner}: labels must be 0..C-1 without gaps; empty clusters {missing}")
    return F.normalize(means, dim=1)
