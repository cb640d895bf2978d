"""Straightforward per-query Market-1501 evaluation (the textbook loop).

Used by the tests and by :mod:`benchmarks.evaluation` (``tools/bench_eval.py``) to check
:func:`reid.evaluation.evaluate`. Ties in distance are broken by gallery index (a stable sort),
the same rule the fast path uses.
"""
from __future__ import annotations

import numpy as np


def evaluate_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50) -> dict:
    """Per-query loop: sort the gallery, drop same-pid-same-camera items, score the rest."""
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    num_q, num_g = distmat.shape
    all_cmc, all_ap, all_inp = [], [], []
    skipped = 0
    for q in range(num_q):
        order = np.argsort(distmat[q], kind="stable")
        junk = (g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q])
        matches = (g_pids[order] == q_pids[q])[~junk].astype(np.float64)
        if not matches.any():
            skipped += 1
            continue
        cmc = matches.cumsum()
        cmc[cmc > 1] = 1
        # Every valid query has its first match inside its list, so beyond the end of a short
        # list the cumulative match curve stays at its last value (1).
        row = np.ones(max_rank)
        row[: min(max_rank, len(cmc))] = cmc[:max_rank]
        all_cmc.append(row)
        positions = np.where(matches == 1)[0]
        all_inp.append(matches.sum() / (positions.max() + 1.0))
        precision = matches.cumsum() / (np.arange(len(matches)) + 1.0)
        all_ap.append((precision * matches).sum() / matches.sum())
    valid = num_q - skipped
    if valid == 0:
        raise ValueError("no query has a correct match in the gallery (after removing "
                         "same-identity same-camera images)")
    return {
        "mAP": float(np.mean(all_ap)),
        "cmc": np.mean(np.stack(all_cmc), axis=0),
        "mINP": float(np.mean(all_inp)),
        "num_valid_queries": int(valid),
        "num_skipped_queries": int(skipped),
    }
