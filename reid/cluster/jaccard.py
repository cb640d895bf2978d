"""k-reciprocal Jaccard distance (Zhong et al. re-ranking, as used by SpCL / cluster-contrast / GCL),
computed with sparse matrices and vectorised index arithmetic.

Algorithm (identical to the per-row reference in :mod:`benchmarks.reference.cluster`):

1. One kNN search with k1 neighbours (row itself included) gives the rank table R (N, k1).
2. k-reciprocal sets: j in K(i) iff j in R[i, :k] and i in R[j, :k], for k = k1 and for
   k = round(k1 / 2) + 1 columns (the "half" sets H, clamped to the columns searched).
3. Expansion: for each candidate c in K(i), H(c) is added to K(i) when more than 2/3 of H(c)
   already lies in K(i).
4. V[i, j] = softmax_j(-(2 - 2 <f_i, f_j>)) over the expanded set (a Gaussian-kernel weight).
5. Local query expansion: V <- mean of the V rows of R[i, :k2] (skipped when k2 == 1).
6. Jaccard: d(i, j) = 1 - m / (2 - m), m = sum_l min(V[i, l], V[j, l]) (rows of V sum to 1, so
   2 - m is the sum of maxima). Only pairs with a shared support have m > 0, i.e. d < 1.

Step 2 uses sorted int64 keys (i * N + j) and ``searchsorted`` for the reciprocity test; step 3
is three sparse products (|H(c) & K(i)| = (K H^T)[i, c], then the pattern of K + A H); step 5 is a
sparse product; step 6 walks, for every row, the column lists of V (CSC) at and after that row,
in compiled kernels (:mod:`reid.cluster.kernels`, numba) or, without numba, with vectorised
``bincount`` over blocks of rows. Nothing is N x N except, optionally, the dense output.

Only pairs within the DBSCAN eps matter downstream: :func:`jaccard_from_weights` drops farther
pairs while building the graph, and :func:`jaccard_graph_for_rho` finds the rho-quantile eps from
a histogram pass before building, so the ~N * 1,800 pairs below 1 are never stored.

The sparse output stores every pair with d < 1 plus the whole diagonal; absent pairs mean d = 1.
"""
from __future__ import annotations

import logging
import time
from typing import Dict, Optional, Tuple, Union

import numpy as np
import scipy.sparse as sp
import torch

from .dbscan import ZERO_DISTANCE_TOL, mean_of_smallest, select_eps
from .kernels import HIST_BINS, NUMBA_AVAILABLE, distance_histogram, pair_dots, pairs_within
from .knn import ArrayLike, knn_search, l2_normalize

logger = logging.getLogger("reid.cluster")

KnnResult = Tuple[np.ndarray, np.ndarray]


def half_k(k1: int) -> int:
    """k of the "half" reciprocal sets, rounded the way numpy rounds (half to even)."""
    return int(np.around(k1 / 2))


def ragged_arange(counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(c) for every c in counts, without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) - np.repeat(ends - counts, counts)


