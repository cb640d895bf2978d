"""Evaluation: features, distances, Market-1501 metrics, re-ranking, ranked-list pictures, and
the fidelity of generated views against ground-truth views (:mod:`.view_fidelity`).

>>> from reid.evaluation import evaluate
>>> scores = evaluate(distmat, q_pids, g_pids, q_camids, g_camids)   # fractions in [0, 1]
"""
from .distance import compute_distance_matrix
from .features import extract_features
from .metrics import evaluate
from .rerank import re_ranking, re_ranking_reference
from .runner import format_results_table, results_in_percent, run_evaluation
from .view_fidelity import (evaluate_views, evaluation_subset, flat_scalars, format_view_table,
                            load_inception)
from .visualize import save_ranked_lists

__all__ = [
    "compute_distance_matrix",
    "evaluate",
    "evaluate_views",
    "evaluation_subset",
    "extract_features",
    "flat_scalars",
    "format_results_table",
    "format_view_table",
    "load_inception",
    "re_ranking",
    "re_ranking_reference",
    "results_in_percent",
    "run_evaluation",
    "save_ranked_lists",
]
