"""Generated features with a known structure, for the benchmarks and the tests.

* :func:`make_clustered_features`: blobs with known ids (pseudo-labelling,
  :mod:`benchmarks.cluster`)
* :func:`make_market_like_problem`: query / gallery features at Market-1501 sizes with identity
  and camera structure (evaluation, :mod:`benchmarks.evaluation`)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np
import torch
import torch.nn.functional as F


def make_clustered_features(n: int, dim: int, num_ids: int, noise_fraction: float = 0.03,
                            spread: float = 0.6, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs around random unit centres plus uniformly scattered noise points.

    Args:
        n: number of samples; ``round(n * noise_fraction)`` of them are noise.
        dim: feature dimension.
        num_ids: number of identities (blob centres); samples are spread evenly over them.
        noise_fraction: fraction of samples drawn uniformly on the sphere (ground truth -1).
        spread: expected norm of the per-sample offset from its unit centre.
        seed: random seed.

    Returns:
        (features float32 (n, dim) L2-normalised, ids int64 (n,) with -1 for noise points),
        rows shuffled.
    """
    if n < 1 or dim < 1 or num_ids < 1:
        raise ValueError(f"make_clustered_features: n, dim and num_ids must be >= 1, "
                         f"got n={n}, dim={dim}, num_ids={num_ids}")
    rng = np.random.default_rng(seed)
    num_noise = int(round(n * noise_fraction))
    num_clustered = n - num_noise
    centres = rng.standard_normal((num_ids, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    ids = np.arange(num_clustered) % num_ids
    feats = centres[ids] + rng.standard_normal((num_clustered, dim)) * (spread / np.sqrt(dim))
    noise = rng.standard_normal((num_noise, dim))
    features = np.concatenate([feats, noise]).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    labels = np.concatenate([ids, np.full(num_noise, -1)]).astype(np.int64)
    order = rng.permutation(n)
    return features[order], labels[order]


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
