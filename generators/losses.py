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


def best_of_samples_l1(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The L1 reconstruction of each real clip by the closest of its K fakes, averaged over the
    clips (the minimum-over-samples or "variety" loss): ``fake`` (B * K, ...) holds the K fakes
    of real clip b at rows b * K .. b * K + K - 1, ``real`` (B, ...). With K = 1 it equals
    :func:`reconstruction_l1`. Only the closest fake of a clip gets a gradient, so the noise may
    choose among the futures that one input frame allows instead of paying for their average."""
    batch = real.shape[0]
    if batch == 0 or fake.shape[0] % batch or fake.shape[1:] != real.shape[1:]:
        raise ValueError(f"best_of_samples_l1: fakes {tuple(fake.shape)} are not K fakes per "
                         f"real clip of {tuple(real.shape)}")
    samples = fake.shape[0] // batch
    errors = (fake.reshape(batch, samples, *real.shape[1:]) - real.unsqueeze(1)).abs()
    return errors.flatten(2).mean(2).min(1).values.mean()


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
