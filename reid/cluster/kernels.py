"""Compiled (numba) kernels of the Jaccard graph: sparse min-sums, distance histograms, pair lists.

The Jaccard numerator m(i, j) = sum_l min(V[i, l], V[j, l]) is accumulated, for every row i, by
walking each of its entries (i, l) down the part of column l at and after row i (a CSC view
sorted by row), into a dense per-thread accumulator that is cleared through its list of touched
columns. Rows are dealt round-robin to the threads (the work of row i shrinks with i). The sum
order per pair is the column order of row i, so results are identical whichever kernel runs.

``NUMBA_AVAILABLE`` is False when numba is not installed; callers then use the vectorised numpy
path of :mod:`reid.cluster.jaccard`, which gives the same graph more slowly.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

try:  # numba is optional: the numpy path covers its absence.
    import numba
    from numba import njit, prange
    NUMBA_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    NUMBA_AVAILABLE = False

HIST_BINS = 1 << 14
SCAN = 32             # columns per group of the top-k scan   # bins of the distance histogram over [0, 1]; a power of two keeps edges exact


def _chunks() -> int:
    """Round-robin row groups: a few per thread so that uneven rows even out."""
    return 4 * (numba.get_num_threads() if NUMBA_AVAILABLE else 1)


if NUMBA_AVAILABLE:

    @njit(cache=True, nogil=True)
    def _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals, slot, acc,
                        touched):
        """Add min(V[i, l], V[j, l]) into acc[j] for all j >= i sharing a column; returns #touched.

        Weights are positive, so acc[j] == 0 marks a column not touched yet in this row."""
        count = 0
        for p in range(indptr[i], indptr[i + 1]):
            l = indices[p]
            a = data[p]
            for q in range(slot[p], col_ptr[l + 1]):
                j = col_rows[q]
                b = col_vals[q]
                if acc[j] == 0.0:
                    touched[count] = j
                    count += 1
                acc[j] += a if a < b else b
        return count

    @njit(cache=True, nogil=True)
    def _distance(m):
        d = 1.0 - m / (2.0 - m)
        return d if d > 0.0 else 0.0

    @njit(parallel=True, cache=True)
    def _histogram_kernel(n, indptr, indices, data, col_ptr, col_rows, col_vals, slot, nbins,
                          zero_tol, chunks):
        hist = np.zeros((chunks, nbins), dtype=np.int64)
        zeros = np.zeros(chunks, dtype=np.int64)
        for c in prange(chunks):
            acc = np.zeros(n, dtype=np.float64)
            touched = np.empty(n, dtype=np.uint32)
            for i in range(c, n, chunks):
                count = _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals,
                                        slot, acc, touched)
                for t in range(count):
                    j = touched[t]
                    m = acc[j]
                    acc[j] = 0.0
                    if j == i or m <= 0.0:
                        continue
                    d32 = np.float32(_distance(m))
                    if d32 <= zero_tol:
                        zeros[c] += 1
                    else:
                        b = int(d32 * nbins)
                        hist[c, b if b < nbins else nbins - 1] += 1
        return hist.sum(axis=0), zeros.sum()

    @njit(parallel=True, cache=True)
    def _pairs_kernel(n, indptr, indices, data, col_ptr, col_rows, col_vals, slot, max_distance,
                      chunks, cap):
        """Pairs j > i within max_distance, written per row group into (chunks, cap) buffers.

        Returns (rows, cols, vals, used, diag); a group that finds more than ``cap`` pairs keeps
        counting in ``used`` without writing, and the caller runs again with a larger cap."""
        out_rows = np.empty((chunks, cap), dtype=np.int32)
        out_cols = np.empty((chunks, cap), dtype=np.int32)
        out_vals = np.empty((chunks, cap), dtype=np.float32)
        used = np.zeros(chunks, dtype=np.int64)
        diag = np.ones(n, dtype=np.float32)
        for c in prange(chunks):
            acc = np.zeros(n, dtype=np.float64)
            touched = np.empty(n, dtype=np.uint32)
            kept = 0
            for i in range(c, n, chunks):
                count = _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals,
                                        slot, acc, touched)
                for t in range(count):
                    j = touched[t]
                    m = acc[j]
                    acc[j] = 0.0
                    d = _distance(m)
                    if j == i:
                        diag[i] = np.float32(d)
                    elif d <= max_distance:
                        if kept < cap:
                            out_rows[c, kept] = i
                            out_cols[c, kept] = j
                            out_vals[c, kept] = np.float32(d)
                        kept += 1
            used[c] = kept
        return out_rows, out_cols, out_vals, used, diag

    @njit(nogil=True, fastmath=True, cache=True)
    def _dot(a, b):
        """Inner product of two float32 vectors accumulated in float64, rounded to float32."""
        s = 0.0
        for t in range(a.size):
            s += np.float64(a[t]) * np.float64(b[t])
        return np.float32(s)

    @njit(parallel=True, cache=True)
    def _pair_dots_kernel(x, rows, cols):
        out = np.empty(rows.size, dtype=np.float32)
        for p in prange(rows.size):
            out[p] = _dot(x[rows[p]], x[cols[p]])
        return out


def pair_dots(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float32 inner products <x[rows[p]], x[cols[p]]> for every pair p."""
    return _pair_dots_kernel(np.ascontiguousarray(x, dtype=np.float32), rows, cols)


