"""Market-1501 retrieval metrics (mAP, CMC, mINP), vectorised over all queries.

Protocol: for each query the gallery images with the same identity AND the same camera are
removed from its ranked list ("junk"); a query with no remaining match is skipped and counted.
Every other gallery image, distractors (pid 0) and junk images (pid -1) included, is a wrong
match unless its identity is the query's. Ties in distance are broken by gallery index (as a
stable sort would), so the result equals
:func:`benchmarks.reference.evaluation.evaluate_reference`: the same ranked positions, hence the
same CMC, and mAP / mINP up to the order of their float64 sums (about 1e-16 at Market size).

No row is sorted. The scores need only the position of each correct match in its row's
junk-free ranked list, i.e. how many valid gallery items come before it. For a chunk of query
rows:

1. the correct matches ("positives", a few per row) are sorted by (distance, gallery index) and
   laid out as a small per-row table padded with +inf;
2. only gallery items not farther than their row's last positive can precede a positive. Those
   strictly between the row's last two positives (often most of them) all have every positive
   but the last before them, and are just counted; each of the others gets the number of its
   row's positives ranked before it by a branchless binary search over the table (an exact tie
   with a positive is settled by gallery index);
3. a per-row histogram of those numbers, less the junk items' share, gives by a cumulative sum
   the number of valid items ranked before every positive.

mAP, CMC and mINP follow from those positions alone.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


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


def _score_chunk(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray, junk: np.ndarray,
                 max_rank: int):
    """(sum of AP, sum of INP, histogram of first-match positions, number of valid queries)
    for a block of query rows, given their same-identity pairs (rows relative to the block)."""
    empty = (0.0, 0.0, np.zeros(max_rank + 1, dtype=np.int64), 0)
    if junk.all():
        return empty
    rows, rank_in_row, positions = _match_positions(dist, rows[~junk], cols[~junk], rows[junk],
                                                    cols[junk])
    counts = np.bincount(rows, minlength=dist.shape[0])
    valid_rows = np.nonzero(counts)[0]
    group_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    precision = (rank_in_row + 1.0) / (positions + 1.0)
    ap = np.bincount(rows, weights=precision, minlength=dist.shape[0])[valid_rows]
    first = positions[group_start[valid_rows]]
    last = positions[group_start[valid_rows] + counts[valid_rows] - 1]
    return (float(np.sum(ap / counts[valid_rows])),
            float(np.sum(counts[valid_rows] / (last + 1.0))),
            np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1),
            len(valid_rows))


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
    starts = list(range(0, num_q, step))
    bounds = np.searchsorted(pair_rows, starts + [num_q])

    def score(chunk: int):
        start, stop = starts[chunk], min(num_q, starts[chunk] + step)
        sl = slice(bounds[chunk], bounds[chunk + 1])
        return _score_chunk(distmat[start:stop], pair_rows[sl] - start, pair_cols[sl],
                            pair_junk[sl], max_rank)

    workers = max(1, min(len(starts), torch_threads()))
    if workers > 1:  # numpy releases the GIL in its array loops: chunks run side by side
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(score, range(len(starts))))
    else:
        parts = [score(i) for i in range(len(starts))]
    ap_sum = sum(p[0] for p in parts)
    inp_sum = sum(p[1] for p in parts)
    first_hist = np.sum([p[2] for p in parts], axis=0)
    num_valid = sum(p[3] for p in parts)

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
