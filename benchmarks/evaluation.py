"""Market-size evaluation benchmark: distance matrix, metrics (fast vs per-query reference) and
re-ranking time and peak memory, on generated features with identity structure.

With ``peers=True`` the same problem is also given, in the same process, to fast-reid's
``evaluate_rank`` (its Cython and its numpy evaluator) and ``re_ranking``
(:mod:`benchmarks.peers`); the figures then hold their times, peak memory, the time ratios
(peer / ours) and the differences of their results from ours.

``tools/bench_eval.py`` is the command-line entry point.
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from benchmarks.reference.evaluation import evaluate_reference
from benchmarks.synthetic import make_market_like_problem
from common.profiling import PeakMemory
from reid.evaluation import compute_distance_matrix, evaluate, re_ranking

# fast-reid's re-ranking holds about this many bytes per (num_q + num_g)^2 entry at its peak
# (distances, their argsort in int64 and int32, the encoding V and its query expansion).
PEER_RERANK_BYTES_PER_ENTRY = 24
CMC_TOP_K = (1, 5, 10)


class StageTimes:
    """Wall-clock and process CPU seconds of each stage (CPU time counts all threads; on a
    shared machine it is the steadier of the two figures)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        self.cpu[name] = time.process_time() - cpu
        return result, time.perf_counter() - wall

    def best_of(self, repeats: int, name: str, fn, *args):
        """:meth:`run` ``repeats`` times; the last result and the fastest wall and CPU times
        (the steadiest figures on a shared machine)."""
        best_wall, best_cpu = float("inf"), float("inf")
        for _ in range(max(1, repeats)):
            result, wall = self.run(name, fn, *args)
            best_wall, best_cpu = min(best_wall, wall), min(best_cpu, self.cpu[name])
        self.cpu[name] = best_cpu
        return result, best_wall


def available_memory_bytes():
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; None where the file is missing."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_peer_rerank_memory(num_query: int, num_gallery: int) -> None:
    """Refuse, before any work, a peer re-ranking that would not fit in the available memory."""
    need = PEER_RERANK_BYTES_PER_ENTRY * (num_query + num_gallery) ** 2
    free = available_memory_bytes()
    if free is not None and need > free:
        raise MemoryError(f"fast-reid's re-ranking of {num_query} x {num_gallery} needs about "
                          f"{need / 2 ** 30:.1f} GB, only {free / 2 ** 30:.1f} GB are available; "
                          f"pass a smaller --num-query / --num-gallery or --no-rerank")


def metric_differences(ours: dict, peer: dict) -> dict:
    """Largest |ours - peer| of mAP, CMC (all ranks) and mINP, and per reported CMC top-k."""
    diffs = {"mAP": abs(ours["mAP"] - peer["mAP"]), "mINP": abs(ours["mINP"] - peer["mINP"]),
             "cmc": float(np.abs(ours["cmc"] - peer["cmc"]).max())}
    diffs.update({f"rank{k}": abs(float(ours["cmc"][k - 1] - peer["cmc"][k - 1]))
                  for k in CMC_TOP_K if k <= len(ours["cmc"])})
    return diffs


def _peer_metrics(peer, distmat, labels, use_cython: bool) -> dict:
    """fast-reid's ``evaluate_rank`` (Market-1501 protocol, CMC to rank 50) as our dict."""
    cmc, all_ap, all_inp = peer.evaluate_rank(distmat, *labels, max_rank=50,
                                              use_metric_cuhk03=False, use_cython=use_cython)
    return {"mAP": float(np.mean(all_ap)), "cmc": np.asarray(cmc, dtype=np.float64),
            "mINP": float(np.mean(all_inp))}


def run_peer_metrics(peer, distmat, labels, ours: dict, ours_s: float, times: StageTimes,
                     repeats: int = 1, log=print) -> dict:
    """Time fast-reid's Cython (best of ``repeats``, as ours) and numpy (once: minutes at
    Market size) evaluators on our distance matrix; their figures."""
    figures = {}
    for name, use_cython in (("cython", True), ("numpy", False)):
        with PeakMemory() as memory:
            result, seconds = times.best_of(repeats if use_cython else 1, f"fastreid_{name}",
                                            _peer_metrics, peer, distmat, labels, use_cython)
        diffs = metric_differences(ours, result)
        figures.update({f"fastreid_{name}_s": round(seconds, 4),
                        f"fastreid_{name}_peak_gb": round(memory.delta_bytes / 2 ** 30, 3),
                        f"fastreid_{name}_over_ours": round(seconds / ours_s, 2)})
        figures.update({f"fastreid_{name}_diff_{key}": value for key, value in diffs.items()})
        log(f"fast-reid evaluate_rank ({name}): {seconds:.3f} s, peak memory above start "
            f"{memory.delta_bytes / 2 ** 30:.2f} GB; fast-reid / ours {seconds / ours_s:.1f}x; "
            f"|diff| mAP {diffs['mAP']:.1e} CMC {diffs['cmc']:.1e} mINP {diffs['mINP']:.1e}")
    return figures


