"""Market-1501 retrieval metrics (mAP, CMC, mINP), vectorised over all queries.

Protocol: for each query the gallery images with the same identity AND the same camera are
removed from its ranked list ("junk"); a query with no remaining match is skipped and counted.
Every other gallery image, distractors (pid 0) and junk images (pid -1) included, is a wrong
match unless its identity is the query's. Ties in distance are broken by gallery index (as a
stable sort would), so the result equals
:func:`benchmarks.reference.evaluation.evaluate_reference`: the same ranked positions, hence the
same CMC, and mAP / mINP up to the order of their float64 sums (about 1e-16 at Market size).

No row is sorted. The scores need only the position of each correct match ("positive") in its
row's junk-free ranked list: how many gallery items rank before it (a smaller distance, or the
same distance and a smaller gallery index), less the junk items among them. Only items not
farther than the row's last positive can rank before a positive. Two paths count them:

* compiled (numba, the usual case; :func:`_score_rows_kernel`, blocks of rows side by side in
  threads): one branch-free pass over the row keeps the distances not above the last positive's
  (about a tenth of a Market row); for every positive (t, c) a vectorised loop over the kept
  ones counts those below t, and, only when another item lies at exactly t, a second loop adds
  the ones at t before gallery index c. A row with many positives (over ``_SEARCH_ABOVE``)
  places each item among its positives by binary search instead;
* numpy (without numba, or for a distance type other than float16 / float32 / float64;
  :func:`_match_positions`), per chunk of rows: the positives are laid out as a padded per-row
  table; the items strictly between a row's last two positives (often most of them) are just
  counted, each other item gets the number of positives before it by a branchless binary
  search over the table; a per-row histogram of those numbers, less the junk items' share,
  gives by a cumulative sum the number of items ranked before every positive.

mAP, CMC and mINP follow from those positions alone. Both paths fill the same per-row figures
(:class:`_RowScores`), which are summed in the same order, so the two give the same numbers to
the last bit.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from common.numba_kernels import NUMBA_AVAILABLE, numba_kernel


def torch_threads() -> int:
    """Worker threads to use: torch's setting (follows OMP_NUM_THREADS), 1 without torch."""
    try:
        import torch

        return max(1, torch.get_num_threads())
    except ImportError:  # pragma: no cover
        return 1

# Distance-matrix entries handled per chunk: a few MB of temporaries per worker, mostly in cache.
_CHUNK_ELEMENTS = 1 << 20


