"""Market-size evaluation benchmark: distance matrix, metrics (fast vs per-query reference) and
re-ranking time and peak memory, on generated features with identity structure.

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


def run_benchmark(num_query: int = 3368, num_gallery: int = 15913, dim: int = 512,
                  seed: int = 0, rerank: bool = True, reference: bool = True,
                  log=print) -> dict:
    """Time every evaluation stage on one generated problem; returns the figures as a dict."""
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
    fast, metrics_s = times.run("metrics", evaluate, distmat, *labels)
    figures = {
        "num_query": num_query, "num_gallery": num_gallery, "dim": dim,
        "distance_s": round(distance_s, 4), "metrics_s": round(metrics_s, 4),
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
    figures.update({f"{name}_cpu_s": round(value, 3) for name, value in times.cpu.items()})
    figures["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # how busy the machine was (the CPU may be shared)
        figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return figures
