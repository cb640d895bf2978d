"""Video FID (3D ResNeXt-101 features) and FVD (I3D features) between real and generated clips."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from torch import nn

from .frechet import frechet_distance, gaussian_statistics


def network_device(network: nn.Module) -> torch.device:
    """Where ``network`` runs: its first parameter's (or buffer's) device, the CPU without any."""
    for tensor in network.parameters():
        return tensor.device
    for tensor in network.buffers():
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def extract_features(network: nn.Module, videos: Iterable[torch.Tensor] | torch.Tensor,
                     batch_size: int = 8, device: str | torch.device | None = None) -> np.ndarray:
    """(N, D) features of videos (B, 3, T, H, W) in [-1, 1] (a tensor or an iterable of batches)."""
    device = device or network_device(network)
    network.eval()
    batches = videos.split(batch_size) if isinstance(videos, torch.Tensor) else videos
    out = [network(network.preprocess(b.to(device))).float().cpu() for b in batches]
    return torch.cat(out).numpy()


def _distance(network: nn.Module, real, fake, batch_size: int) -> float:
    mu_r, s_r = gaussian_statistics(extract_features(network, real, batch_size))
    mu_f, s_f = gaussian_statistics(extract_features(network, fake, batch_size))
    return frechet_distance(mu_r, s_r, mu_f, s_f)


def video_fid(resnext: nn.Module, real, fake, batch_size: int = 8) -> float:
    """Fréchet distance of 3D ResNeXt-101 pooled features (thesis 3.4.2 / 4.4.3)."""
    return _distance(resnext, real, fake, batch_size)


def fvd(i3d: nn.Module, real, fake, batch_size: int = 8) -> float:
    """Fréchet video distance of I3D features."""
    return _distance(i3d, real, fake, batch_size)