def _to_numpy(value: Any, name: str) -> np.ndarray:
    """Accept numpy arrays, torch tensors (any device) and sequences."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object:
        raise TypeError(f"{name}: expected a numeric array, got objects")
    return array


def _check_inputs(distmat, q_pids, g_pids, q_camids, g_camids):
    distmat = _to_numpy(distmat, "distmat")
    if distmat.ndim != 2:
        raise ValueError(f"distmat: expected a 2-D (num_query, num_gallery) matrix, "
                         f"got shape {distmat.shape}")
    if not np.issubdtype(distmat.dtype, np.floating):
        distmat = distmat.astype(np.float32)
    num_q, num_g = distmat.shape
    arrays = {}
    for name, value, size in (("q_pids", q_pids, num_q), ("g_pids", g_pids, num_g),
                              ("q_camids", q_camids, num_q), ("g_camids", g_camids, num_g)):
        array = _to_numpy(value, name).reshape(-1)
        if array.shape[0] != size:
            raise ValueError(f"{name}: expected {size} entries to match distmat {distmat.shape}, "
                             f"got {array.shape[0]}")
        arrays[name] = array
    if num_q == 0 or num_g == 0:
        raise ValueError(f"distmat is empty: shape {distmat.shape}")
    if np.isnan(distmat.max()):  # max propagates NaN, and reads the matrix only once
        raise ValueError("distmat contains NaN distances")
    return np.ascontiguousarray(distmat), arrays["q_pids"], arrays["g_pids"], arrays["q_camids"], arrays["g_camids"]


def _same_identity_pairs(q_pids: np.ndarray, g_pids: np.ndarray):
    """All (query, gallery) index pairs that share an identity, without a (Q, G) mask.

    The gallery is grouped by identity once; each query's pairs are one contiguous range of that
    grouping. Returns ``rows, cols`` (int64), grouped by row, cols ascending within a row.
    """
    g_order = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[g_order]
    start = np.searchsorted(sorted_pids, q_pids, side="left")
    counts = np.searchsorted(sorted_pids, q_pids, side="right") - start
    rows = np.repeat(np.arange(len(q_pids), dtype=np.int64), counts)
    offsets = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = g_order[start[rows] + offsets].astype(np.int64)
    return rows, cols


def _positive_table(num_rows: int, rows: np.ndarray, cols: np.ndarray, values: np.ndarray,
                    num_g: int):
    """Each row's positives sorted by (distance, gallery index), as padded per-row tables.

    Returns ``rows, slot, table, table_cols``: the positives' rows and their rank ``slot``
    among their row's positives (sorted by row, then slot); ``table[r, s]`` the distance of
    row r's positive of rank s and ``table_cols`` its gallery index. The width is a power of
    two with at least one padding entry per row (+inf, gallery index ``num_g``), which the
    branchless search of :func:`_positives_before` relies on.
    """
    order = np.lexsort((cols, values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    per_row = np.bincount(rows, minlength=num_rows)
    slot = np.arange(len(rows)) - (np.cumsum(per_row) - per_row)[rows]
    width = 1 << int(per_row.max()).bit_length()
    table = np.full((num_rows, width), np.inf, dtype=values.dtype)
    table_cols = np.full((num_rows, width), num_g, dtype=np.intp)
    table[rows, slot] = values
    table_cols[rows, slot] = cols
    return rows, slot, table, table_cols


def _positives_before(table: np.ndarray, table_cols: np.ndarray, rows: np.ndarray,
                      values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """For each gallery item (row, distance, gallery index): how many positives of its row
    rank before it, i.e. have a smaller distance, or the same distance and a smaller index.

    A branchless binary search over the padded table counts the strictly smaller distances
    (all items take the same log2(width) steps); the rare items whose distance equals one of
    their row's positives then add the tied positives with a smaller gallery index.
    """
    width = table.shape[1]
    flat = table.reshape(-1)
    base = rows.astype(np.intp) * width
    index = base.copy()  # flat index of the first table entry not known to be smaller
    step = width // 2
    while step:
        index += step * (flat[index + (step - 1)] < values)
        step //= 2
    tied = np.nonzero(flat[index] == values)[0]
    count = index - base
    if len(tied):
        r = rows[tied]
        count[tied] += ((table[r] == values[tied, None])
                        & (table_cols[r] < cols[tied, None])).sum(axis=1)
    return count


def _match_positions(dist: np.ndarray, match_rows: np.ndarray, match_cols: np.ndarray,
                     junk_rows: np.ndarray, junk_cols: np.ndarray):
    """``rows, slot, positions`` of the matches, sorted by row and then by position: ``slot``
    is a match's rank among its row's matches, ``positions`` its 0-based position in the
    junk-free ranked list of its row (see the module docstring for the method)."""
    num_rows, num_g = dist.shape
    rows, slot, table, table_cols = _positive_table(
        num_rows, match_rows, match_cols, dist[match_rows, match_cols], num_g)
    width = table.shape[1]
    per_row = np.bincount(rows, minlength=num_rows)
    has_match = per_row > 0
    last, second_last = (table[np.arange(num_rows), np.maximum(per_row - k, 0)] for k in (1, 2))
    second_last[per_row < 2] = -np.inf
    # Only items not farther than their row's last positive can come before a positive. Those
    # strictly between the last two positives (often most of them) have all but the last
    # positive before them: they are counted, not searched.
    near = dist <= second_last[:, None]
    gap = np.count_nonzero(dist < last[:, None], axis=1) - np.count_nonzero(near, axis=1)
    near |= dist == last[:, None]
    near[~has_match] = False
    flat = np.flatnonzero(near)
    near_rows = np.repeat(np.arange(num_rows, dtype=np.intp), np.count_nonzero(near, axis=1))
    near_cols = flat - near_rows * num_g
    before = _positives_before(table, table_cols, near_rows, dist.reshape(-1)[flat], near_cols)
    histogram = np.bincount(near_rows * width + before, minlength=num_rows * width)
    in_gap = has_match & (gap > 0)  # gap <= 0: the last two positives are tied
    histogram[np.nonzero(in_gap)[0] * width + per_row[in_gap] - 1] += gap[in_gap]
    junk_values = dist[junk_rows, junk_cols]
    near_junk = (junk_values <= last[junk_rows]) & has_match[junk_rows]
    if near_junk.any():  # junk items are not in the ranked list: take their share out again
        jr, jc, jv = junk_rows[near_junk], junk_cols[near_junk], junk_values[near_junk]
        histogram -= np.bincount(jr * width + _positives_before(table, table_cols, jr, jv, jc),
                                 minlength=num_rows * width)
    # The valid items with at most s positives before them are the ones ranked before the
    # positive of rank s, plus that positive itself.
    ranked_before = np.cumsum(histogram.reshape(num_rows, width), axis=1)
    return rows, slot, ranked_before[rows, slot] - 1


class _RowScores:
    """Per query row: the number of valid matches (0: the query is skipped), the sum of their
    precisions (AP times that number), and the 0-based positions of the first and the last
    match in the junk-free ranked list."""

    def __init__(self, num_rows: int) -> None:
        self.matches = np.zeros(num_rows, dtype=np.int64)
        self.precision_sum = np.zeros(num_rows, dtype=np.float64)
        self.first = np.zeros(num_rows, dtype=np.int64)
        self.last = np.zeros(num_rows, dtype=np.int64)


def _score_chunk_numpy(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray, junk: np.ndarray,
                       scores: _RowScores, start: int) -> None:
    """Fill ``scores`` for the block of query rows starting at ``start``, given their
    same-identity pairs (rows relative to the block), with the vectorised numpy path."""
    if junk.all():
        return
    rows, rank_in_row, positions = _match_positions(dist, rows[~junk], cols[~junk], rows[junk],
                                                    cols[junk])
    num_rows = dist.shape[0]
    counts = np.bincount(rows, minlength=num_rows)
    group_start = np.cumsum(counts) - counts
    has_match = counts > 0
    precision = (rank_in_row + 1.0) / (positions + 1.0)
    block = slice(start, start + num_rows)
    scores.matches[block] = counts
    scores.precision_sum[block] = np.bincount(rows, weights=precision, minlength=num_rows)
    scores.first[block][has_match] = positions[group_start[has_match]]
    scores.last[block][has_match] = positions[group_start[has_match] + counts[has_match] - 1]


if NUMBA_AVAILABLE:

    @numba_kernel(nogil=True)
    def _positives_before_item(values, cols, lo, hi, value, col):
        """How many of the positives values[lo:hi] (sorted by distance, then gallery index)
        rank before the item (value, col): smaller distance, or equal and smaller index."""
        a, b = lo, hi
        while a < b:
            mid = (a + b) >> 1
            if values[mid] < value or (values[mid] == value and cols[mid] < col):
                a = mid + 1
            else:
                b = mid
        return a - lo

    @numba_kernel(nogil=True)
    def _keep_near(row, far, kept_values):
        """Copy the distances of ``row`` not above ``far`` (the only items that can rank before
        a positive) to the front of ``kept_values``, in gallery order; returns how many. No
        branch: every item is written, the count moves on when it is kept."""
        kept = 0
        for j in range(row.size):
            value = row[j]
            kept_values[kept] = value
            kept += value <= far
        return kept

    @numba_kernel(nogil=True)
    def _before_by_counting(row, kept_values, kept, value, col):
        """How many items of ``row`` rank before the positive (value, col): the kept items
        nearer than it (one vectorised loop with 32-bit counters, which also counts the equal
        ones), plus, only when another item is as near, the equal ones before its index."""
        nearer = np.int32(0)
        equal = np.int32(0)
        for q in range(kept):
            nearer = np.int32(nearer + np.int32(kept_values[q] < value))
            equal = np.int32(equal + np.int32(kept_values[q] == value))
        if equal > 1:  # the positive itself is one of them
            for j in range(col):
                nearer = np.int32(nearer + np.int32(row[j] == value))
        return nearer

    @numba_kernel(nogil=True)
    def _before_by_search(row, far, pos_values, pos_cols, lo, hi, before):
        """``before[s]`` = items of ``row`` ranked before the positive of rank s, every item
        not above ``far`` placed among the positives by binary search (for many positives)."""
        count = hi - lo
        hist = np.zeros(count + 1, dtype=np.int64)  # items by the number of positives before
        for j in range(row.size):
            if row[j] <= far:
                hist[_positives_before_item(pos_values, pos_cols, lo, hi, row[j], j)] += 1
        ranked = 0  # the items with at most s positives before them: positive s and those before
        for s in range(count):
            ranked += hist[s]
            before[s] = ranked - 1

    @numba_kernel(nogil=True)
    def _score_rows_kernel(dist, pos_ptr, pos_values, pos_cols, junk_ptr, junk_cols,
                           search_above, matches, precision_sum, first, last, row_first,
                           row_last):
        """Rows ``row_first`` .. ``row_last - 1`` of :class:`_RowScores` (passed as its arrays).

        ``pos_ptr`` / ``pos_values`` / ``pos_cols``: per row (CSR-like) its positives'
        distances and gallery indices, sorted by (distance, index); ``junk_ptr`` /
        ``junk_cols``: per row its junk gallery indices. A row with up to ``search_above``
        positives counts the items before each of them over the kept items (cost ~ positives
        x kept items), one with more places its items by binary search (~ items x log2)."""
        num_g = dist.shape[1]
        kept_values = np.empty(num_g, dtype=dist.dtype)
        widest = 0
        for r in range(row_first, row_last):
            widest = max(widest, pos_ptr[r + 1] - pos_ptr[r])
        before = np.empty(widest, dtype=np.int64)  # per positive of the row: items before it
        for r in range(row_first, row_last):
            lo, hi = pos_ptr[r], pos_ptr[r + 1]
            count = hi - lo
            if count == 0:
                continue
            row = dist[r]
            far = pos_values[hi - 1]
            if count <= search_above:
                kept = _keep_near(row, far, kept_values)
                for p in range(lo, hi):
                    before[p - lo] = _before_by_counting(row, kept_values, kept, pos_values[p],
                                                         pos_cols[p])
            else:
                _before_by_search(row, far, pos_values, pos_cols, lo, hi, before)
            # Junk items are not in the ranked list: take out the ones before each positive.
            junk = np.zeros(count + 1, dtype=np.int64)
            for q in range(junk_ptr[r], junk_ptr[r + 1]):
                j = junk_cols[q]
                if row[j] <= far:
                    junk[_positives_before_item(pos_values, pos_cols, lo, hi, row[j], j)] += 1
            junk_before = 0
            total = 0.0
            for p in range(lo, hi):
                junk_before += junk[p - lo]
                position = before[p - lo] - junk_before
                total += (p - lo + 1.0) / (position + 1.0)
                if p == lo:
                    first[r] = position
                last[r] = position
            matches[r] = count
            precision_sum[r] = total


# Rows with up to this many positives count the items before each positive with vectorised
# loops; rows with more place every item among the positives by binary search.
_SEARCH_ABOVE = 128


def _compiled_dtype(distmat: np.ndarray):
    """The float type the kernel reads ``distmat`` as (float16 is widened to float32: exact,
    same order and ties), or None where the numpy path runs: without numba, for another
    distance type, or for rows too long for the kernel's 32-bit counters."""
    if not NUMBA_AVAILABLE or distmat.shape[1] >= 2 ** 31:
        return None
    if distmat.dtype in (np.float32, np.float64):
        return distmat.dtype
    return np.dtype(np.float32) if distmat.dtype == np.float16 else None


