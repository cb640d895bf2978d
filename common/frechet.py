"""Fréchet distance between Gaussians fitted to feature sets: the math of FID, video FID and FVD.

Which network gives the features is the caller's business (Inception-v3 pool features for image
FID in :mod:`reid.evaluation.view_fidelity`, 3D ResNeXt / I3D for the video metrics of
:mod:`generators.metrics`).
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of (N, D) features, N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D); got {features.shape}")
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2))."""
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def feature_frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance of the Gaussians fitted to two (N, D) feature sets (N >= 2 each).

    The same quantity as :func:`frechet_distance` of their :func:`gaussian_statistics`, computed
    without a matrix square root: with centred features A1, A2 (covariances A^T A / (N - 1)),
    Tr sqrt(S1 S2) is the sum of the singular values of A1 A2^T / sqrt((N1 - 1)(N2 - 1)), exact
    and stable for the rank-deficient covariances of fewer samples than dimensions; with more
    samples than dimensions, the eigenvalues of sqrt(S1) S2 sqrt(S1) give it.
    """
    a1, a2 = (np.asarray(f, dtype=np.float64) for f in (real, fake))
    for features in (a1, a2):
        if features.ndim != 2 or features.shape[0] < 2:
            raise ValueError(f"need at least 2 feature vectors (N, D); got {features.shape}")
    if a1.shape[1] != a2.shape[1]:
        raise ValueError(f"feature sizes differ: {a1.shape[1]} vs {a2.shape[1]}")
    mu1, mu2 = a1.mean(0), a2.mean(0)
    c1, c2 = a1 - mu1, a2 - mu2
    n1, n2 = a1.shape[0] - 1, a2.shape[0] - 1
    if min(a1.shape[0], a2.shape[0]) <= a1.shape[1]:
        trace_sqrt = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / np.sqrt(n1 * n2)
    else:
        s1, s2 = c1.T @ c1 / n1, c2.T @ c2 / n2
        values, vectors = np.linalg.eigh(s1)
        root = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff.dot(diff) + (c1 * c1).sum() / n1 + (c2 * c2).sum() / n2 - 2 * trace_sqrt)


__all__ = ["feature_frechet_distance", "frechet_distance", "gaussian_statistics"]
