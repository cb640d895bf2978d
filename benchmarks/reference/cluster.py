"""Straightforward k-reciprocal Jaccard distance, eps selection and DBSCAN with per-row loops and
dense matrices, the way the public SpCL / cluster-contrast / GCL code computes them.

Kept as the ground truth for the tests and the speed reference of :mod:`benchmarks.cluster`
(``tools/bench_cluster.py``); training uses the sparse, vectorised :mod:`reid.cluster.jaccard`. Slow and O(N^2) in memory
(three dense float32 N x N matrices) by design.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from sklearn.cluster import DBSCAN

from reid.cluster.dbscan import ZERO_DISTANCE_TOL
from reid.cluster.jaccard import KnnResult, half_k
from reid.cluster.knn import ArrayLike, knn_search, l2_normalize


def reference_reciprocal_neighbours(rank: np.ndarray, i: int, k: int) -> np.ndarray:
    """Neighbours j in rank[i, :k+1] whose own list rank[j, :k+1] contains i, in rank order."""
    forward = rank[i, :k + 1]
    backward = rank[forward, :k + 1]
    hits = np.where(backward == i)[0]
    return forward[hits]


def reference_jaccard_distance(features: ArrayLike, k1: int = 30, k2: int = 6,
                               knn: Optional[KnnResult] = None,
                               search_option: str = "faiss") -> np.ndarray:
    """Dense float32 (N, N) k-reciprocal Jaccard distance, computed row by row."""
    x = l2_normalize(features).cpu()
    n = x.shape[0]
    k1 = min(k1, n)
    k2 = min(k2, n)
    if knn is None:
        knn = knn_search(x, k1, use_gpu=False, backend=search_option)
    rank = np.asarray(knn[1], dtype=np.int64)[:, :k1]   # k1 columns, as the public code searches

    nn_k1 = [reference_reciprocal_neighbours(rank, i, k1) for i in range(n)]
    nn_half = [reference_reciprocal_neighbours(rank, i, half_k(k1)) for i in range(n)]

    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        k_reciprocal = nn_k1[i]
        expansion = k_reciprocal
        for candidate in k_reciprocal:
            candidate_set = nn_half[candidate]
            if len(np.intersect1d(candidate_set, k_reciprocal)) > 2 / 3 * len(candidate_set):
                expansion = np.append(expansion, candidate_set)
        expansion = np.unique(expansion)
        dist = 2 - 2 * torch.mm(x[i].unsqueeze(0), x[expansion].t())
        v[i, expansion] = torch.softmax(-dist, dim=1).view(-1).numpy()

    if k2 != 1:
        v_qe = np.zeros_like(v)
        for i in range(n):
            v_qe[i, :] = np.mean(v[rank[i, :k2], :], axis=0)
        v = v_qe

    inv_index = [np.where(v[:, i] != 0)[0] for i in range(n)]
    jaccard = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        temp_min = np.zeros((1, n), dtype=np.float32)
        nonzero = np.where(v[i, :] != 0)[0]
        for l in nonzero:
            images = inv_index[l]
            temp_min[0, images] += np.minimum(v[i, l], v[images, l])
        jaccard[i] = 1 - temp_min / (2 - temp_min)
    jaccard[jaccard < 0] = 0.0
    return jaccard


def reference_select_eps(dist: np.ndarray, rho: float) -> float:
    """Mean of the smallest rho fraction of the non-zero upper-triangle distances (full sort).

    "Non-zero" is taken with the same float32-rounding tolerance as
    :func:`reid.cluster.dbscan.select_eps`.
    """
    tri = np.triu(dist, 1)
    tri = tri[tri > ZERO_DISTANCE_TOL]
    tri = np.sort(tri, axis=None)
    top = max(int(np.round(rho * tri.size)), 1)
    return float(tri[:top].mean())


def reference_dbscan(dist: np.ndarray, eps: float, min_samples: int = 4) -> np.ndarray:
    """scikit-learn DBSCAN on the dense precomputed distance matrix."""
    model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed", n_jobs=-1)
    return model.fit_predict(dist).astype(np.int64)