def reciprocal_pairs(rank: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j) with j in rank[i, :k] and i in rank[j, :k], grouped by i in rank order."""
    n = rank.shape[0]
    fwd = rank[:, :k]
    width = fwd.shape[1]
    rows = np.repeat(np.arange(n, dtype=np.int64), width)
    cols = fwd.reshape(-1).astype(np.int64)
    keys = np.sort(rows * n + cols)
    back = cols * n + rows
    pos = np.minimum(np.searchsorted(keys, back), keys.size - 1)
    mask = keys[pos] == back
    return rows[mask], cols[mask]


def _indicator(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    """0/1 float32 CSR matrix with ones at (rows, cols)."""
    return sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)), shape=(n, n))


def expanded_neighbours(rank: np.ndarray, k1: int) -> Tuple[np.ndarray, np.ndarray]:
    """Rows and columns (sorted by row, then column) of the expanded k-reciprocal sets.

    With K and H the 0/1 matrices of the k1 and half reciprocal sets, |H(c) & K(i)| is the
    entry (i, c) of K H^T; candidates c of K(i) passing the 2/3 test form A, and the expanded
    pattern is that of K + A H. Three sparse products, no per-row work in Python.
    """
    n = rank.shape[0]
    k_rows, k_cols = reciprocal_pairs(rank, k1)
    h_rows, h_cols = reciprocal_pairs(rank, half_k(k1) + 1)
    k_ind = _indicator(k_rows, k_cols, n)
    h_ind = _indicator(h_rows, h_cols, n)
    h_len = np.diff(h_ind.indptr).astype(np.float64)
    shared = k_ind.multiply(k_ind @ h_ind.T).tocoo()       # |H(c) & K(i)| at (i, c) in K(i)
    accepted = shared.data > (2.0 / 3.0) * h_len[shared.col]   # same float test as the reference
    a_ind = _indicator(shared.row[accepted], shared.col[accepted], n)
    expanded = (k_ind + a_ind @ h_ind).tocsr()
    expanded.sort_indices()
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(expanded.indptr))
    return rows, expanded.indices.astype(np.int64)


def gaussian_weights(x: torch.Tensor, rows: np.ndarray, cols: np.ndarray, n: int,
                     chunk: int = 8192) -> sp.csr_matrix:
    """Sparse V: per row, softmax of -(2 - 2 <f_i, f_j>) over its (row-sorted) entries."""
    if NUMBA_AVAILABLE:
        sims = pair_dots(x.numpy(), rows, cols)
    else:
        sims = np.empty(rows.size, dtype=np.float32)
        r_t, c_t = torch.from_numpy(rows), torch.from_numpy(cols)
        with torch.no_grad():
            for start in range(0, rows.size, chunk):
                sl = slice(start, start + chunk)
                sims[sl] = (x[r_t[sl]] * x[c_t[sl]]).sum(dim=1).numpy()
    logits = -(2.0 - 2.0 * sims)
    counts = np.bincount(rows, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    weights = np.zeros_like(logits)
    nonempty = counts > 0
    if rows.size:
        starts = indptr[:-1][nonempty]
        row_max = np.repeat(np.maximum.reduceat(logits, starts), counts[nonempty])
        expo = np.exp(logits - row_max)
        row_sum = np.repeat(np.add.reduceat(expo, starts), counts[nonempty])
        weights = (expo / row_sum).astype(np.float32)
    return sp.csr_matrix((weights, cols, indptr), shape=(n, n))


def query_expansion(v: sp.csr_matrix, rank: np.ndarray, k2: int) -> sp.csr_matrix:
    """Mean of the V rows of each row's first k2 neighbours (itself included)."""
    n = rank.shape[0]
    cols = rank[:, :k2]
    width = cols.shape[1]
    q = sp.csr_matrix((np.ones(n * width, dtype=np.float32), cols.reshape(-1),
                       np.arange(0, n * width + 1, width)), shape=(n, n))
    out = (q @ v).tocsr()
    out.data /= np.float32(width)
    out.sort_indices()
    return out


def jaccard_from_weights(v: sp.csr_matrix, max_distance: float = 1.0,
                         use_kernels: Optional[bool] = None,
                         expected_pairs: Optional[int] = None) -> sp.csr_matrix:
    """Sparse Jaccard distance 1 - m / (2 - m) for all pairs with shared support, plus the diagonal.

    Pairs farther than ``max_distance`` are not stored (the diagonal always is). Runs the
    compiled kernels of :mod:`reid.cluster.kernels` when numba is present (``use_kernels`` None),
    the vectorised numpy walk otherwise; both give the same graph. ``expected_pairs`` (pairs
    i < j kept, e.g. from the previous epoch) only sizes the kernels' buffers.
    """
    if use_kernels is None:
        use_kernels = NUMBA_AVAILABLE
    if not use_kernels:
        return jaccard_from_weights_numpy(v, max_distance=max_distance)
    n = v.shape[0]
    rows, cols, vals, diag = pairs_within(v, max_distance, expected=expected_pairs)
    return symmetric_graph(rows, cols, vals, diag, n)


def symmetric_graph(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, diag: np.ndarray,
                    n: int) -> sp.csr_matrix:
    """float32 CSR (sorted indices) from upper-triangle pairs, mirrored, plus the full diagonal."""
    idx = np.arange(n, dtype=rows.dtype)
    dist = sp.csr_matrix((np.concatenate([vals, vals, diag]).astype(np.float32, copy=False),
                          (np.concatenate([rows, cols, idx]), np.concatenate([cols, rows, idx]))),
                         shape=(n, n))
    dist.sort_indices()
    return dist


