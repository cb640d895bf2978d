"""DBSCAN on a precomputed (dense or sparse) distance matrix and the rho-quantile eps rule."""
from __future__ import annotations

import logging
import warnings
from typing import Union

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import DBSCAN
from sklearn.neighbors import sort_graph_by_row_values

logger = logging.getLogger("reid.cluster")

Distance = Union[np.ndarray, sp.spmatrix]

# Distances at or below this count as zero for the eps rule. Identical k-reciprocal weight rows
# give distance 0 up to float32 rounding that depends on summation order (the public code keeps
# whichever of them round to a positive value), so they are excluded on a tolerance instead.
ZERO_DISTANCE_TOL = 1e-5


def _check_square(dist: Distance) -> int:
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1] or dist.shape[0] == 0:
        raise ValueError(f"distance matrix: expected a non-empty square (N, N) matrix, "
                         f"got shape {tuple(dist.shape)}")
    return dist.shape[0]


def select_eps(dist: Distance, rho: float) -> float:
    """DBSCAN eps = mean of the smallest ``rho`` fraction of the pairwise distances.

    Follows the public SpCL / cluster-contrast / GCL rule: the positive entries of the upper
    triangle (diagonal excluded; values <= ``ZERO_DISTANCE_TOL`` count as zero) are ranked and
    the smallest round(rho * count) averaged (at least one). For a sparse Jaccard graph, absent pairs are distance 1, never below a
    stored one, so the result is exact without densifying: when the stored positive entries are
    fewer than needed, the remainder are ones.
    """
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"select_eps: rho must be in (0, 1], got {rho}")
    n = _check_square(dist)
    if n < 2:
        raise ValueError("select_eps: need at least 2 samples to pick eps from pairwise distances")
    if sp.issparse(dist):
        upper = sp.triu(dist, k=1).tocoo()
        stored = upper.data.astype(np.float64)
        positive = stored[stored > ZERO_DISTANCE_TOL]
        implicit_ones = n * (n - 1) // 2 - stored.size
        count = positive.size + implicit_ones
    else:
        tri = np.triu(np.asarray(dist), k=1)
        positive = tri[tri > ZERO_DISTANCE_TOL].astype(np.float64)
        implicit_ones = 0
        count = positive.size
    if count == 0:
        raise ValueError("select_eps: all pairwise distances are zero; cannot choose eps from rho")
    return mean_of_smallest(positive, count, rho)


def mean_of_smallest(positive: np.ndarray, count: int, rho: float) -> float:
    """Mean of the smallest max(round(rho * count), 1) of ``count`` distances, of which
    ``positive`` (float64) holds at least the smallest ones and every distance not given is 1."""
    top = max(int(np.round(rho * count)), 1)
    if top <= positive.size:
        return float(np.partition(positive, top - 1)[:top].mean())
    return float((positive.sum() + (top - positive.size) * 1.0) / top)


def prune_graph(dist: sp.spmatrix, max_distance: float) -> sp.csr_matrix:
    """Copy of a sparse distance graph keeping the diagonal and the entries <= max_distance.

    DBSCAN only ever looks at pairs within eps, so pruning first gives the same labels on a much
    smaller graph.
    """
    coo = dist.tocoo()
    keep = (coo.data <= max_distance) | (coo.row == coo.col)
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=dist.shape)


def run_dbscan(dist: Distance, eps: float, min_samples: int = 4, n_jobs: int = -1) -> np.ndarray:
    """DBSCAN labels (int64, outliers -1) on a precomputed distance matrix.

    A sparse matrix is read as in :func:`reid.cluster.jaccard.compute_jaccard_distance`: stored
    entries (explicit zeros included) are the only candidate neighbours, absent pairs are at
    distance 1. With eps >= 1 every pair would be neighbours, so all points form one cluster.
    """
    n = _check_square(dist)
    if eps <= 0:
        raise ValueError(f"run_dbscan: eps must be > 0, got {eps}")
    if min_samples < 1:
        raise ValueError(f"run_dbscan: min_samples must be >= 1, got {min_samples}")
    if sp.issparse(dist) and eps >= 1.0:
        logger.warning("DBSCAN eps %.4f >= 1: every pair of a sparse Jaccard graph is within eps, "
                       "all %d samples form one cluster", eps, n)
        label = 0 if n >= min_samples else -1
        return np.full(n, label, dtype=np.int64)
    if sp.issparse(dist):
        dist = prune_graph(dist, eps)
        dist = sort_graph_by_row_values(dist, copy=False, warn_when_not_sorted=False)
    model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed", n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=sp.SparseEfficiencyWarning)
        return model.fit_predict(dist).astype(np.int64)
