"""Optical-flow motion statistics used to interpret motion directions (thesis 5.3.4).

Flow between consecutive frames comes from OpenCV's Farneback method. Following eqs. 5.6-5.7 and
5.9 the flow is quantised on the Middlebury colour wheel into ``num_bins`` orientation sectors
R_i; with lambda the flow magnitude and H the wheel radius (a normalising magnitude shared by the
videos that are compared),

    phi_i = 1/N_i sum_{pixels in R_i} lambda / H          Phi = 1/N sum_{all pixels} lambda / H,

plus the mean normalised magnitude inside named body-region masks and the dominant (magnitude-
weighted circular mean) flow orientation. :func:`direction_motion_statistics` generates videos
with all directions, with direction k deactivated and with only k active, and reports the
statistics and their differences.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np
import torch

from common.optional import require

cv2 = require("cv2", purpose="optical-flow motion statistics (OpenCV Farneback)")

FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=9, iterations=3, poly_n=5, poly_sigma=1.1,
                 flags=0)


def _to_gray_uint8(video: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> (B, T, H, W) uint8 grey frames."""
    if video.dim() != 5 or video.shape[1] != 3:
        raise ValueError(f"expected videos (B, 3, T, H, W) in [-1, 1]; got {tuple(video.shape)}")
    rgb = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1, 1)
    grey = (rgb.float().cpu() * weights).sum(1).round().clamp(0, 255).byte()
    return grey.numpy()


def farneback_flow(video: torch.Tensor) -> np.ndarray:
    """Flow between consecutive frames: (B, 3, T, H, W) -> (B, T-1, H, W, 2) in pixels."""
    grey = _to_gray_uint8(video)
    b, t, h, w = grey.shape
    if t < 2:
        raise ValueError(f"optical flow needs at least 2 frames; got {t}")
    flow = np.empty((b, t - 1, h, w, 2), np.float32)
    for i in range(b):
        for j in range(t - 1):
            flow[i, j] = cv2.calcOpticalFlowFarneback(grey[i, j], grey[i, j + 1], None,
                                                      **FARNEBACK)
    return flow


def flow_statistics(flow: np.ndarray, num_bins: int = 4, radius: Optional[float] = None,
                    regions: Optional[Mapping[str, np.ndarray]] = None) -> dict:
    """Statistics of a flow array (..., H, W, 2).

    ``radius`` H: the magnitude mapped to the rim of the wheel (default: the largest magnitude
    in ``flow``). ``regions``: name -> boolean mask broadcastable to (..., H, W).
    Returns ``phi`` (num_bins,), ``Phi``, ``regions`` {name: mean lambda/H}, ``dominant_deg``
    (orientation in [0, 360), image x to the right, y down), and ``radius``.
    """
    magnitude = np.hypot(flow[..., 0], flow[..., 1])
    if radius is None:
        radius = float(magnitude.max())
    radius = max(float(radius), 1e-8)
    norm = np.minimum(magnitude / radius, 1.0)
    angle = np.mod(np.arctan2(flow[..., 1], flow[..., 0]), 2 * math.pi)
    bins = np.minimum((angle / (2 * math.pi) * num_bins).astype(np.int64), num_bins - 1)
    sums = np.bincount(bins.ravel(), weights=norm.ravel(), minlength=num_bins)
    counts = np.bincount(bins.ravel(), minlength=num_bins)
    phi = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    region_stats = {}
    for name, mask in (regions or {}).items():
        mask = np.broadcast_to(np.asarray(mask, bool), norm.shape)
        region_stats[name] = float(norm[mask].mean()) if mask.any() else 0.0
    vx, vy = float((flow[..., 0]).sum()), float((flow[..., 1]).sum())
    dominant = math.degrees(math.atan2(vy, vx)) % 360.0 if (vx or vy) else float("nan")
    return {"phi": phi, "Phi": float(norm.mean()), "regions": region_stats,
            "dominant_deg": dominant, "radius": radius}


def _difference(a: dict, b: dict) -> dict:
    return {"phi": a["phi"] - b["phi"], "Phi": a["Phi"] - b["Phi"],
            "regions": {k: a["regions"][k] - b["regions"][k] for k in a["regions"]}}


@torch.no_grad()
def direction_motion_statistics(generator, direction: int, batch: int = 4,
                                num_frames: Optional[int] = None, num_bins: int = 4,
                                regions: Optional[Mapping[str, np.ndarray]] = None,
                                seed: int = 0) -> dict:
    """Motion statistics of direction ``direction`` of an InMoDeGAN generator.

    The same noises are rendered three times: all directions (``original``), ``direction``
    deactivated (alpha_k = 0, ``deactivated``) and only ``direction`` active (``only``). All share
    the wheel radius of the original videos. ``delta_deactivated`` = deactivated - original (the
    thesis' Delta phi: negative where the direction carried motion); ``delta_only`` = only minus a
    video with every direction off (the motion the direction produces alone).
    """
    rng = torch.Generator().manual_seed(seed)
    noise = generator.sample_noise(batch, num_frames, "cpu", rng)
    n = generator.num_directions
    videos = {
        "original": generator.sample(batch, noise=noise),
        "deactivated": generator.sample(batch, noise=noise, inactive=[direction]),
        "only": generator.sample(batch, noise=noise, active=[direction]),
        "none": generator.sample(batch, noise=noise, active=[]),
    }
    flows = {k: farneback_flow(v) for k, v in videos.items()}
    radius = float(np.hypot(flows["original"][..., 0], flows["original"][..., 1]).max())
    radius = max(radius, float(np.hypot(flows["only"][..., 0], flows["only"][..., 1]).max()))
    stats = {k: flow_statistics(f, num_bins, radius, regions) for k, f in flows.items()}
    stats["delta_deactivated"] = _difference(stats["deactivated"], stats["original"])
    stats["delta_only"] = _difference(stats["only"], stats["none"])
    stats["direction"] = int(direction)
    stats["num_directions"] = n
    return stats
