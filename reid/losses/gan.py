"""LSGAN losses over multi-scale discriminator outputs and the R1 gradient penalty on real images.

Generated images are scored as one batch holding ``groups`` equal chunks (x'_ori, x'_new,
x''_ori in GCL). Each loss equals the sum over the chunks of the per-chunk loss, so it matches
thesis eq. 6.3, which has one adversarial term (with its real-image part) per generated view.
"""
from __future__ import annotations

from typing import Sequence

import torch


def _check(outputs: Sequence[torch.Tensor], what: str) -> None:
    if len(outputs) == 0:
        raise ValueError(f"{what}: expected a non-empty list of discriminator outputs (one per scale)")


def lsgan_discriminator_loss(real_outputs: Sequence[torch.Tensor], fake_outputs: Sequence[torch.Tensor],
                             groups: int = 1) -> torch.Tensor:
    """sum over scales of groups * (mean (D(x) - 1)^2 + mean D(x_fake)^2)."""
    _check(real_outputs, "lsgan_discriminator_loss")
    if len(real_outputs) != len(fake_outputs):
        raise ValueError(f"{len(real_outputs)} real and {len(fake_outputs)} fake discriminator scales")
    loss = real_outputs[0].new_zeros(())
    for real, fake in zip(real_outputs, fake_outputs):
        loss = loss + groups * ((real - 1).pow(2).mean() + fake.pow(2).mean())
    return loss


def lsgan_generator_loss(fake_outputs: Sequence[torch.Tensor], groups: int = 1,
                         factor: float = 1.0) -> torch.Tensor:
    """sum over scales of factor * groups * mean (D(x_fake) - 1)^2 (``factor``:
    ``GCL.LSGAN_GEN_FACTOR``; the authors' code has 2)."""
    _check(fake_outputs, "lsgan_generator_loss")
    loss = fake_outputs[0].new_zeros(())
    for fake in fake_outputs:
        loss = loss + groups * (fake - 1).pow(2).mean()
    return factor * loss


def r1_gradient_penalty(real_outputs: Sequence[torch.Tensor], real_images: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared gradient norm of sum_scales D(x) w.r.t. the real images.

    ``real_images`` must have ``requires_grad=True`` before the discriminator is run on it. The
    returned penalty keeps its graph (create_graph) so that it trains D.
    """
    _check(real_outputs, "r1_gradient_penalty")
    if not real_images.requires_grad:
        raise ValueError("r1_gradient_penalty: call real_images.requires_grad_() before running D on them")
    total = sum(out.sum() for out in real_outputs)
    (grad,) = torch.autograd.grad(total, real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(dim=1).mean()
