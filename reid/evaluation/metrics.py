"""Market-1501 retrieval metrics (mAP, CMC, mINP), vectorised over all queries.

Protocol: for each query the gallery images with the same identity AND the same camera are
removed from its ranked list ("junk"); a query with no remaining match is skipped and counted.
Ties in distance are broken by gallery index (as a stable sort would), so the result equals
:func:`benchmarks.reference.evaluation.evaluate_reference` exactly.

How it avoids a full ``argsort`` (the slow part of the usual evaluators): for a chunk of query
rows the junk entries are set to +inf and the rows are sorted by value only (a SIMD sort in
numpy). The position of every correct match in its row's valid list is then found by a vectorised
binary search over all matches at once; exact ties with a match are resolved by counting the tied
valid items with a smaller gallery index. mAP, CMC and mINP follow from those positions alone.
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

# Distance-matrix entries handled per chunk (keeps the temporary arrays near 50 MB per worker).
_CHUNK_ELEMENTS = 1 << 22


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
    if np.isnan(distmat).any():
        raise ValueError("distmat contains NaN distances")
    return distmat, arrays["q_pids"], arrays["g_pids"], arrays["q_camids"], arrays["g_camids"]


def _count_below(sorted_rows: np.ndarray, rows: np.ndarray, values: np.ndarray,
                 inclusive: bool) -> np.ndarray:
    """For each (row, value): how many entries of ``sorted_rows[row]`` are < value (or <=)."""
    num_cols = sorted_rows.shape[1]
    flat = sorted_rows.reshape(-1)
    base = rows.astype(np.int64) * num_cols
    lo = np.zeros(len(rows), dtype=np.int64)
    hi = np.full(len(rows), num_cols, dtype=np.int64)
    compare = np.less_equal if inclusive else np.less
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        probe = flat[base + np.minimum(mid, num_cols - 1)]
        go_right = compare(probe, values) & active
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(go_right | ~active, hi, mid)


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


def _match_positions(dist: np.ndarray, match_rows: np.ndarray, match_cols: np.ndarray,
                     junk_rows: np.ndarray, junk_cols: np.ndarray) -> np.ndarray:
    """0-based positions, in the junk-free ranked list of their row, of the given matches."""
    work = dist.copy()
    work[junk_rows, junk_cols] = np.inf
    work.sort(axis=1)
    values = dist[match_rows, match_cols]
    below = _count_below(work, match_rows, values, inclusive=False)
    upto = _count_below(work, match_rows, values, inclusive=True)
    tied = np.nonzero(upto - below > 1)[0]
    if len(tied):  # equal distances: valid items with a smaller gallery index come first
        num_g = dist.shape[1]
        junk = np.zeros(dist.shape, dtype=bool)
        junk[junk_rows, junk_cols] = True
        step = max(1, _CHUNK_ELEMENTS // num_g)
        for start in range(0, len(tied), step):
            sel = tied[start:start + step]
            r, c = match_rows[sel], match_cols[sel]
            same = (dist[r] == values[sel, None]) & ~junk[r]
            earlier = np.arange(num_g)[None, :] < c[:, None]
            below[sel] += (same & earlier).sum(axis=1)
    return below


def _score_chunk(dist: np.ndarray, rows: np.ndarray, cols: np.ndarray, junk: np.ndarray,
                 max_rank: int):
    """(sum of AP, sum of INP, histogram of first-match positions, number of valid queries)
    for a block of query rows, given their same-identity pairs (rows relative to the block)."""
    empty = (0.0, 0.0, np.zeros(max_rank + 1, dtype=np.int64), 0)
    if junk.all():
        return empty
    positions = _match_positions(dist, rows[~junk], cols[~junk], rows[junk], cols[junk])
    rows = rows[~junk]
    # Within each row, order the matches by their position in the ranked list.
    order = np.lexsort((positions, rows))
    rows, positions = rows[order], positions[order]
    counts = np.bincount(rows, minlength=dist.shape[0])
    valid_rows = np.nonzero(counts)[0]
    group_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank_in_row = np.arange(len(rows)) - group_start[rows]
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
    if workers > 1:  # numpy's sort releases the GIL: chunks run side by side
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
