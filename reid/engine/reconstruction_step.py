"""One iteration of the reconstruction-first phase of gan_warmup: E_str + G learn to redraw x.

x'_ori = G(E_str(s_ori), E_id(x).parts) is pulled towards x by an L1 loss, with E_id frozen and
no discriminator, no cycle and no feature term. E_str sees only the body's structure map, so
everything else in the image (clothing colours, background) must reach G through E_id's
appearance code: the phase teaches G to read that code before the adversarial game starts. A
novel view x'_new = G(E_str(s_new), same code) then paints the same appearance on the rotated
body (thesis chapter 6 trains this from the start with L_gan; at a few hundred CPU iterations
the adversarial term keeps G from learning to read the code at all: README, "The synthetic
recipe").
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from common.precision import autocast, backward_and_step, check_precision
from reid.engine.loop import check_finite_terms
from reid.losses.reconstruction import view_reconstruction_loss
from reid.models.gcl.generative_module import GCLGenerativeModule
from reid.models.gcl.grad import set_requires_grad

__all__ = ["ReconstructionStep"]


class ReconstructionStep:
    """Callable: one reconstruction iteration on a batch; returns ``{"rec_img": L1}``.

    ``optimizer`` steps E_str + G; ``precision`` as ``SOLVER.PRECISION``; ``img_loss_norm`` as
    ``GCL.IMG_LOSS_NORM``; ``scaler``: the fp16 gradient scaler (None or disabled: none)."""

    def __init__(self, identity_encoder: nn.Module, generative: GCLGenerativeModule,
                 optimizer: torch.optim.Optimizer, precision: str = "fp32",
                 img_loss_norm: str = "none", scaler: Optional[torch.amp.GradScaler] = None):
        self.encoder = identity_encoder
        self.generative = generative
        self.optimizer = optimizer
        self.precision = check_precision(precision)
        self.img_loss_norm = img_loss_norm
        self.scaler = scaler

    def __call__(self, x: torch.Tensor, s_ori: torch.Tensor) -> dict:
        if x.shape[0] != s_ori.shape[0] or x.shape[-2:] != s_ori.shape[-2:]:
            raise ValueError(f"ReconstructionStep: images {tuple(x.shape)} and structure maps "
                             f"{tuple(s_ori.shape)} differ in batch size or image size")
        self.encoder.eval()
        set_requires_grad(self.encoder, False)
        self.generative.train()
        gen = self.generative
        with autocast(x.device, self.precision):
            with torch.no_grad():
                parts = self.encoder.forward_all(x).parts
            x_ori = gen.generator(gen.structure_encoder(s_ori), parts)
        loss = view_reconstruction_loss(x, x_ori.float(), self.img_loss_norm)
        terms = {"rec_img": float(loss.detach())}
        check_finite_terms(terms)
        backward_and_step(loss, self.optimizer, self.scaler)
        return terms
