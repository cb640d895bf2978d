"""Adversarial and reconstruction losses of ImaGINator and G3AN (BCE on logits, DCGAN style)."""
from __future__ import annotations

import torch
from torch.nn import functional as F


def bce_real(logits: torch.Tensor) -> torch.Tensor:
    """-log D(x): the target is "real"."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def bce_fake(logits: torch.Tensor) -> torch.Tensor:
    """-log(1 - D(x)): the target is "fake"."""
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def reconstruction_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-element mean absolute error between generated and real videos."""
    return (fake - real).abs().mean()


def wrong_labels(labels: torch.Tensor, num_classes: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A label different from each given one, uniformly among the others (algorithm 1)."""
    shift = torch.randint(1, num_classes, labels.shape, generator=generator,
                          device="cpu").to(labels.device)
    return (labels + shift) % num_classes


def sample_frames(video: torch.Tensor, count: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` random frames of every clip: (B, C, T, H, W) -> (B * count, C, H, W)."""
    b, c, t, h, w = video.shape
    index = torch.randint(0, t, (b, count), generator=generator, device="cpu").to(video.device)
    frames = video.transpose(1, 2)                                   # (B, T, C, H, W)
    picked = torch.gather(frames, 1, index[:, :, None, None, None].expand(-1, -1, c, h, w))
    return picked.reshape(b * count, c, h, w)
