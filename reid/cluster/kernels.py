"""Compiled (numba) kernels of the Jaccard graph: sparse min-sums, distance histograms, pair lists.

The Jaccard numerator m(i, j) = sum_l min(V[i, l], V[j, l]) is accumulated, for every row i, by
walking each of its entries (i, l) down the part of column l at and after row i (a CSC view
sorted by row), into a dense per-thread accumulator that is cleared through its list of touched
columns. Rows are dealt round-robin to the threads (the work of row i shrinks with i). The sum
order per pair is the column order of row i, so results are identical whichever kernel runs.

``NUMBA_AVAILABLE`` is False when numba is not installed; callers then use the vectorised numpy
path of :mod:`reid.cluster.jaccard`, which gives the same graph more slowly.

Compilation and its on-disk cache
---------------------------------
Every kernel is a :func:`common.numba_kernels.numba_kernel`: compiled lazily, on its first
call, and saved in numba's on-disk cache, which a later process loads instead of compiling (a
fraction of a second for the whole pseudo-labelling path, against about 10 s of compilation on a
2-core CPU). Where that cache lives (``$NUMBA_CACHE_DIR/cluster_<hash of this folder>/`` when
that is set, else ``__pycache__/`` beside this file, numba's per-user cache folder, or a private
``<tempdir>/gcl-reid-numba-cache-<uid>`` folder) and what invalidates it (editing this file,
upgrading numba, another CPU model) is described there. Each kernel is called with one set of
argument types only (``topk_rows`` with two: float32, and int16 bf16 bit patterns on CPUs that
multiply bf16 in hardware); :func:`warm_up_kernels` compiles or loads all of them.

:func:`kernel_cache_stats` says, per kernel, which signatures this process compiled or loaded
and how many came from the cache; :func:`kernel_cache_dir` where the cache is.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from common.numba_kernels import (NUMBA_AVAILABLE, cache_dir, cache_stats, numba, numba_kernel,
                                  prange)

HIST_BINS = 1 << 14   # bins of the distance histogram over [0, 1]; a power of two keeps edges exact
SCAN = 32             # columns per group of the top-k scan


def _chunks() -> int:
    """Round-robin row groups: a few per thread so that uneven rows even out."""
    return 4 * (numba.get_num_threads() if NUMBA_AVAILABLE else 1)


if NUMBA_AVAILABLE:

    @numba_kernel(nogil=True)
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

    @numba_kernel(nogil=True)
    def _distance(m):
        d = 1.0 - m / (2.0 - m)
        return d if d > 0.0 else 0.0

    @numba_kernel(parallel=True)
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
        # Per row group; the caller sums them (a reduction in here took ~4 s more to compile).
        return hist, zeros

    @numba_kernel(parallel=True)
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

    @numba_kernel(nogil=True, fastmath=True)
    def _dot(a, b):
        """Inner product of two float32 vectors accumulated in float64, rounded to float32."""
        s = 0.0
        for t in range(a.size):
            s += np.float64(a[t]) * np.float64(b[t])
        return np.float32(s)

    @numba_kernel(parallel=True)
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
    return hist.sum(axis=0), int(zeros.sum())


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

    @numba_kernel(nogil=True)
    def _insert_top(keys, cols, count, k, value, col):
        """Insert (value, col) into the descending list keys[:count] of at most k entries, after
        the entries >= value (so, fed in column order, ties keep the earlier column); returns
        the new count. A value not above the k-th of a full list is dropped."""
        if count == k:
            if not value > keys[k - 1]:
                return count
            p = k - 1
        else:
            p = count
            count += 1
        while p > 0 and value > keys[p - 1]:
            keys[p] = keys[p - 1]
            cols[p] = cols[p - 1]
            p -= 1
        keys[p] = value
        cols[p] = col
        return count

    @numba_kernel(parallel=True)
    def _topk_rows_kernel(values, k):
        """Per row, the k largest entries (descending) and their columns; ties keep the earlier
        column. ``values`` may be any ordered dtype (float32, or int16 bf16 bit patterns).

        The row is cut into groups of SCAN columns. The k-th largest group maximum is a lower
        bound of the k-th largest entry (k group maxima reach it), so only entries of groups
        whose maximum reaches it, and only entries at or above it, are candidates; they are
        few, and inserting them in column order into a sorted list of k gives the result.
        (Plain loops: np.partition / np.argsort here made this kernel take ~20 s to compile.)"""
        rows, width = values.shape
        groups = (width + SCAN - 1) // SCAN
        out_v = np.empty((rows, k), dtype=values.dtype)
        out_i = np.empty((rows, k), dtype=np.int32)
        for r in prange(rows):
            row = values[r]
            gmax = np.empty(groups, dtype=values.dtype)
            for g in range(groups):
                m = row[g * SCAN]
                for t in range(g * SCAN + 1, min(g * SCAN + SCAN, width)):
                    if row[t] > m:
                        m = row[t]
                gmax[g] = m
            if groups > k:                      # the k-th largest group maximum
                top_g = np.empty(k, dtype=values.dtype)
                top_gi = np.empty(k, dtype=np.int32)
                count = 0
                for g in range(groups):
                    count = _insert_top(top_g, top_gi, count, k, gmax[g], g)
                floor = top_g[k - 1]
            else:                               # every entry is a candidate
                floor = row[0]
                for t in range(1, width):
                    if row[t] < floor:
                        floor = row[t]
            keys = out_v[r]
            cols = out_i[r]
            count = 0
            for g in range(groups):
                if gmax[g] < floor:
                    continue
                for t in range(g * SCAN, min(g * SCAN + SCAN, width)):
                    if row[t] >= floor:
                        count = _insert_top(keys, cols, count, k, row[t], t)
        return out_v, out_i

    @numba_kernel(parallel=True)
    def _rescore_kernel(x, first_row, cand):
        """float32 <x[first_row + r], x[cand[r, c]]> for every row r and candidate c."""
        rows, width = cand.shape
        out = np.empty((rows, width), dtype=np.float32)
        for r in prange(rows):
            a = x[first_row + r]
            for c in range(width):
                out[r, c] = _dot(a, x[cand[r, c]])
        return out


if NUMBA_AVAILABLE:

    @numba_kernel(parallel=True)
    def _merge_block_kernel(block, first_col, best_v, best_i, counts, first_row):
        """Merge every row r of ``block`` (columns first_col..) into the running descending
        top-k list of row first_row + r (best_v / best_i, counts[row] entries filled). Groups
        of SCAN columns whose maximum does not beat a full list's k-th entry are skipped."""
        rows, width = block.shape
        k = best_v.shape[1]
        groups = (width + SCAN - 1) // SCAN
        for r in prange(rows):
            keys = best_v[first_row + r]
            cols = best_i[first_row + r]
            count = counts[first_row + r]
            row = block[r]
            for g in range(groups):
                hi = min(g * SCAN + SCAN, width)
                if count == k:
                    m = row[g * SCAN]
                    for t in range(g * SCAN + 1, hi):
                        if row[t] > m:
                            m = row[t]
                    if not m > keys[k - 1]:
                        continue
                for t in range(g * SCAN, hi):
                    count = _insert_top(keys, cols, count, k, row[t], first_col + t)
            counts[first_row + r] = count