def _euclidean(a, b) -> np.ndarray:
    return compute_distance_matrix(a, b, "euclidean", squared=False)


def agreement(a: np.ndarray, b: np.ndarray, tolerance: float = 1e-5) -> dict:
    """Max |a - b| and how many entries and rows differ by more than ``tolerance``."""
    diff = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    over = diff > tolerance
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0,
            "entries_over_1e-5": int(over.sum()), "rows_over_1e-5": int(over.any(axis=1).sum())}


def run_peer_rerank(peer, problem, reranked: np.ndarray, ours: dict, ours_s: float,
                    times: StageTimes, log=print, exact: np.ndarray | None = None) -> dict:
    """Time fast-reid's re-ranking (k1=20, k2=6, lambda=0.3) on Euclidean distances of the same
    features (it squares them, as ours does inside); only its own call is timed. With ``exact``
    (the float64 re-ranking) its distances are also compared with that."""
    labels = (problem.q_pids, problem.g_pids, problem.q_camids, problem.g_camids)
    q_g, q_q, g_g = (_euclidean(problem.qf, problem.gf), _euclidean(problem.qf, problem.qf),
                     _euclidean(problem.gf, problem.gf))
    with PeakMemory() as memory:
        theirs, seconds = times.run("fastreid_rerank", peer.re_ranking, q_g, q_q, g_g, 20, 6, 0.3)
    del q_q, g_g
    result = evaluate(theirs, *labels)
    vs_ours = agreement(theirs, reranked)
    figures = {"fastreid_rerank_s": round(seconds, 3),
               "fastreid_rerank_peak_gb": round(memory.delta_bytes / 2 ** 30, 3),
               "fastreid_rerank_over_ours": round(seconds / ours_s, 2),
               "fastreid_rerank_diff_mAP": abs(result["mAP"] - ours["mAP"]),
               "fastreid_rerank_diff_rank1": abs(float(result["cmc"][0] - ours["cmc"][0]))}
    figures.update({f"fastreid_rerank_{key}": value for key, value in vs_ours.items()})
    log(f"fast-reid re_ranking: {seconds:.2f} s, peak memory above start "
        f"{memory.delta_bytes / 2 ** 30:.2f} GB; fast-reid / ours {seconds / ours_s:.1f}x; "
        f"max |difference| of re-ranked distances {vs_ours['max_abs_diff']:.2e} "
        f"({vs_ours['entries_over_1e-5']} entries in {vs_ours['rows_over_1e-5']} query rows "
        f"over 1e-5), |diff| mAP {figures['fastreid_rerank_diff_mAP']:.1e}")
    if exact is not None:
        vs_exact = agreement(theirs, exact)
        figures.update({f"fastreid_rerank_float64_{key}": value
                        for key, value in vs_exact.items()})
        log(f"fast-reid re_ranking against the float64 re-ranking: max |difference| "
            f"{vs_exact['max_abs_diff']:.2e}, {vs_exact['entries_over_1e-5']} entries in "
            f"{vs_exact['rows_over_1e-5']} query rows over 1e-5 (its float32 distances order "
            f"near-tied neighbours otherwise)")
    return figures


