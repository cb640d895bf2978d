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

from typing import Tuple

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
    def _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals, slot, acc, mark,
                        touched):
        """Add min(V[i, l], V[j, l]) into acc[j] for all j >= i sharing a column; returns #touched."""
        count = 0
        for p in range(indptr[i], indptr[i + 1]):
            l = indices[p]
            a = data[p]
            for q in range(slot[p], col_ptr[l + 1]):
                j = col_rows[q]
                b = col_vals[q]
                acc[j] += a if a < b else b
                if not mark[j]:
                    mark[j] = True
                    touched[count] = j
                    count += 1
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
            mark = np.zeros(n, dtype=np.bool_)
            touched = np.empty(n, dtype=np.int32)
            for i in range(c, n, chunks):
                count = _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals,
                                        slot, acc, mark, touched)
                for t in range(count):
                    j = touched[t]
                    m = acc[j]
                    acc[j] = 0.0
                    mark[j] = False
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
                      chunks, offsets, out_cols, out_vals, diag):
        """With out_cols empty: per-row counts of pairs j > i within max_distance (returned).
        Otherwise: writes those pairs at ``offsets`` and the diagonal distances into ``diag``."""
        counts = np.zeros(n, dtype=np.int64)
        fill = out_cols.size > 0
        for c in prange(chunks):
            acc = np.zeros(n, dtype=np.float64)
            mark = np.zeros(n, dtype=np.bool_)
            touched = np.empty(n, dtype=np.int32)
            for i in range(c, n, chunks):
                count = _accumulate_row(i, indptr, indices, data, col_ptr, col_rows, col_vals,
                                        slot, acc, mark, touched)
                pos = offsets[i] if fill else 0
                kept = 0
                diag_d = 1.0
                for t in range(count):
                    j = touched[t]
                    m = acc[j]
                    acc[j] = 0.0
                    mark[j] = False
                    if m <= 0.0:
                        continue
                    d = _distance(m)
                    if j == i:
                        diag_d = d
                    elif d <= max_distance:
                        if fill:
                            out_cols[pos + kept] = j
                            out_vals[pos + kept] = np.float32(d)
                        kept += 1
                counts[i] = kept
                if fill:
                    diag[i] = np.float32(diag_d)
        return counts


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
    v = v.tocsr()
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
    return (v.indptr.astype(np.int64), v.indices.astype(np.int32), data,
            order.indptr.astype(np.int64), order.indices.astype(np.int32), data[entry], slot)


def distance_histogram(v, zero_tol: float, nbins: int = HIST_BINS) -> Tuple[np.ndarray, int]:
    """Histogram (nbins over [0, 1]) of the float32 Jaccard distances of the pairs i < j with
    shared support whose distance exceeds ``zero_tol``, and the number of those at or below it."""
    arrays = column_walk(v)
    hist, zeros = _histogram_kernel(v.shape[0], *arrays, nbins, np.float32(zero_tol), _chunks())
    return hist, int(zeros)


def pairs_within(v, max_distance: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle pairs (rows, cols, float32 distances) with shared support and distance
    <= ``max_distance``, and the float32 diagonal (1 where a row has no weight)."""
    n = v.shape[0]
    arrays = column_walk(v)
    chunks = _chunks()
    empty_i = np.zeros(0, dtype=np.int32)
    empty_f = np.zeros(0, dtype=np.float32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    counts = _pairs_kernel(n, *arrays, float(max_distance), chunks, offsets, empty_i, empty_f,
                           empty_f)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    cols = np.empty(max(total, 1), dtype=np.int32)
    vals = np.empty(max(total, 1), dtype=np.float32)
    diag = np.ones(n, dtype=np.float32)
    _pairs_kernel(n, *arrays, float(max_distance), chunks, offsets, cols, vals, diag)
    rows = np.repeat(np.arange(n, dtype=np.int32), counts)
    return rows, cols[:total], vals[:total], diag


if NUMBA_AVAILABLE:

    @njit(parallel=True, cache=True)
    def _topk_rows_kernel(values, k):
        """Per row, the k largest entries (descending) and their columns; ties keep the earlier
        column. ``values`` may be any ordered dtype (float32, or uint16 order keys)."""
        rows, width = values.shape
        out_v = np.empty((rows, k), dtype=values.dtype)
        out_i = np.empty((rows, k), dtype=np.int32)
        for r in prange(rows):
            row = values[r]
            buf_v = out_v[r]
            buf_i = out_i[r]
            for t in range(k):                       # sorted start from the first k columns
                v = row[t]
                p = t
                while p > 0 and buf_v[p - 1] < v:
                    buf_v[p] = buf_v[p - 1]
                    buf_i[p] = buf_i[p - 1]
                    p -= 1
                buf_v[p] = v
                buf_i[p] = t
            floor = buf_v[k - 1]
            t0 = k
            while t0 < width:                        # groups of SCAN columns, skipped whole
                t1 = min(t0 + SCAN, width)           # when none beats the current floor
                top = row[t0]
                for t in range(t0 + 1, t1):
                    top = max(top, row[t])
                if top > floor:
                    for t in range(t0, t1):
                        v = row[t]
                        if v > floor:
                            p = k - 1
                            while p > 0 and buf_v[p - 1] < v:
                                buf_v[p] = buf_v[p - 1]
                                buf_i[p] = buf_i[p - 1]
                                p -= 1
                            buf_v[p] = v
                            buf_i[p] = t
                            floor = buf_v[k - 1]
                t0 = t1
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
