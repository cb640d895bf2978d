"""Evaluation: features, distances, Market-1501 metrics, re-ranking, ranked-list pictures."""
from .distance import compute_distance_matrix
from .metrics import evaluate
from .reference import evaluate_reference
from .rerank import re_ranking, re_ranking_reference

__all__ = ["compute_distance_matrix", "evaluate", "evaluate_reference", "re_ranking",
           "re_ranking_reference"]
