"""SSIM, PSNR and ACD between videos (B, 3, T, H, W) in [-1, 1]; vectorised over all frames."""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F


def _frames01(video: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) in [-1, 1] -> (B*T, C, H, W) in [0, 1]."""
    if video.dim() != 5:
        raise ValueError(f"expected videos (B, C, T, H, W); got {tuple(video.shape)}")
    b, c, t, h, w = video.shape
    return ((video.float().clamp(-1, 1) + 1) / 2).transpose(1, 2).reshape(b * t, c, h, w)


def _gaussian_window(size: int, sigma: float, channels: int, device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(fake: torch.Tensor, real: torch.Tensor, window: int = 11, sigma: float = 1.5
         ) -> torch.Tensor:
    """Mean SSIM per video (B,) (Gaussian window 11 / 1.5, data range 1, valid region)."""
    if fake.shape != real.shape:
        raise ValueError(f"ssim: shapes differ {tuple(fake.shape)} vs {tuple(real.shape)}")
    x, y = _frames01(fake), _frames01(real)
    c = x.shape[1]
    kernel = _gaussian_window(window, sigma, c, x.device)
    mu_x, mu_y = F.conv2d(x, kernel, groups=c), F.conv2d(y, kernel, groups=c)
    sxx = F.conv2d(x * x, kernel, groups=c) - mu_x ** 2
    syy = F.conv2d(y * y, kernel, groups=c) - mu_y ** 2
    sxy = F.conv2d(x * y, kernel, groups=c) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    value = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return value.flatten(1).mean(1).reshape(fake.shape[0], -1).mean(1)


def psnr(fake: torch.Tensor, real: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """Mean per-frame PSNR in dB per video (B,), data range 1 (identical frames -> max_db)."""
    if fake.shape != real.shape:
        raise ValueError(f"psnr: shapes differ {tuple(fake.shape)} vs {tuple(real.shape)}")
    x, y = _frames01(fake), _frames01(real)
    mse = (x - y).pow(2).flatten(1).mean(1)
    db = torch.where(mse > 0, -10 * torch.log10(mse.clamp_min(1e-20)), torch.full_like(mse, max_db))
    return db.clamp(max=max_db).reshape(fake.shape[0], -1).mean(1)


def pixel_features(frames: torch.Tensor, size: int = 16) -> torch.Tensor:
    """Default ACD frame features: the frame (in [0, 1]) area-resized to size x size, flattened."""
    return F.adaptive_avg_pool2d(frames, size).flatten(1)


def acd(videos: torch.Tensor, reference: torch.Tensor | None = None,
        features: Callable[[torch.Tensor], torch.Tensor] = pixel_features) -> dict[str, float]:
    """Average content distance.

    ACD-C: mean L2 distance between the features of consecutive frames of a video;
    ACD-I (when ``reference`` (B, 3, H, W) input images are given): mean L2 distance between every
    frame and its video's input image. ``features`` maps (N, 3, H, W) frames in [0, 1] to (N, D)
    (for faces or people, pass an identity encoder; the default compares small thumbnails).
    """
    b, _, t, _, _ = videos.shape
    feats = features(_frames01(videos)).reshape(b, t, -1)
    result = {"acd_c": (feats[:, 1:] - feats[:, :-1]).norm(dim=-1).mean().item()}
    if reference is not None:
        ref = features(((reference.float().clamp(-1, 1) + 1) / 2)).reshape(b, 1, -1)
        result["acd_i"] = (feats - ref).norm(dim=-1).mean().item()
    return result
