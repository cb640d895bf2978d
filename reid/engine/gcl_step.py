"""One GCL training iteration (gan_warmup or joint): generator / encoder step, then discriminator step.

The batch step of the generative stages (:mod:`reid.engine.stages.generative`): optimisers,
backward passes and memory updates. The benchmark (``benchmarks/gcl_step.py``) times it against
a straightforward formulation of the same objective.

What makes it cheaper than the straightforward formulation (every pass separate, D step first
while the generator graph is alive, D re-scored on the real batch for each generated view with
its own penalty, D weight gradients built in the G step):
  * E_str(s_ori) and E_str(s_new) in one pass; x'_new and x'_ori decoded in one G pass;
    E_str(s_ori) shared by x'_ori and x''_ori;
  * E_id(x) without a graph when E_id is frozen (gan_warmup);
  * D scores the three generated batches once, on a detached copy: the gradient of L_adv with
    respect to the generated images (through the still fixed critic) is passed on to G / E_id,
    and the same scores give the D step its fake term (D's weights do not change in between, so
    this is the D pass on detached images the D step would otherwise repeat);
  * the G/E_id step runs first, so its graph is freed before the D step;
  * the real batch goes through D once, with one R1 penalty;
  * gradients are released with ``zero_grad(set_to_none=True)``.

With ``SOLVER.PRECISION fp16`` two ``torch.amp.GradScaler`` scale the losses: ``scaler`` the
G / E_id backward pass (the generator and encoder optimisers step after it, or the encoder's
alone without the GAN), ``dis_scaler`` the D backward pass; each skips its optimisers' steps
when their gradients overflow and updates its scale once per iteration. The gradient of L_adv
at the generated images is taken from the scaled loss and unscaled in float32 (the float16
gradient of a small mean loss would underflow). Without scalers (or with disabled ones, as
for fp32 / bf16) nothing of this runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from common.precision import (autocast, check_precision, scaled, scaler_enabled,
                              step_optimizer, update_scaler)
from reid.engine.loop import NonFiniteLossError, check_finite_terms
from reid.losses.gan import lsgan_discriminator_loss, lsgan_generator_loss, r1_gradient_penalty
from reid.losses.reconstruction import (GANLossWeights, feature_reconstruction_loss, gan_objective,
                                        image_reconstruction_loss)
from reid.losses.view_invariant import VI_TERMS, view_invariant_losses
from reid.memory.instance_memory import InstanceMemory
from reid.models.gcl.generative_module import GCLGenerativeModule
from reid.models.gcl.grad import set_requires_grad
from reid.views.video import video_view_loss

__all__ = ["GCLStepConfig", "GCLTrainStep", "NonFiniteLossError"]


@dataclass
class GCLStepConfig:
    """Weights and switches of one step (defaults = thesis chapter 6)."""

    gan_weights: GANLossWeights = field(default_factory=GANLossWeights)
    gp_weight: float = 0.01
    vi_weight: float = 1.0
    vi_terms: Sequence[str] = VI_TERMS
    temperature: float = 0.04
    num_negatives: int = 8192
    # "parts": L_feat on the 2048 x P appearance codes (thesis f_id, authors' code);
    # "embedding": on the 512-d features f.
    feat_loss_on: str = "parts"
    # Factor on the L_gan gradient that reaches E_id in the joint stage (1 = thesis; 0 = E_id
    # learns from the contrastive terms only while G still learns from both).
    encoder_gan_grad: float = 1.0
    # Feature that scores the memory negatives of the GAN view-invariant losses: "generated"
    # (E_id(x'_new), thesis) or "original" (E_id(x)).
    negative_anchor: str = "generated"
    # False: E_id(x) is a fixed target in L'_vi (no gradient through the real side).
    real_positive_grad: bool = True
    # True: E_id passes over generated images update its BatchNorm running statistics too;
    # False: only the pass over the real batch does.
    generated_bn_stats: bool = False
    # True: E_id's BatchNorm layers stay in eval mode while E_id trains (running statistics used
    # and kept; GCL.FREEZE_ENCODER_BN).
    freeze_encoder_bn: bool = False
    # "fp32", "bf16" or "fp16" (forward passes under autocast; losses and memory in float32;
    # fp16 needs the step's gradient scalers), or "auto".
    precision: str = "fp32"
    # Factor on LSGAN's generator term (the authors' code: 2).
    lsgan_gen_factor: float = 1.0
    # L_img on the [-1, 1] tensors ("none") or on ImageNet-normalised images ("imagenet").
    img_loss_norm: str = "none"

    @classmethod
    def from_cfg(cls, cfg) -> "GCLStepConfig":
        g = cfg.GCL
        return cls(gan_weights=GANLossWeights.from_cfg(cfg), gp_weight=g.GP_WEIGHT,
                   vi_weight=g.LAMBDA_VI, vi_terms=tuple(g.VI_LOSSES), temperature=g.TEMPERATURE,
                   num_negatives=g.NUM_NEGATIVES, feat_loss_on=g.FEAT_LOSS_ON,
                   precision=cfg.SOLVER.PRECISION, encoder_gan_grad=g.ENCODER_GAN_GRAD,
                   negative_anchor=g.NEGATIVE_ANCHOR, real_positive_grad=g.REAL_POSITIVE_GRAD,
                   generated_bn_stats=g.GENERATED_BN_STATS, freeze_encoder_bn=g.FREEZE_ENCODER_BN,
                   lsgan_gen_factor=g.LSGAN_GEN_FACTOR,
                   img_loss_norm=g.IMG_LOSS_NORM)

    def __post_init__(self):
        if self.feat_loss_on not in ("parts", "embedding"):
            raise ValueError(f"feat_loss_on must be 'parts' or 'embedding', got {self.feat_loss_on!r}")
        if self.negative_anchor not in ("generated", "original"):
            raise ValueError(f"GCL.NEGATIVE_ANCHOR must be 'generated' or 'original', "
                             f"got {self.negative_anchor!r}")
        self.precision = check_precision(self.precision)


def _zero_grad(optimizer: Optional[torch.optim.Optimizer]) -> None:
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)


class GCLTrainStep:
    """Callable that runs one iteration and returns the loss terms as floats.

    ``train_encoder=False`` is gan_warmup (E_id frozen, in eval mode, no contrast);
    ``train_encoder=True`` with a memory and pseudo-labels is the joint stage;
    ``use_gan=False`` is the "L_vi without GAN" ablation (E_id and the memory loss only, negatives
    scored against f).
    ``video_view`` (a frozen :class:`~reid.views.video.VideoViewGenerator`) adds
    ``video_view_weight * L_vid`` in the joint stage, with or without the GAN (logged as ``L_vid``).
    ``scaler`` / ``dis_scaler``: the gradient scalers of the G / E_id and the D backward passes
    (fp16; None or disabled: no scaling, see the module docstring).
    """

    def __init__(self, identity_encoder: nn.Module, generative: Optional[GCLGenerativeModule],
                 id_optimizer: Optional[torch.optim.Optimizer] = None,
                 gen_optimizer: Optional[torch.optim.Optimizer] = None,
                 dis_optimizer: Optional[torch.optim.Optimizer] = None,
                 memory: Optional[InstanceMemory] = None, config: Optional[GCLStepConfig] = None,
                 train_encoder: bool = True, use_gan: bool = True,
                 video_view: Optional[nn.Module] = None, video_view_weight: float = 1.0,
                 scaler: Optional[torch.amp.GradScaler] = None,
                 dis_scaler: Optional[torch.amp.GradScaler] = None):
        if use_gan and generative is None:
            raise ValueError("GCLTrainStep: use_gan=True needs the generative module")
        if not use_gan and (memory is None or not train_encoder):
            raise ValueError("GCLTrainStep: the without-GAN variant trains E_id with the memory loss; "
                             "give a memory and train_encoder=True")
        self.encoder = identity_encoder
        self.generative = generative
        self.id_optimizer = id_optimizer
        self.gen_optimizer = gen_optimizer
        self.dis_optimizer = dis_optimizer
        self.memory = memory
        self.config = config or GCLStepConfig()
        self.train_encoder = train_encoder
        self.use_gan = use_gan
        self.video_view = video_view
        self.video_view_weight = video_view_weight
        self.scaler = scaler
        self.dis_scaler = dis_scaler

    # ------------------------------------------------------------------ helpers
    def _prepare_modes(self) -> None:
        self.encoder.train(self.train_encoder)
        if self.train_encoder and self.config.freeze_encoder_bn:
            for m in self.encoder.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        set_requires_grad(self.encoder, self.train_encoder)
        if self.generative is not None:
            self.generative.train()

    def _contrast(self, f, f_new, indices, labels, terms, negative_anchor):
        if self.memory is None or indices is None or not self.train_encoder or not terms:
            return None
        return view_invariant_losses(f, f_new, self.memory, indices, labels,
                                     self.config.num_negatives, self.config.temperature,
                                     terms, negative_anchor,
                                     real_positive_grad=self.config.real_positive_grad)

    def _autocast(self, x: torch.Tensor):
        return autocast(x.device, self.config.precision)

    @staticmethod
    def _as_float(outputs):
        return [o.float() for o in outputs]

    def _video_view_term(self, x, f, indices, labels, terms: dict):
        """``video_view_weight * L_vid`` (None when off or when the contrast is off this step);
        writes ``L_vid`` into ``terms``."""
        if (self.video_view is None or self.memory is None or indices is None
                or not self.train_encoder or not self.config.vi_terms):
            return None
        vid = video_view_loss(self.encoder, self.video_view, x, f, self.memory, indices, labels,
                              self.config.num_negatives, self.config.temperature,
                              self.config.precision, self.config.generated_bn_stats)
        terms["L_vid"] = float(vid.loss.detach())
        return self.video_view_weight * vid.loss

    # ------------------------------------------------------------------ entry point
    def __call__(self, x: torch.Tensor, s_ori: Optional[torch.Tensor] = None,
                 s_new: Optional[torch.Tensor] = None, indices: Optional[torch.Tensor] = None,
                 labels: Optional[torch.Tensor] = None) -> dict:
        self._prepare_modes()
        if not self.use_gan:
            return self._step_without_gan(x, indices, labels)
        if s_ori is None or s_new is None:
            raise ValueError("GCLTrainStep: the generative step needs s_ori and s_new structure maps")
        return self._step_with_gan(x, s_ori, s_new, indices, labels)

    def _step_without_gan(self, x, indices, labels) -> dict:
        with self._autocast(x):
            f = self.encoder(x)
        f = f.float()
        vi = self._contrast(f, None, indices, labels, ("vi",), "original")
        loss = self.config.vi_weight * vi.loss
        terms = {"vi_wogan": float(loss.detach())}
        vid = self._video_view_term(x, f, indices, labels, terms)
        if vid is not None:
            loss = loss + vid
        check_finite_terms(terms)
        _zero_grad(self.id_optimizer)
        scaled(loss, self.scaler).backward()
        step_optimizer(self.id_optimizer, self.scaler)
        update_scaler(self.scaler)
        self.memory.update(indices, f.detach())
        if vi.skipped:
            terms["vi_skipped"] = vi.skipped
        return terms

    def _generator_losses(self, x, views, indices, labels, l_adv, adv_objective=None):
        """L_gan, the contrastive terms and the logged terms. ``adv_objective`` stands in for
        ``l_adv`` in L_gan when given: a term with the same gradient (the step's link
        to the generated images); the logged values always come from ``l_adv``."""
        cfg = self.config
        l_img = image_reconstruction_loss(x, views.x_ori, views.x_cycle, cfg.img_loss_norm)
        if cfg.feat_loss_on == "parts":
            l_feat = feature_reconstruction_loss(views.parts, views.parts_new, views.parts_cycle)
        else:
            l_feat = feature_reconstruction_loss(views.embedding, views.embedding_new, views.embedding_cycle)
        gan = gan_objective(l_img, l_feat, l_adv if adv_objective is None else adv_objective,
                            cfg.gan_weights)
        terms = {"img": float(l_img.detach()), "feat": float(l_feat.detach()), "adv": float(l_adv.detach())}
        total_value = float(gan_objective(l_img.detach(), l_feat.detach(), l_adv.detach(), cfg.gan_weights))
        contrast = None
        vi = self._contrast(views.embedding, views.embedding_new, indices, labels, tuple(cfg.vi_terms),
                            cfg.negative_anchor)
        if vi is not None:
            contrast = cfg.vi_weight * vi.loss
            terms.update({f"L_{k}": float(v.detach()) for k, v in vi.terms.items()})
            if vi.skipped:
                terms["vi_skipped"] = vi.skipped
        vid = self._video_view_term(x, views.embedding, indices, labels, terms)
        if vid is not None:
            contrast = vid if contrast is None else contrast + vid
        if contrast is not None:
            total_value += float(contrast.detach())
        terms["gen_total"] = total_value
        return gan, contrast, terms

    def _generator_backward(self, gan: torch.Tensor, contrast: Optional[torch.Tensor]) -> None:
        """Gradients of L_gan (+ the contrastive terms); E_id's share of L_gan scaled by
        ``encoder_gan_grad`` (two backward passes only when that is not 1)."""
        scale = self.config.encoder_gan_grad
        if not self.train_encoder or scale == 1.0:
            scaled(gan if contrast is None else gan + contrast, self.scaler).backward()
            return
        scaled(gan, self.scaler).backward(retain_graph=contrast is not None)
        for p in self.encoder.parameters():
            if p.grad is not None:
                p.grad.mul_(scale)
        if contrast is not None:
            scaled(contrast, self.scaler).backward()

    def _update_memory(self, views, indices) -> None:
        if self.memory is not None and indices is not None and self.train_encoder:
            self.memory.update(indices, views.embedding.detach())

    def _step_with_gan(self, x, s_ori, s_new, indices, labels) -> dict:
        gen = self.generative
        disc = gen.discriminator
        set_requires_grad(disc, True)
        with self._autocast(x):
            views = gen.generate_views(self.encoder, x, s_ori, s_new, self.train_encoder, batched=True,
                                       generated_bn_stats=self.config.generated_bn_stats)
            fakes = views.fakes()
            # One D pass on the generated images serves both steps (see the module docstring).
            fakes_in = fakes.detach().requires_grad_(True)
            fake_scores = self._as_float(disc(fakes_in))
        views = views.float()
        l_adv = lsgan_generator_loss(fake_scores, groups=3, factor=self.config.lsgan_gen_factor)
        # G / E_id step: D is a fixed critic here, only the gradient at its input is needed.
        (grad_fakes,) = torch.autograd.grad(scaled(l_adv, self.scaler), fakes_in, retain_graph=True)
        if scaler_enabled(self.scaler):  # unscaled in float32; an overflow stays inf and skips
            grad_fakes = grad_fakes.float() / self.scaler.get_scale()
        adv_objective = (fakes * grad_fakes).sum()  # gradient grad_fakes into the generated images
        gan, contrast, terms = self._generator_losses(x, views, indices, labels, l_adv, adv_objective)
        check_finite_terms(terms)
        _zero_grad(self.gen_optimizer)
        _zero_grad(self.id_optimizer if self.train_encoder else None)
        self._generator_backward(gan, contrast)
        step_optimizer(self.gen_optimizer, self.scaler)
        if self.train_encoder:
            step_optimizer(self.id_optimizer, self.scaler)
        update_scaler(self.scaler)
        self._update_memory(views, indices)
        del gan, contrast, views, fakes, adv_objective, grad_fakes
        # D step: the real batch once, the scores of the detached generated images from above.
        real = x.detach().requires_grad_(True)
        with self._autocast(x):
            real_out = self._as_float(disc(real))
        d_adv = lsgan_discriminator_loss(real_out, fake_scores, groups=3)
        # R1 differentiates the sum of the scores (not a mean): no float16 underflow to guard
        # against, so its inner gradient is left unscaled (a scaled one could overflow into a
        # non-finite logged term); the D backward pass below is scaled.
        gp = r1_gradient_penalty(real_out, real)
        d_total = d_adv + 3 * self.config.gp_weight * gp
        terms.update({"dis_adv": float(d_adv.detach()), "gp": float(gp.detach())})
        check_finite_terms(terms)
        _zero_grad(self.dis_optimizer)
        scaled(d_total, self.dis_scaler).backward(inputs=list(disc.parameters()))
        step_optimizer(self.dis_optimizer, self.dis_scaler)
        update_scaler(self.dis_scaler)
        return terms

