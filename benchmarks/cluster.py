"""Timing of the pseudo-labeller against the per-row reference on features with known clusters.

``tools/bench_cluster.py`` is the command-line entry point.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score

from benchmarks.reference.cluster import (reference_dbscan, reference_jaccard_distance,
                                          reference_select_eps)
from benchmarks.synthetic import make_clustered_features
from reid.cluster.kernels import warm_up_kernels
from reid.cluster.knn import (CPU_KNN_PATHS, cpu_knn, cpu_matrix_isa, faiss, knn_search,
                              l2_normalize, select_cpu_knn_path)
from reid.cluster.pseudo_labeler import PseudoLabeler, cluster_agreement

STEPS = ("knn", "jaccard", "eps", "dbscan")
KNN_REFERENCE = "torch-topk"      # blocked float32 torch.mm + torch.topk: the exact baseline
TIE_TOLERANCE = 1e-5              # float64 similarities closer than this count as ties
EMULATED_BF16_MAX_DIM = 512       # bf16 without hardware support is timed up to this size only


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
        "knn_path": select_cpu_knn_path(dim=dim), "cpu_isa": cpu_matrix_isa(),
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


def _faiss_flat(x: np.ndarray, k: int, metric: str) -> Tuple[np.ndarray, np.ndarray]:
    """faiss-cpu flat index search ("ip" inner product, "l2" squared distance mapped back to
    cosine similarity 1 - d / 2 on unit rows)."""
    index = faiss.IndexFlatIP(x.shape[1]) if metric == "ip" else faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    sims, idx = index.search(x, k)
    return (sims if metric == "ip" else 1.0 - sims / 2.0), idx.astype(np.int64)


def knn_path_runners(x: np.ndarray, k: int) -> Dict[str, Callable[[], Tuple[np.ndarray, np.ndarray]]]:
    """Every exact kNN path available here, as zero-argument callables on unit rows ``x``:
    faiss flat indexes (when faiss is installed) and every CPU path of :mod:`reid.cluster.knn`.
    The reference path :data:`KNN_REFERENCE` comes first."""
    xt = torch.from_numpy(x)
    runners: Dict[str, Callable[[], Tuple[np.ndarray, np.ndarray]]] = {
        KNN_REFERENCE: lambda: cpu_knn(xt, k, KNN_REFERENCE)}
    if faiss is not None:
        runners["faiss-IndexFlatIP"] = lambda: _faiss_flat(x, k, "ip")
        runners["faiss-IndexFlatL2"] = lambda: _faiss_flat(x, k, "l2")
    for path in CPU_KNN_PATHS:
        if path != KNN_REFERENCE:
            runners[path] = lambda path=path: cpu_knn(xt, k, path)
    return runners


def neighbour_differences(x: np.ndarray, idx: np.ndarray, ref_idx: np.ndarray,
                          tol: float = TIE_TOLERANCE) -> Tuple[int, int]:
    """(rows whose neighbour sets differ from the reference, rows among them that differ beyond
    ties: their sorted float64 similarity lists differ by more than ``tol``)."""
    differ = np.flatnonzero((np.sort(idx, axis=1) != np.sort(ref_idx, axis=1)).any(axis=1))
    if differ.size == 0:
        return 0, 0
    x64 = x[differ].astype(np.float64)[:, None, :]
    sims = np.sort(np.einsum("rkd,rkd->rk", x64, x[idx[differ]].astype(np.float64)), axis=1)
    ref = np.sort(np.einsum("rkd,rkd->rk", x64, x[ref_idx[differ]].astype(np.float64)), axis=1)
    return int(differ.size), int((np.abs(sims - ref) > tol).any(axis=1).sum())


def benchmark_knn_paths(n: int, dim: int, k: int = 30, repeats: int = 2, num_ids: int = 751,
                        seed: int = 0) -> Dict[str, object]:
    """Time every exact kNN path on the same features in one process (repeats interleaved, the
    best kept: the machine may be shared) and check their neighbours against the reference.

    bf16 without hardware support (emulated, ~7 GFLOP/s on an AVX2 CPU) is timed only up to
    :data:`EMULATED_BF16_MAX_DIM`."""
    x, _ = make_clustered_features(n, dim, num_ids, seed=seed)
    x = l2_normalize(x).numpy()
    isa = cpu_matrix_isa()
    runners = knn_path_runners(x, k)
    if isa not in ("amx", "avx512_bf16") and dim > EMULATED_BF16_MAX_DIM:
        runners.pop("bf16-candidates", None)
    seconds: Dict[str, List[float]] = {name: [] for name in runners}
    results: Dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            results[name] = run()[1]
            seconds[name].append(time.perf_counter() - t0)
    best = {name: min(values) for name, values in seconds.items()}
    chosen = select_cpu_knn_path(isa, dim=dim)
    paths = {}
    for name in runners:
        differ, beyond_ties = neighbour_differences(x, results[name], results[KNN_REFERENCE])
        paths[name] = {"seconds": round(best[name], 4),
                       "all_seconds": [round(v, 4) for v in seconds[name]],
                       "vs_reference": round(best[KNN_REFERENCE] / best[name], 3),
                       "rows_differing": differ, "rows_differing_beyond_ties": beyond_ties}
    fastest = min(best, key=best.get)
    return {"n": n, "dim": dim, "k": k, "cpu_isa": isa, "knn_path": chosen,
            "fastest": fastest, "chosen_vs_fastest": round(best[fastest] / best[chosen], 3),
            "reference": KNN_REFERENCE, "paths": paths,
            "load_average": round(os.getloadavg()[0], 2)}


def format_knn_table(rows: List[Dict[str, object]]) -> str:
    """Human-readable table of the kNN paths, ratios against the reference path."""
    lines = [f"{'N':>6} {'dim':>5} {'path':>18} {'seconds':>8} {'x ref':>6} {'differ':>7} "
             f"{'beyond ties':>11}"]
    for r in rows:
        for name, p in r["paths"].items():
            mark = "  <- chosen" if name == r["knn_path"] else ""
            lines.append(f"{r['n']:>6} {r['dim']:>5} {name:>18} {p['seconds']:8.3f} "
                         f"{p['vs_reference']:6.2f} {p['rows_differing']:>7} "
                         f"{p['rows_differing_beyond_ties']:>11}{mark}")
        lines.append(f"{'':>6} {'':>5} CPU {r['cpu_isa']}: chose {r['knn_path']}, fastest "
                     f"{r['fastest']} (chosen at x{r['chosen_vs_fastest']} of its speed), "
                     f"load average {r['load_average']}")
    return "\n".join(lines)


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
                          skip_reference: bool = False, seed: int = 0,
                          pipeline: bool = True, knn_paths: bool = True,
                          knn_repeats: int = 2) -> Dict[str, object]:
    """Benchmark every feature size: the pseudo-label pipeline (``pipeline``) and the kNN paths
    (``knn_paths``); returns {"rows", "knn_rows", "table", ...}."""
    compile_seconds = warm_up_kernels()
    dims = dims or [2048, 512]
    rows = [benchmark_dim(n, d, skip_reference=skip_reference, seed=seed)
            for d in dims] if pipeline else []
    knn_rows = [benchmark_knn_paths(n, d, repeats=knn_repeats, seed=seed)
                for d in dims] if knn_paths else []
    tables = [format_table(rows)] if rows else []
    tables += [format_knn_table(knn_rows)] if knn_rows else []
    return {"rows": rows, "knn_rows": knn_rows, "table": "\n\n".join(tables),
            "compile_seconds": round(compile_seconds, 3),
            "cpu_isa": cpu_matrix_isa(),
            "knn_path": {str(d): select_cpu_knn_path(dim=d) for d in dims},
            "load_average": [round(v, 2) for v in os.getloadavg()]}