def column_walk(v) -> Tuple[np.ndarray, ...]:
    """Arrays the kernels walk: CSR (indptr, indices, data) of V, its CSC view sorted by row
    (col_ptr, col_rows, col_vals) and, per CSR entry, its own slot in the CSC view."""
    import scipy.sparse as sp
    n = v.shape[0]
    v = v.tocsr(copy=True)
    v.eliminate_zeros()                       # the kernels mark touched columns by acc > 0
    v.sort_indices()
    nnz = v.nnz
    entry_rows = np.repeat(np.arange(n, dtype=np.int32), np.diff(v.indptr))
    order = sp.csc_matrix((np.arange(1, nnz + 1, dtype=np.int64), (entry_rows, v.indices)),
                          shape=(n, n))
    order.sort_indices()
    entry = order.data - 1
    slot = np.empty(nnz, dtype=np.int64)
    slot[entry] = np.arange(nnz, dtype=np.int64)
    data = v.data.astype(np.float32)
    # Unsigned indices spare the compiled loops the negative-index wraparound tests.
    return (v.indptr.astype(np.uint64), v.indices.astype(np.uint32), data,
            order.indptr.astype(np.uint64), order.indices.astype(np.uint32), data[entry],
            slot.astype(np.uint64))


def distance_histogram(v, zero_tol: float, nbins: int = HIST_BINS) -> Tuple[np.ndarray, int]:
    """Histogram (nbins over [0, 1]) of the float32 Jaccard distances of the pairs i < j with
    shared support whose distance exceeds ``zero_tol``, and the number of those at or below it."""
    arrays = column_walk(v)
    hist, zeros = _histogram_kernel(v.shape[0], *arrays, nbins, np.float32(zero_tol), _chunks())
    return hist, int(zeros)