def merge_topk_block(block: np.ndarray, first_col: int, best_v: np.ndarray, best_i: np.ndarray,
                     counts: np.ndarray, first_row: int) -> None:
    """Merge a float32 block of similarities (rows first_row.., columns first_col..) into the
    running per-row top-k lists, in place. Fed column blocks in increasing order, ties keep the
    earlier column, as in :func:`topk_rows`."""
    _merge_block_kernel(np.ascontiguousarray(block), int(first_col), best_v, best_i, counts,
                        int(first_row))


def topk_rows(values: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """(values, int32 columns) of the k largest entries of every row, descending."""
    return _topk_rows_kernel(np.ascontiguousarray(values), int(k))


def rescore(x: np.ndarray, first_row: int, cand: np.ndarray) -> np.ndarray:
    """Exact float32 inner products of rows first_row.. of x with their candidate columns."""
    return _rescore_kernel(x, int(first_row), np.ascontiguousarray(cand, dtype=np.int32))


KERNELS = ("_pair_dots_kernel", "_topk_rows_kernel", "_rescore_kernel", "_histogram_kernel",
           "_pairs_kernel", "_merge_block_kernel")   # the entry points; their helpers are compiled into them


def kernel_cache_dir() -> Optional[str]:
    """The folder the kernels are cached in (None without numba)."""
    return cache_dir(globals()[KERNELS[0]]) if NUMBA_AVAILABLE else None


def kernel_cache_stats() -> Dict[str, Dict[str, int]]:
    """Per kernel, in this process: signatures ready (compiled or loaded), signatures loaded
    from the on-disk cache (``hits``) and compiled because absent from it (``misses``)."""
    return cache_stats({name: globals()[name] for name in KERNELS}) if NUMBA_AVAILABLE else {}


def warm_up_kernels() -> float:
    """Compile (or load from numba's on-disk cache) every kernel on tiny inputs, for every
    argument type the callers use; returns seconds.

    The first call on a machine (or after this file changed) compiles for several seconds; later
    processes load the cache. Benchmarks call this before timing so that compilation is
    reported on its own.
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
    merge_topk_block(x, 0, np.full((8, 2), -np.inf, dtype=np.float32),
                     np.full((8, 2), -1, dtype=np.int64), np.zeros(8, dtype=np.int64), 0)
    v = sp.csr_matrix(np.abs(x @ x.T) * (rng.random((8, 8)) > 0.5)).astype(np.float32)
    distance_histogram(v, 1e-5)
    pairs_within(v, 0.5)
    return time.perf_counter() - t0