def run_benchmark(num_query: int = 3368, num_gallery: int = 15913, dim: int = 512,
                  seed: int = 0, rerank: bool = True, reference: bool = True,
                  peers: bool = False, repeats: int = 1, rerank_exact: bool = True,
                  log=print) -> dict:
    """Time every evaluation stage on one generated problem; returns the figures as a dict.

    ``repeats``: our metrics and fast-reid's Cython evaluator report their fastest of that many
    runs. ``rerank_exact``: also re-rank in float64 and compare (ours and fast-reid's). ``peers``: also time fast-reid's evaluators and re-ranking on the same problem (raises
    :class:`benchmarks.peers.PeersUnavailable` or MemoryError before any work when they are
    missing or its re-ranking would not fit in memory).
    """
    peer = None
    if peers:
        from benchmarks.peers import load_fastreid

        if rerank:
            check_peer_rerank_memory(num_query, num_gallery)
        peer = load_fastreid()
        log(f"peer: fast-reid {peer.version}, Cython evaluator {peer.cython_module}")
    problem = make_market_like_problem(num_query, num_gallery, dim, seed=seed)
    labels = (problem.q_pids, problem.g_pids, problem.q_camids, problem.g_camids)
    times = StageTimes()
    log(f"problem: {num_query} queries x {num_gallery} gallery, {dim}-d, "
        f"{len(np.unique(problem.g_pids[problem.g_pids > 0]))} ids, "
        f"{len(np.unique(problem.g_camids))} cameras, torch threads {torch.get_num_threads()}")
    distmat, distance_s = times.run("distance", compute_distance_matrix, problem.qf,
                                     problem.gf, "cosine")
    evaluate(distmat[:64], problem.q_pids[:64], problem.g_pids, problem.q_camids[:64],
             problem.g_camids)  # warm-up of the numpy code paths
    fast, metrics_s = times.best_of(repeats, "metrics", evaluate, distmat, *labels)
    figures = {
        "num_query": num_query, "num_gallery": num_gallery, "dim": dim,
        "distance_s": round(distance_s, 4), "metrics_s": round(metrics_s, 4), "repeats": repeats,
        "mAP": round(fast["mAP"], 6), "rank1": round(float(fast["cmc"][0]), 6),
        "mINP": round(fast["mINP"], 6), "skipped_queries": fast["num_skipped_queries"],
    }
    log(f"distance matrix: {distance_s:.3f} s; metrics (vectorised): {metrics_s:.3f} s  "
        f"mAP {fast['mAP']:.4%} rank-1 {fast['cmc'][0]:.4%} mINP {fast['mINP']:.4%}")
    if reference:
        slow, reference_s = times.run("reference", evaluate_reference, distmat, *labels)
        diff = max(abs(fast["mAP"] - slow["mAP"]), abs(fast["mINP"] - slow["mINP"]),
                   float(np.abs(fast["cmc"] - slow["cmc"]).max()))
        figures.update(reference_s=round(reference_s, 4),
                       speedup=round(reference_s / metrics_s, 2), max_abs_diff=diff)
        log(f"metrics (per-query reference): {reference_s:.3f} s  mAP {slow['mAP']:.4%} "
            f"rank-1 {slow['cmc'][0]:.4%} mINP {slow['mINP']:.4%}; speed ratio "
            f"{reference_s / metrics_s:.1f}x, max |difference| {diff:.2e}")
    if peer is not None:
        figures.update(run_peer_metrics(peer, distmat, labels, fast, metrics_s, times, repeats,
                                        log))
    if rerank:
        del distmat
        with PeakMemory() as memory:
            reranked, rerank_s = times.run("rerank", re_ranking, problem.qf, problem.gf, 20, 6,
                                                 0.3)
        rr = evaluate(reranked, *labels)
        figures.update(rerank_s=round(rerank_s, 3),
                       rerank_peak_gb=round(memory.delta_bytes / 2 ** 30, 3),
                       rerank_mAP=round(rr["mAP"], 6), rerank_rank1=round(float(rr["cmc"][0]), 6))
        log(f"re-ranking (k1=20, k2=6, lambda=0.3): {rerank_s:.2f} s, peak memory above start "
            f"{memory.delta_bytes / 2 ** 30:.2f} GB; mAP {rr['mAP']:.4%} "
            f"rank-1 {rr['cmc'][0]:.4%}")
        exact = None
        if rerank_exact:
            exact, exact_s = times.run("rerank_float64", re_ranking, problem.qf, problem.gf,
                                       20, 6, 0.3, precision="float64")
            vs_exact = agreement(reranked, exact)
            figures.update(rerank_float64_s=round(exact_s, 3))
            figures.update({f"rerank_float64_{key}": value for key, value in vs_exact.items()})
            log(f"re-ranking in float64 (the check): {exact_s:.2f} s; max |difference| "
                f"{vs_exact['max_abs_diff']:.2e}, {vs_exact['entries_over_1e-5']} entries over "
                f"1e-5")
        if peer is not None:
            figures.update(run_peer_rerank(peer, problem, reranked, rr, rerank_s, times, log,
                                           exact))
    figures.update({f"{name}_cpu_s": round(value, 3) for name, value in times.cpu.items()})
    figures["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # how busy the machine was (the CPU may be shared)
        figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return figures