def _score_rows_compiled(distmat: np.ndarray, pair_rows: np.ndarray, pair_cols: np.ndarray,
                         pair_junk: np.ndarray, scores: _RowScores,
                         run_blocks: Callable) -> None:
    """Fill ``scores`` with the compiled kernel: the positives sorted per row once (a few per
    query), then blocks of rows side by side (``run_blocks``: a map over row blocks)."""
    num_q = distmat.shape[0]
    dist = distmat.astype(_compiled_dtype(distmat), copy=False)
    pos_rows, pos_cols = pair_rows[~pair_junk], pair_cols[~pair_junk]
    pos_values = dist[pos_rows, pos_cols]
    order = np.lexsort((pos_cols, pos_values, pos_rows))
    pos_ptr = np.concatenate(([0], np.cumsum(np.bincount(pos_rows, minlength=num_q))))
    junk_ptr = np.concatenate(([0], np.cumsum(np.bincount(pair_rows[pair_junk],
                                                          minlength=num_q))))
    arrays = (dist, pos_ptr, np.ascontiguousarray(pos_values[order]),
              np.ascontiguousarray(pos_cols[order]), junk_ptr,
              np.ascontiguousarray(pair_cols[pair_junk]), int(_SEARCH_ABOVE),
              scores.matches, scores.precision_sum, scores.first, scores.last)
    run_blocks(lambda first, last: _score_rows_kernel(*arrays, first, last))


