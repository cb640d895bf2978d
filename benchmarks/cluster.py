"""Timing of the pseudo-labeller against the per-row reference on features with known clusters.

``tools/bench_cluster.py`` is the command-line entry point.
"""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional

import numpy as np
from sklearn.metrics import adjusted_rand_score

from benchmarks.reference.cluster import (reference_dbscan, reference_jaccard_distance,
                                          reference_select_eps)
from benchmarks.synthetic import make_clustered_features
from reid.cluster.kernels import warm_up_kernels
from reid.cluster.knn import faiss, knn_search
from reid.cluster.pseudo_labeler import PseudoLabeler, cluster_agreement

STEPS = ("knn", "jaccard", "eps", "dbscan")


def _reference_run(x: np.ndarray, k1: int, k2: int, rho: float, min_samples: int
                   ) -> Dict[str, object]:
    """The public-code path: faiss-cpu flat index (torch when faiss is absent), loops, dense."""
    timings: Dict[str, float] = {}
    t0 = time.perf_counter()
    knn = knn_search(x, k1, use_gpu=False, backend="faiss" if faiss is not None else "torch")
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist = reference_jaccard_distance(x, k1, k2, knn=knn)
    timings["jaccard"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    eps = reference_select_eps(dist, rho)
    timings["eps"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    labels = reference_dbscan(dist, eps, min_samples)
    timings["dbscan"] = time.perf_counter() - t0
    return {"timings": timings, "eps": eps, "labels": labels, "knn": knn}


def benchmark_dim(n: int, dim: int, num_ids: int = 751, skip_reference: bool = False,
                  k1: int = 30, k2: int = 6, rho: float = 0.002, min_samples: int = 4,
                  seed: int = 0) -> Dict[str, object]:
    """Run the fast pseudo-labeller (and the reference unless skipped) on one feature size."""
    x, gt = make_clustered_features(n, dim, num_ids, seed=seed)
    labeler = PseudoLabeler(k1=k1, k2=k2, min_samples=min_samples, rho=rho)
    cpu0 = time.process_time()
    fast = labeler(x, gt_labels=gt)                     # first epoch: eps from rho
    fast_cpu = time.process_time() - cpu0
    cpu0 = time.process_time()
    later = labeler(x)                                  # later epochs: eps known, pruned early
    later_cpu = time.process_time() - cpu0
    row: Dict[str, object] = {
        "n": n, "dim": dim,
        "fast": {k: round(fast.timings[k], 4) for k in STEPS},
        "fast_total": round(sum(fast.timings[k] for k in STEPS), 4),
        "fast_knn_jaccard_dbscan": round(sum(fast.timings[k] for k in ("knn", "jaccard", "dbscan")), 4),
        "fast_cpu_seconds": round(fast_cpu, 4),
        "later_epoch": {k: round(later.timings[k], 4) for k in STEPS},
        "later_epoch_total": round(sum(later.timings[k] for k in STEPS), 4),
        "later_epoch_cpu_seconds": round(later_cpu, 4),
        "later_epoch_same_labels": bool(np.array_equal(later.labels, fast.labels)),
        "clusters": fast.num_clusters, "outliers": fast.num_outliers, "eps": fast.eps,
        "purity": fast.purity, "nmi": fast.nmi,
    }
    if skip_reference:
        return row
    cpu0 = time.process_time()
    ref = _reference_run(x, k1, k2, rho, min_samples)
    row["reference_cpu_seconds"] = round(time.process_time() - cpu0, 4)
    ref_t = ref["timings"]
    ref_total = sum(ref_t[k] for k in STEPS)
    labels_ref = ref["labels"]
    fast_sims, fast_idx = knn_search(x, k1)
    row.update({
        "reference": {k: round(ref_t[k], 4) for k in STEPS},
        "reference_total": round(ref_total, 4),
        "speedup": round(ref_total / max(row["fast_total"], 1e-9), 2),
        "reference_eps": ref["eps"],
        "reference_clusters": int(labels_ref.max()) + 1,
        "reference_outliers": int((labels_ref < 0).sum()),
        "ari_vs_reference": float(adjusted_rand_score(labels_ref, fast.labels)),
        "same_partition": bool(cluster_agreement(fast.labels, labels_ref)["purity"] == 1.0
                               and cluster_agreement(labels_ref, fast.labels)["purity"] == 1.0
                               and np.array_equal(labels_ref < 0, fast.labels < 0)),
        "knn_index_agreement": float((fast_idx == ref["knn"][1]).mean()),
    })
    return row


def format_table(rows: List[Dict[str, object]]) -> str:
    """Human-readable table of per-step seconds, fast next to reference."""
    lines = [f"{'N':>6} {'dim':>5} {'impl':>9} " + " ".join(f"{s:>8}" for s in STEPS)
             + f" {'total':>8} {'clusters':>8} {'outliers':>8} {'eps':>7}"]
    for r in rows:
        for impl, key in (("fast", "fast"), ("reference", "reference")):
            if key not in r:
                continue
            t = r[key]
            clusters = r["clusters"] if impl == "fast" else r["reference_clusters"]
            outliers = r["outliers"] if impl == "fast" else r["reference_outliers"]
            eps = r["eps"] if impl == "fast" else r["reference_eps"]
            lines.append(f"{r['n']:>6} {r['dim']:>5} {impl:>9} "
                         + " ".join(f"{t[s]:8.3f}" for s in STEPS)
                         + f" {sum(t.values()):8.3f} {clusters:>8} {outliers:>8} {eps:7.4f}")
        lines.append(f"{r['n']:>6} {r['dim']:>5} {'later':>9} "
                     + " ".join(f"{r['later_epoch'][s]:8.3f}" for s in STEPS)
                     + f" {r['later_epoch_total']:8.3f}   (eps known; same labels "
                     f"{r['later_epoch_same_labels']})")
        if "speedup" in r:
            lines.append(f"{'':>6} {'':>5} speedup x{r['speedup']}, ARI vs reference "
                         f"{r['ari_vs_reference']:.6f}, same partition {r['same_partition']}, "
                         f"kNN index agreement {r['knn_index_agreement']:.6f}")
    return "\n".join(lines)


def run_cluster_benchmark(n: int = 12936, dims: Optional[List[int]] = None,
                          skip_reference: bool = False, seed: int = 0) -> Dict[str, object]:
    """Benchmark every feature size; returns {"rows": [...], "table": str}."""
    compile_seconds = warm_up_kernels()
    rows = [benchmark_dim(n, d, skip_reference=skip_reference, seed=seed)
            for d in (dims or [2048, 512])]
    return {"rows": rows, "table": format_table(rows), "compile_seconds": round(compile_seconds, 3),
            "load_average": [round(v, 2) for v in os.getloadavg()]}