def jaccard_from_weights_numpy(v: sp.csr_matrix, row_block: int = 1024,
                               max_distance: float = 1.0) -> sp.csr_matrix:
    """numpy version of :func:`jaccard_from_weights` (used when numba is absent).

    m(i, j) = sum_l min(V[i, l], V[j, l]) is accumulated for j >= i only (walking, for every
    entry (i, l), the part of column l at and after row i) and mirrored, which halves the work.
    Pairs farther than ``max_distance`` are not stored (the diagonal always is).
    """
    n = v.shape[0]
    v = v.tocsr()
    v.sort_indices()
    nnz = v.nnz
    # CSC view whose data are CSR entry ids: gives, for every CSR entry, its slot in its column.
    entry_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(v.indptr))
    order = sp.csc_matrix((np.arange(1, nnz + 1, dtype=np.int64), (entry_rows, v.indices)),
                          shape=(n, n))
    order.sort_indices()
    col_ptr = order.indptr.astype(np.int64)
    col_rows = order.indices.astype(np.int64)
    col_vals = v.data[order.data - 1]
    slot = np.empty(nnz, dtype=np.int64)
    slot[order.data - 1] = np.arange(nnz, dtype=np.int64)
    out_rows, out_cols, out_vals = [], [], []
    for r0 in range(0, n, row_block):
        r1 = min(r0 + row_block, n)
        p0, p1 = v.indptr[r0], v.indptr[r1]
        if p1 == p0:
            continue
        l = v.indices[p0:p1]
        a = v.data[p0:p1]
        row = entry_rows[p0:p1]
        first = slot[p0:p1]                                 # this entry's own slot in column l
        cnt = col_ptr[l + 1] - first                        # rows j >= i sharing column l
        rep = np.repeat(np.arange(l.size, dtype=np.int64), cnt)
        q = np.repeat(first, cnt) + ragged_arange(cnt)
        mins = np.minimum(a[rep], col_vals[q]).astype(np.float64)
        acc = np.bincount((row[rep] - r0) * n + col_rows[q], weights=mins,
                          minlength=(r1 - r0) * n)
        flat = np.flatnonzero(acc)
        m = acc[flat]
        d = np.clip(1.0 - m / (2.0 - m), 0.0, None)
        i, j = flat // n + r0, flat % n
        keep = (d <= max_distance) | (i == j)
        out_rows.append(i[keep])
        out_cols.append(j[keep])
        out_vals.append(d[keep])
    rows = np.concatenate(out_rows) if out_rows else np.zeros(0, np.int64)
    cols = np.concatenate(out_cols) if out_cols else np.zeros(0, np.int64)
    vals = np.concatenate(out_vals) if out_vals else np.zeros(0)
    upper = rows != cols
    # Rows without any weight (no reciprocal neighbour at all) are at distance 1 from
    # everything, themselves included; store that diagonal explicitly so that DBSCAN on the
    # sparse graph sees the same self-distance as on the dense matrix.
    has_diag = np.zeros(n, dtype=bool)
    has_diag[rows[~upper]] = True
    missing = np.flatnonzero(~has_diag)
    all_rows = np.concatenate([rows, cols[upper], missing])
    all_cols = np.concatenate([cols, rows[upper], missing])
    all_vals = np.concatenate([vals, vals[upper], np.ones(missing.size)])
    dist = sp.csr_matrix((all_vals.astype(np.float32), (all_rows, all_cols)), shape=(n, n))
    dist.sort_indices()
    return dist