def _sum_scores(scores: _RowScores, step: int, max_rank: int):
    """(sum of AP, sum of INP, histogram of first-match positions, number of valid queries),
    the sums taken per chunk of ``step`` rows and then over the chunks (a fixed order)."""
    ap_sum, inp_sum = 0.0, 0.0
    for start in range(0, len(scores.matches), step):
        block = slice(start, start + step)
        counts = scores.matches[block]
        valid = counts > 0
        if not valid.any():
            continue
        counts = counts[valid]
        ap_sum += float(np.sum(scores.precision_sum[block][valid] / counts))
        inp_sum += float(np.sum(counts / (scores.last[block][valid] + 1.0)))
    valid = scores.matches > 0
    first_hist = np.bincount(np.minimum(scores.first[valid], max_rank), minlength=max_rank + 1)
    return ap_sum, inp_sum, first_hist, int(np.count_nonzero(valid))


def _in_blocks(num_rows: int, step: int, workers: int) -> Callable:
    """A runner of ``fn(first, last)`` over blocks of at most ``step`` rows covering
    ``range(num_rows)``, on ``workers`` threads (numpy and the kernel release the GIL)."""
    bounds = [(start, min(num_rows, start + step)) for start in range(0, num_rows, step)]

    def run(fn: Callable) -> None:
        if workers > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(max_workers=min(workers, len(bounds))) as pool:
                list(pool.map(lambda b: fn(*b), bounds))
        else:
            for first, last in bounds:
                fn(first, last)
    return run


