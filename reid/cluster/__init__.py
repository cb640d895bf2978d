"""Pseudo-labels for unsupervised ReID: cosine kNN, k-reciprocal Jaccard distance, DBSCAN."""
from .dbscan import run_dbscan, select_eps
from .jaccard import compute_jaccard_distance, sparse_to_dense_distance
from .knn import check_features, knn_search, l2_normalize
from .pseudo_labeler import (ALL_OUTLIERS, SINGLE_CLUSTER, PseudoLabeler, PseudoLabels,
                             cluster_agreement)

__all__ = [
    "ALL_OUTLIERS",
    "SINGLE_CLUSTER",
    "PseudoLabeler",
    "PseudoLabels",
    "check_features",
    "cluster_agreement",
    "compute_jaccard_distance",
    "knn_search",
    "l2_normalize",
    "run_dbscan",
    "select_eps",
    "sparse_to_dense_distance",
]
