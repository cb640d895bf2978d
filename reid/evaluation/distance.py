"""Query-gallery distance matrices computed in chunks with torch (CPU or GPU)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from reid.config.validation import TEST_METRICS as METRICS  # the values TEST.METRIC accepts


def _as_tensor(features, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        features = torch.as_tensor(np.asarray(features))
    if features.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (num_items, dim) feature matrix, "
                         f"got shape {tuple(features.shape)}")
    return features.float()


def compute_distance_matrix(qf, gf, metric: str = "cosine", squared: bool = True,
                            chunk_size: int = 4096) -> np.ndarray:
    """Distances between every query and gallery feature, as a (num_q, num_g) float32 array.

    Args:
        qf, gf: (num_q, D) and (num_g, D) features (torch tensors on any device, or arrays).
        metric: ``"cosine"``: features are L2-normalised here, distance = 1 - q.g (in [0, 2]);
            ``"euclidean"``: ||q - g||^2 when ``squared`` (the default, as in most ReID
            toolboxes; ranking is the same either way), else ||q - g||.
        chunk_size: query rows per matrix product (bounds the temporary memory).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown distance metric '{metric}'; expected one of {METRICS}")
    qf, gf = _as_tensor(qf, "qf"), _as_tensor(gf, "gf")
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"feature sizes differ: query {tuple(qf.shape)} vs gallery "
                         f"{tuple(gf.shape)}")
    gf = gf.to(qf.device)
    out = np.empty((qf.shape[0], gf.shape[0]), dtype=np.float32)
    with torch.no_grad():
        if metric == "cosine":
            qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
        else:
            g_sq = gf.pow(2).sum(dim=1)
        for start in range(0, qf.shape[0], chunk_size):
            q = qf[start:start + chunk_size]
            if metric == "cosine":
                dist = 1.0 - q @ gf.t()
            else:
                dist = (q.pow(2).sum(dim=1, keepdim=True) + g_sq[None, :] - 2.0 * (q @ gf.t()))
                dist = dist.clamp_min_(0.0)
                if not squared:
                    dist = dist.sqrt_()
            out[start:start + q.shape[0]] = dist.cpu().numpy()
    return out