def evaluate(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> dict:
    """mAP, CMC and mINP under the Market-1501 protocol.

    Args:
        distmat: (num_query, num_gallery) distances (numpy array or torch tensor); smaller is
            more similar.
        q_pids, g_pids, q_camids, g_camids: identity and camera labels (arrays or tensors).
        max_rank: length of the returned CMC curve.

    Returns:
        ``{"mAP": float, "cmc": np.ndarray (max_rank,), "mINP": float,
        "num_valid_queries": int, "num_skipped_queries": int}``; all scores are fractions
        in [0, 1], averaged over the queries that have at least one valid match.
    """
    if int(max_rank) < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    max_rank = int(max_rank)
    distmat, q_pids, g_pids, q_camids, g_camids = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids)
    num_q, num_g = distmat.shape
    step = max(1, _CHUNK_ELEMENTS // num_g)

    pair_rows, pair_cols = _same_identity_pairs(q_pids, g_pids)
    pair_junk = g_camids[pair_cols] == q_camids[pair_rows]
    scores = _RowScores(num_q)
    workers = torch_threads()
    if _compiled_dtype(distmat) is not None:
        # Blocks of rows: a few per thread, so that a slow thread on a shared CPU evens out.
        block = max(1, min(step, -(-num_q // (4 * workers))))
        _score_rows_compiled(distmat, pair_rows, pair_cols, pair_junk, scores,
                             _in_blocks(num_q, block, workers))
    else:
        bounds = np.searchsorted(pair_rows, np.arange(0, num_q + step, step))

        def score(start: int, stop: int) -> None:
            sl = slice(bounds[start // step], bounds[start // step + 1])
            _score_chunk_numpy(distmat[start:stop], pair_rows[sl] - start, pair_cols[sl],
                               pair_junk[sl], scores, start)

        _in_blocks(num_q, step, workers)(score)
    ap_sum, inp_sum, first_hist, num_valid = _sum_scores(scores, step, max_rank)

    if num_valid == 0:
        raise ValueError("no query has a correct match in the gallery (after removing "
                         "same-identity same-camera images); check the pids and camids")
    cmc = np.cumsum(first_hist[:max_rank]) / num_valid
    return {
        "mAP": ap_sum / num_valid,
        "cmc": cmc.astype(np.float64),
        "mINP": inp_sum / num_valid,
        "num_valid_queries": int(num_valid),
        "num_skipped_queries": int(num_q - num_valid),
    }
