"""GCL view-invariant losses (thesis eq. 6.6 - 6.8) against an instance memory.

For an anchor image x with feature f, its generated novel view's feature f'_new, one random
memory entry f_pos of the same pseudo-identity and K memory entries k_i of other pseudo-identities:

    L_vi   = log(1 + sum_i exp(sim(f'_new, k_i)/tau) / exp(sim(f, f_pos)/tau))
    L'_vi  = log(1 + sum_i exp(sim(f'_new, k_i)/tau) / exp(sim(f'_new, f)/tau))
    L''_vi = log(1 + sum_i exp(sim(f'_new, k_i)/tau) / exp(sim(f'_new, f_pos)/tau))

The negatives are scored against f'_new in all three terms (the thesis found this better than
f). The "without GAN" ablation, L_vi^woGAN, is L_vi with the negatives scored against f
(``negative_anchor="original"``, ``f_new=None``).

Policies: outliers (label -1) are not anchors. Anchors with fewer than K negatives use all of
theirs; if no anchor has any negative (one cluster, no outliers) or no anchor is valid, the loss
is a zero that keeps the graph and ``skipped`` says why.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..memory.instance_memory import InstanceMemory

VI_TERMS = ("vi", "vi_new", "vi_new_pos")
_MASKED_LOGIT = -1.0e4


def contrastive_log_loss(pos_sim: torch.Tensor, neg_sim: torch.Tensor, neg_valid: Optional[torch.Tensor],
                         temperature: float) -> torch.Tensor:
    """Per-anchor log(1 + sum_i exp(neg_i / tau) / exp(pos / tau)) for (B,) and (B, K) similarities.

    Invalid negatives (``neg_valid`` False) are ignored; an anchor with none gets 0.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if neg_sim.shape[1] == 0:
        return pos_sim * 0.0
    neg = neg_sim / temperature
    if neg_valid is not None:
        neg = neg.masked_fill(~neg_valid, _MASKED_LOGIT)
    lse = torch.logsumexp(neg, dim=1)
    if neg_valid is not None:
        lse = torch.where(neg_valid.any(dim=1), lse, torch.full_like(lse, _MASKED_LOGIT))
    return F.softplus(lse - pos_sim / temperature)


@dataclass
class ViewInvariantResult:
    """Total loss (sum of the selected terms), each term, and bookkeeping for the log."""

    loss: torch.Tensor
    terms: dict = field(default_factory=dict)
    num_anchors: int = 0
    num_negatives: int = 0
    skipped: Optional[str] = None


def view_invariant_losses(f: torch.Tensor, f_new: Optional[torch.Tensor], memory: InstanceMemory,
                          indices: torch.Tensor, labels: Optional[torch.Tensor] = None,
                          num_negatives: int = 8192, temperature: float = 0.04,
                          terms: Sequence[str] = VI_TERMS, negative_anchor: str = "generated",
                          generator: Optional[torch.Generator] = None,
                          real_positive_grad: bool = True) -> ViewInvariantResult:
    """The selected view-invariant losses for a batch, vectorised over anchors.

    ``f`` (B, D) are E_id(x), ``f_new`` (B, D) E_id(x'_new) (None for the without-GAN variant,
    where only "vi" is allowed), ``indices`` the memory rows of the batch images and ``labels``
    the pseudo-labels of all memory entries (None = those stored in the memory).
    ``real_positive_grad=False`` makes E_id(x) a fixed target in L'_vi: the generated view is
    pulled towards the real image's feature, never the real feature towards the generated one.
    """
    unknown = [t for t in terms if t not in VI_TERMS]
    if unknown:
        raise ValueError(f"unknown view-invariant loss {unknown}; expected a subset of {VI_TERMS}")
    if negative_anchor not in ("generated", "original"):
        raise ValueError(f"negative_anchor must be 'generated' or 'original', got {negative_anchor!r}")
    if f_new is None and (negative_anchor == "generated" or any(t != "vi" for t in terms)):
        raise ValueError("without a generated view (f_new=None) only the 'vi' term with "
                         "negative_anchor='original' is defined")
    zero = f.sum() * 0.0 if f_new is None else (f.sum() + f_new.sum()) * 0.0
    if not terms:
        return ViewInvariantResult(zero, skipped="no view-invariant term selected")

    f_n = F.normalize(f, dim=1)
    f_new_n = F.normalize(f_new, dim=1) if f_new is not None else None
    bank = memory.bank
    pos_idx, is_anchor, _ = memory.sample_positives(indices, labels, generator=generator)
    neg_idx, neg_valid = memory.sample_negatives(indices, labels, num_negatives, generator=generator)
    num_anchors = int(is_anchor.sum())
    if num_anchors == 0:
        return ViewInvariantResult(zero, {t: zero for t in terms}, 0, neg_idx.shape[1],
                                   skipped="no anchor in the batch belongs to a cluster (all outliers)")
    if neg_idx.shape[1] == 0:
        return ViewInvariantResult(zero, {t: zero for t in terms}, num_anchors, 0,
                                   skipped="no negatives: a single pseudo-identity and no outliers")
    # Keep only the anchors, then score the negatives with one (B, N) product and a gather.
    keep = is_anchor.nonzero().view(-1)
    f_n, pos_idx, neg_idx, neg_valid = f_n[keep], pos_idx[keep], neg_idx[keep], neg_valid[keep]
    if f_new_n is not None:
        f_new_n = f_new_n[keep]
    scorer = f_new_n if negative_anchor == "generated" else f_n
    neg_sim = torch.gather(scorer @ bank.t(), 1, neg_idx)
    f_pos = bank[pos_idx]
    positives = {
        "vi": lambda: (f_n * f_pos).sum(dim=1),
        "vi_new": lambda: (f_new_n * (f_n if real_positive_grad else f_n.detach())).sum(dim=1),
        "vi_new_pos": lambda: (f_new_n * f_pos).sum(dim=1),
    }
    values = {t: contrastive_log_loss(positives[t](), neg_sim, neg_valid, temperature).mean() for t in terms}
    total = sum(values.values())
    return ViewInvariantResult(total, values, num_anchors, int(neg_valid.sum(dim=1).max()))
