"""Features with a known cluster structure, for tests and the clustering benchmark."""
from __future__ import annotations

from typing import Tuple

import numpy as np


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