def pairs_within(v, max_distance: float, expected: Optional[int] = None
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle pairs (rows, cols, float32 distances) with shared support and distance
    <= ``max_distance``, and the float32 diagonal (1 where a row has no weight).

    ``expected``: about how many pairs to expect (sizes the buffers; one pass when it is
    enough, a second with exact sizes otherwise).
    """
    n = v.shape[0]
    arrays = column_walk(v)
    chunks = _chunks()
    guess = expected if expected is not None else 64 * n
    cap = max(int(1.25 * guess / chunks) + 1024, 1024)
    rows, cols, vals, used, diag = _pairs_kernel(n, *arrays, float(max_distance), chunks, cap)
    if used.max() > cap:
        rows, cols, vals, used, diag = _pairs_kernel(n, *arrays, float(max_distance), chunks,
                                                     int(used.max()))
    keep = np.arange(rows.shape[1])[None, :] < used[:, None]
    return rows[keep], cols[keep], vals[keep], diag


if NUMBA_AVAILABLE:

    @njit(parallel=True, cache=True)
    def _topk_rows_kernel(values, k):
        """Per row, the k largest entries (descending) and their columns; ties keep the earlier
        column. ``values`` may be any ordered dtype (float32, or int16 bf16 bit patterns).

        The row is cut into groups of SCAN columns. The k-th largest group maximum is a lower
        bound of the k-th largest entry (k group maxima reach it), so only entries of groups
        whose maximum reaches it, and only entries at or above it, are candidates; they are
        few, and a stable sort of them gives the result."""
        rows, width = values.shape
        groups = (width + SCAN - 1) // SCAN
        out_v = np.empty((rows, k), dtype=values.dtype)
        out_i = np.empty((rows, k), dtype=np.int32)
        for r in prange(rows):
            row = values[r]
            gmax = np.empty(groups, dtype=values.dtype)
            for g in range(groups):
                gmax[g] = row[g * SCAN:min(g * SCAN + SCAN, width)].max()
            if groups > k:
                floor = np.partition(gmax.copy(), groups - k)[groups - k]
            else:
                floor = row.min()
            cand_key = np.empty(width, dtype=np.float64)
            cand_i = np.empty(width, dtype=np.int32)
            count = 0
            for g in range(groups):
                if gmax[g] < floor:
                    continue
                for t in range(g * SCAN, min(g * SCAN + SCAN, width)):
                    if row[t] >= floor:
                        cand_key[count] = -np.float64(row[t])
                        cand_i[count] = t
                        count += 1
            order = np.argsort(cand_key[:count], kind="mergesort")[:k]
            for p in range(k):
                t = cand_i[order[p]]
                out_v[r, p] = row[t]
                out_i[r, p] = t
        return out_v, out_i

    @njit(parallel=True, cache=True)
    def _rescore_kernel(x, first_row, cand):
        """float32 <x[first_row + r], x[cand[r, c]]> for every row r and candidate c."""
        rows, width = cand.shape
        out = np.empty((rows, width), dtype=np.float32)
        for r in prange(rows):
            a = x[first_row + r]
            for c in range(width):
                out[r, c] = _dot(a, x[cand[r, c]])
        return out


def topk_rows(values: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(values, int32 columns) of the k largest entries of every row, descending."""
    return _topk_rows_kernel(np.ascontiguousarray(values), int(k))


def rescore(x: np.ndarray, first_row: int, cand: np.ndarray) -> np.ndarray:
    """Exact float32 inner products of rows first_row.. of x with their candidate columns."""
    return _rescore_kernel(x, int(first_row), np.ascontiguousarray(cand, dtype=np.int32))


def warm_up_kernels() -> float:
    """Compile (or load from numba's on-disk cache) every kernel on tiny inputs; returns seconds.

    The first call in a fresh checkout compiles for several seconds; later processes load the
    cache. Benchmarks call this before timing so that compilation is reported on its own.
    """
    import time
    import scipy.sparse as sp
    if not NUMBA_AVAILABLE:
        return 0.0
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    rows = np.array([0, 1, 2], dtype=np.int64)
    pair_dots(x, rows, rows[::-1].copy())
    topk_rows(x, 2)
    topk_rows(np.abs(x).view(np.int32).astype(np.int16), 2)
    rescore(x, 0, np.zeros((2, 2), dtype=np.int32))
    v = sp.csr_matrix(np.abs(x @ x.T) * (rng.random((8, 8)) > 0.5)).astype(np.float32)
    distance_histogram(v, 1e-5)
    pairs_within(v, 0.5)
    return time.perf_counter() - t0