def compute_jaccard_distance(features: ArrayLike, k1: int = 30, k2: int = 6,
                             search_option: str = "auto", use_gpu: bool = True,
                             knn: Optional[KnnResult] = None, dense: bool = False,
                             max_distance: float = 1.0,
                             timings: Optional[Dict[str, float]] = None
                             ) -> Union[sp.csr_matrix, np.ndarray]:
    """k-reciprocal Jaccard distance between all rows of ``features``.

    Args:
        features: (N, D) features (numpy or torch); L2-normalised here.
        k1, k2: reciprocal-set size and query-expansion size; both shrink to N when N is small.
        search_option: kNN backend, "auto" | "faiss" | "torch" (see :func:`knn_search`).
        use_gpu: allow a GPU for the kNN search.
        knn: a precomputed ``knn_search`` result with at least min(k1, N) columns (reuse/tests).
        dense: return a dense float32 (N, N) array instead of the sparse graph.
        max_distance: sparse graph keeps only pairs at or below it (e.g. a known DBSCAN eps).
        timings: when given, filled with seconds for "knn" and "jaccard".

    Returns:
        float32 CSR (N, N) holding every pair with distance < 1 and the diagonal (absent = 1),
        or the dense float32 matrix when ``dense``.
    """
    if k1 < 1 or k2 < 1:
        raise ValueError(f"compute_jaccard_distance: k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
    x = l2_normalize(features).cpu()
    n = x.shape[0]
    k1 = min(k1, n)
    k2 = min(k2, n)
    t0 = time.perf_counter()
    if knn is None:
        knn = knn_search(x, k1, use_gpu=use_gpu, backend=search_option)
    rank = np.asarray(knn[1], dtype=np.int64)
    if rank.shape[0] != n or rank.shape[1] < k1:
        raise ValueError(f"compute_jaccard_distance: knn indices have shape {rank.shape}, "
                         f"expected ({n}, >= {k1})")
    rank = rank[:, :k1]
    t1 = time.perf_counter()
    v = jaccard_weights(x, rank, k2)
    dist = jaccard_from_weights(v, max_distance=1.0 if dense else max_distance)
    t2 = time.perf_counter()
    if timings is not None:
        timings["knn"] = t1 - t0
        timings["jaccard"] = t2 - t1
    if dense:
        return sparse_to_dense_distance(dist)
    return dist


def jaccard_weights(x: torch.Tensor, rank: np.ndarray, k2: int) -> sp.csr_matrix:
    """Steps 2-5: the weight matrix V from L2-normalised CPU features and the (N, k1) rank table."""
    n, k1 = rank.shape
    rows, cols = expanded_neighbours(rank, k1)
    v = gaussian_weights(x, rows, cols, n)
    if k2 != 1:
        v = query_expansion(v, rank, min(k2, k1))
    return v


def jaccard_graph_for_rho(v: sp.csr_matrix, rho: float,
                          timings: Optional[Dict[str, float]] = None
                          ) -> Tuple[sp.csr_matrix, float]:
    """Jaccard graph within the rho-quantile eps, and that eps, without storing every pair < 1.

    eps follows :func:`reid.cluster.dbscan.select_eps` exactly (mean of the smallest rho fraction
    of the positive upper-triangle distances, absent pairs counting as 1). A first pass over all
    pairs only bins the distances (:data:`HIST_BINS` bins); the bin holding the rho-quantile gives
    a cutoff, and the second pass keeps the pairs at or below it: every distance averaged into
    eps, and every pair DBSCAN can use (eps is at most the cutoff). Needs the numba kernels;
    without them the full graph is built and :func:`select_eps` applied.

    Returns the graph (pairs <= cutoff, mirrored, plus the diagonal) and eps.
    """
    n = v.shape[0]
    t0 = time.perf_counter()
    if not NUMBA_AVAILABLE or n < 2:
        dist = jaccard_from_weights(v)
        eps = select_eps(dist, rho) if n > 1 else 1.0
        if timings is not None:
            timings["eps"] = time.perf_counter() - t0
        return dist, eps
    hist, zeros = distance_histogram(v, ZERO_DISTANCE_TOL)
    count = n * (n - 1) // 2 - zeros
    if count == 0:
        raise ValueError("select_eps: all pairwise distances are zero; cannot choose eps from rho")
    top = max(int(np.round(rho * count)), 1)
    cumulative = np.cumsum(hist)
    if top > cumulative[-1]:
        cutoff, expected = 1.0, int(cumulative[-1])
    else:
        last_bin = int(np.searchsorted(cumulative, top))
        cutoff = min(float(last_bin + 1) / HIST_BINS, 1.0)
        expected = int(cumulative[min(last_bin + 1, HIST_BINS - 1)])
    t1 = time.perf_counter()
    rows, cols, vals, diag = pairs_within(v, cutoff, expected=expected + zeros)
    t2 = time.perf_counter()
    positive = vals[vals > ZERO_DISTANCE_TOL].astype(np.float64)
    eps = mean_of_smallest(positive, count, rho)
    dist = symmetric_graph(rows, cols, vals, diag, n)
    if timings is not None:
        timings["eps"] = (t1 - t0) + (time.perf_counter() - t2)
        timings["graph"] = t2 - t1
    return dist, eps


def sparse_to_dense_distance(dist: sp.spmatrix) -> np.ndarray:
    """Dense float32 matrix of a sparse Jaccard graph, absent pairs filled with 1."""
    dist = dist.tocoo()
    out = np.ones(dist.shape, dtype=np.float32)
    out[dist.row, dist.col] = dist.data
    return out
