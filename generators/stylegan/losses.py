"""Non-saturating logistic GAN loss and the R1 gradient penalty (StyleGAN2 objective)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(-D(x)) + softplus(D(G(z))), averaged."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """softplus(-D(G(z))) = -log sigmoid(D(G(z))), averaged."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: torch.Tensor | Sequence[torch.Tensor]
               ) -> torch.Tensor:
    """Mean over the batch of ||grad_x sum D(x)||^2 (Mescheder et al.), with a graph so that it
    can be back-propagated. ``real_inputs`` must require grad and be used to compute the logits."""
    inputs = [real_inputs] if isinstance(real_inputs, torch.Tensor) else list(real_inputs)
    grads = torch.autograd.grad(real_logits.sum(), inputs, create_graph=True)
    total = sum(g.square().reshape(g.shape[0], -1).sum(1) for g in grads)
    return total.mean()
