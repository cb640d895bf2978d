"""Market-size evaluation benchmark: distance matrix, metrics (fast vs per-query reference) and
re-ranking time and peak memory, on generated features with identity structure."""
from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .distance import compute_distance_matrix
from .metrics import evaluate
from .reference import evaluate_reference
from .rerank import re_ranking


@dataclass
class RetrievalProblem:
    """Query / gallery features and labels of a synthetic retrieval problem."""

    qf: torch.Tensor
    gf: torch.Tensor
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray


def make_market_like_problem(num_query: int = 3368, num_gallery: int = 15913, dim: int = 512,
                             num_ids: int = 751, num_cameras: int = 6,
                             num_distractors: int | None = None,
                             noise: float = 2.4, camera_shift: float = 1.0,
                             seed: int = 0) -> RetrievalProblem:
    """Features = identity centre + camera offset + noise, L2-normalised (Market-1501 sizes).

    Every identity appears in the gallery under several cameras; ``num_distractors`` gallery
    items get pid 0 and random features, like Market's distractor images.
    """
    if num_distractors is None:  # Market: 2,793 of the 15,913 gallery images are distractors
        num_distractors = int(round(num_gallery * 2793 / 15913))
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    centres = F.normalize(torch.randn(num_ids + 1, dim, generator=gen), dim=1)
    cam_offsets = F.normalize(torch.randn(num_cameras, dim, generator=gen), dim=1)
    pids_pool = np.arange(1, num_ids + 1)
    g_pids = np.concatenate([np.resize(pids_pool, num_gallery - num_distractors),
                             np.zeros(num_distractors, dtype=np.int64)])
    q_pids = np.resize(pids_pool, num_query)
    g_camids = rng.integers(0, num_cameras, num_gallery)
    q_camids = rng.integers(0, num_cameras, num_query)

    def features(pids: np.ndarray, camids: np.ndarray) -> torch.Tensor:
        base = centres[torch.as_tensor(pids)]
        base[torch.as_tensor(pids == 0)] = 0.0
        noise_term = torch.randn(len(pids), dim, generator=gen) * (noise / dim ** 0.5)
        return F.normalize(base + camera_shift * cam_offsets[torch.as_tensor(camids)] / 2
                           + noise_term, dim=1)

    return RetrievalProblem(features(q_pids, q_camids), features(g_pids, g_camids),
                            q_pids, g_pids, q_camids, g_camids)


def _rss_bytes() -> int:
    with open("/proc/self/statm", "r", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemorySampler:
    """Peak resident memory above the starting level, sampled by a thread every few ms."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s = interval_s
        self.available = os.path.exists("/proc/self/statm")
        self.start_rss = self.peak_rss = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, _rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "PeakMemorySampler":
        if self.available:
            self.start_rss = self.peak_rss = _rss_bytes()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        else:  # no /proc: whole-process maximum from getrusage (kilobytes on Linux)
            self.start_rss = 0
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_rss = max(self.peak_rss, _rss_bytes())
        else:
            self.peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @property
    def peak_delta_bytes(self) -> int:
        return self.peak_rss - self.start_rss


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
        with PeakMemorySampler() as memory:
            reranked, rerank_s = times.run("rerank", re_ranking, problem.qf, problem.gf, 20, 6,
                                                 0.3)
        rr = evaluate(reranked, *labels)
        figures.update(rerank_s=round(rerank_s, 3),
                       rerank_peak_gb=round(memory.peak_delta_bytes / 2 ** 30, 3),
                       rerank_mAP=round(rr["mAP"], 6), rerank_rank1=round(float(rr["cmc"][0]), 6))
        log(f"re-ranking (k1=20, k2=6, lambda=0.3): {rerank_s:.2f} s, peak memory above start "
            f"{memory.peak_delta_bytes / 2 ** 30:.2f} GB; mAP {rr['mAP']:.4%} "
            f"rank-1 {rr['cmc'][0]:.4%}")
    figures.update({f"{name}_cpu_s": round(value, 3) for name, value in times.cpu.items()})
    figures["torch_threads"] = torch.get_num_threads()
    if hasattr(os, "getloadavg"):  # how busy the machine was (the CPU may be shared)
        figures["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return figures
