"""PseudoLabeler: features -> kNN -> k-reciprocal Jaccard distance -> DBSCAN -> pseudo-identities.

Eps policy: a positive ``eps`` is used as given. With ``eps == 0`` the DBSCAN radius is the mean
of the smallest rho fraction of pairwise Jaccard distances, chosen (``eps_policy``)

* ``"first"``: on the first call, then kept fixed for every later call (``reset_eps()`` forgets
  it; the checkpoints hold it), so clusters stay comparable across epochs;
* ``"per_epoch"``: afresh on every call, as the GCL authors' code does each joint epoch; ``eps``
  then holds the value of the last call (for the log), which the next call does not reuse.

Degenerate results (every sample an outlier, or a single cluster) are returned, not raised:
``PseudoLabels.degenerate`` names the case and a warning is logged. The trainer's documented
policy is to skip the contrastive loss for that epoch.

Purity, NMI and ARI against ground-truth identities are for monitoring only: unsupervised
training never uses them. They are computed over the non-outlier samples.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from reid.config.validation import EPS_POLICIES

from .dbscan import run_dbscan
from .jaccard import jaccard_from_weights, jaccard_graph_for_rho, jaccard_weights
from .knn import ArrayLike, knn_search, l2_normalize

logger = logging.getLogger("reid.cluster")

ALL_OUTLIERS = "all_outliers"
SINGLE_CLUSTER = "single_cluster"


@dataclass
class PseudoLabels:
    """Result of one clustering round.

    labels: int64 (N,), clusters numbered 0..num_clusters-1, outliers -1.
    degenerate: None, "all_outliers" or "single_cluster" (skip the contrastive loss then).
    purity / nmi / ari: agreement with ground-truth ids over non-outliers, monitoring only.
    """
    labels: np.ndarray
    num_clusters: int
    num_outliers: int
    eps: float
    timings: Dict[str, float] = field(default_factory=dict)
    degenerate: Optional[str] = None
    purity: Optional[float] = None
    nmi: Optional[float] = None
    ari: Optional[float] = None

    @property
    def usable(self) -> bool:
        """True when the labels can drive a contrastive loss (at least two clusters)."""
        return self.degenerate is None

    def summary(self) -> str:
        """One line for the log."""
        n = self.labels.size
        text = (f"pseudo-labels: {self.num_clusters} clusters, {self.num_outliers}/{n} outliers, "
                f"eps {self.eps:.4f}")
        if self.purity is not None:
            text += f", purity {self.purity:.3f} NMI {self.nmi:.3f} ARI {self.ari:.3f} (monitoring)"
        steps = " ".join(f"{k} {v:.2f}s" for k, v in self.timings.items())
        return f"{text} [{steps}]" if steps else text


def cluster_agreement(labels: np.ndarray, gt_labels: np.ndarray) -> Dict[str, float]:
    """Purity, NMI and ARI of ``labels`` against ``gt_labels`` over samples with labels >= 0.

    Purity = fraction of clustered samples whose ground-truth id is the majority id of their
    cluster. All three are NaN when no sample is clustered.
    """
    labels = np.asarray(labels)
    gt_labels = np.asarray(gt_labels)
    if gt_labels.shape != labels.shape:
        raise ValueError(f"gt_labels: expected shape {labels.shape} like the features, "
                         f"got {gt_labels.shape}")
    keep = labels >= 0
    if not keep.any():
        return {"purity": float("nan"), "nmi": float("nan"), "ari": float("nan")}
    pred, true = labels[keep], gt_labels[keep]
    table = contingency_matrix(pred, true, sparse=True)
    purity = float(np.asarray(table.max(axis=1).todense()).sum() / pred.size)
    return {"purity": purity,
            "nmi": float(normalized_mutual_info_score(true, pred)),
            "ari": float(adjusted_rand_score(true, pred))}


def relabel_consecutive(labels: np.ndarray) -> np.ndarray:
    """Map cluster ids to 0..C-1 in order of first appearance; -1 stays -1."""
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full_like(labels, -1)
    keep = labels >= 0
    if keep.any():
        uniq, first, inverse = np.unique(labels[keep], return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        out[keep] = order[inverse]
    return out


class PseudoLabeler:
    """Cluster features into pseudo-identities (see the module docstring for the eps policy)."""

    def __init__(self, k1: int = 30, k2: int = 6, min_samples: int = 4, eps: float = 0.0,
                 rho: float = 0.002, use_gpu: bool = True, search_option: str = "auto",
                 eps_policy: str = "first") -> None:
        if k1 < 1 or k2 < 1:
            raise ValueError(f"PseudoLabeler: k1 and k2 must be >= 1, got k1={k1}, k2={k2}")
        if min_samples < 1:
            raise ValueError(f"PseudoLabeler: min_samples must be >= 1, got {min_samples}")
        if eps < 0:
            raise ValueError(f"PseudoLabeler: eps must be >= 0 (0 = from rho), got {eps}")
        if eps == 0 and not 0.0 < rho <= 1.0:
            raise ValueError(f"PseudoLabeler: rho must be in (0, 1] when eps is 0, got {rho}")
        if eps_policy not in EPS_POLICIES:
            raise ValueError(f"PseudoLabeler: eps_policy must be one of {EPS_POLICIES}, "
                             f"got {eps_policy!r}")
        self.eps_policy = eps_policy
        self.k1, self.k2 = int(k1), int(k2)
        self.min_samples = int(min_samples)
        self.fixed_eps = float(eps)
        self.rho = float(rho)
        self.use_gpu = bool(use_gpu)
        self.search_option = search_option
        self.eps: Optional[float] = self.fixed_eps if self.fixed_eps > 0 else None
        self._expected_pairs: Optional[int] = None

    @classmethod
    def from_cfg(cls, cfg, eps: Optional[float] = None) -> "PseudoLabeler":
        """Build from ``cfg.CLUSTER`` (K1, K2, MIN_SAMPLES, EPS, RHO, USE_GPU, EPS_POLICY);
        ``eps`` > 0 replaces CLUSTER.EPS (a stage's own fixed radius)."""
        c = cfg.CLUSTER
        return cls(k1=c.K1, k2=c.K2, min_samples=c.MIN_SAMPLES, eps=eps or c.EPS, rho=c.RHO,
                   use_gpu=c.USE_GPU, eps_policy=c.EPS_POLICY)

    @property
    def chooses_eps_each_call(self) -> bool:
        """True when every call chooses eps from rho (``eps_policy`` "per_epoch", no fixed eps)."""
        return self.fixed_eps == 0 and self.eps_policy == "per_epoch"

    def reset_eps(self) -> None:
        """Forget an eps chosen from rho, so the next call chooses it again."""
        self.eps = self.fixed_eps if self.fixed_eps > 0 else None

    def state_dict(self) -> Dict[str, Optional[float]]:
        """The remembered eps, for checkpoints (with "per_epoch" the last one, which a resumed
        run's next clustering replaces)."""
        return {"eps": self.eps}

    def load_state_dict(self, state: Dict[str, Optional[float]]) -> None:
        """Restore the remembered eps from a checkpoint."""
        if "eps" not in state:
            raise KeyError("PseudoLabeler.load_state_dict: missing key 'eps'")
        self.eps = None if state["eps"] is None else float(state["eps"])

    def __call__(self, features: ArrayLike, gt_labels: Optional[np.ndarray] = None) -> PseudoLabels:
        timings: Dict[str, float] = {}
        x = l2_normalize(features)
        n = x.shape[0]
        if n < self.k1:
            logger.warning("pseudo-labels: %d samples < k1=%d, using k1=%d", n, self.k1, n)
        knn_k = min(self.k1, n)
        t0 = time.perf_counter()
        knn = knn_search(x, knn_k, use_gpu=self.use_gpu, backend=self.search_option)
        timings["knn"] = time.perf_counter() - t0
        # Only pairs within eps matter to DBSCAN: once eps is known the graph is pruned while it
        # is built; on the first call eps comes from the rho-quantile, found before building.
        t0 = time.perf_counter()
        v = jaccard_weights(x.cpu(), np.asarray(knn[1], dtype=np.int64)[:, :knn_k], self.k2)
        if self.eps is None or self.chooses_eps_each_call:
            parts: Dict[str, float] = {}
            dist, self.eps = jaccard_graph_for_rho(v, self.rho, timings=parts)
            timings["jaccard"] = time.perf_counter() - t0 - parts["eps"]
            timings["eps"] = parts["eps"]
            logger.info("pseudo-labels: eps %.4f chosen from rho %.4f, %s", self.eps, self.rho,
                        "for this clustering" if self.chooses_eps_each_call
                        else "kept fixed from now on")
        else:
            dist = jaccard_from_weights(v, max_distance=min(float(self.eps), 1.0),
                                        expected_pairs=self._expected_pairs)
            timings["jaccard"] = time.perf_counter() - t0
            timings["eps"] = 0.0
        self._expected_pairs = (dist.nnz - n) // 2     # sizes the next epoch's buffers only
        t0 = time.perf_counter()
        labels = relabel_consecutive(run_dbscan(dist, self.eps, self.min_samples))
        timings["dbscan"] = time.perf_counter() - t0

        num_clusters = int(labels.max()) + 1 if labels.size else 0
        result = PseudoLabels(labels=labels, num_clusters=num_clusters,
                              num_outliers=int((labels < 0).sum()), eps=float(self.eps),
                              timings=timings)
        if num_clusters == 0:
            result.degenerate = ALL_OUTLIERS
        elif num_clusters == 1:
            result.degenerate = SINGLE_CLUSTER
        if gt_labels is not None:
            scores = cluster_agreement(labels, np.asarray(gt_labels))
            result.purity, result.nmi, result.ari = scores["purity"], scores["nmi"], scores["ari"]
        logger.info(result.summary())
        if result.degenerate is not None:
            logger.warning("pseudo-labels degenerate (%s: %d clusters, %d/%d outliers, eps %.4f); "
                           "the contrastive loss is skipped this epoch", result.degenerate,
                           num_clusters, result.num_outliers, n, self.eps)
        return result
