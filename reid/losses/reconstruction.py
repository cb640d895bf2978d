"""GCL generative-module losses: image and feature reconstruction (thesis eq. 6.1, 6.2, 6.4)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reid.config.validation import IMG_LOSS_NORMS
from reid.models.backbone import IMAGENET_STD


def view_reconstruction_loss(x: torch.Tensor, x_rec: torch.Tensor, norm: str = "none") -> torch.Tensor:
    """E|x - x_rec| (mean over all elements), the real image ``x`` a fixed target.

    ``norm`` (``GCL.IMG_LOSS_NORM``): "none" measures it on the [-1, 1] tensors; "imagenet" on
    the images mapped to ImageNet mean / std, as the authors' code (its images and G's output are
    in those statistics): each channel's difference times 1 / (2 std), about 2.2.
    """
    if x.shape != x_rec.shape:
        raise ValueError(f"shapes differ: x {tuple(x.shape)}, reconstruction {tuple(x_rec.shape)}")
    if norm not in IMG_LOSS_NORMS:
        raise ValueError(f"image reconstruction loss: norm must be one of {IMG_LOSS_NORMS}, "
                         f"got {norm!r}")
    x = x.detach()
    if norm == "none":
        return (x_rec - x).abs().mean()
    # (v + 1) / 2 is the [0, 1] image; the mean cancels in the difference, 1 / (2 std) remains.
    scale = 0.5 / x.new_tensor(IMAGENET_STD).view(1, -1, 1, 1)
    return ((x_rec - x).abs() * scale).mean()


def image_reconstruction_loss(x: torch.Tensor, x_ori: torch.Tensor, x_cycle: torch.Tensor,
                              norm: str = "none") -> torch.Tensor:
    """L_img = E|x - x'_ori| + E|x - x''_ori| (each :func:`view_reconstruction_loss`)."""
    if x.shape != x_ori.shape or x.shape != x_cycle.shape:
        raise ValueError(f"shapes differ: x {tuple(x.shape)}, x'_ori {tuple(x_ori.shape)}, x''_ori {tuple(x_cycle.shape)}")
    return view_reconstruction_loss(x, x_ori, norm) + view_reconstruction_loss(x, x_cycle, norm)


def feature_reconstruction_loss(f_id: torch.Tensor, f_new: torch.Tensor, f_cycle: torch.Tensor) -> torch.Tensor:
    """L_feat = E|f_id - E_id(x'_new)| + E|f_id - E_id(x''_ori)|.

    The target ``f_id`` is detached, as in the authors' code: the reconstruction pulls the
    generated views' features towards the real image's, not the other way round.
    """
    if f_id.shape != f_new.shape or f_id.shape != f_cycle.shape:
        raise ValueError(f"shapes differ: f_id {tuple(f_id.shape)}, f'_new {tuple(f_new.shape)}, f''_ori {tuple(f_cycle.shape)}")
    target = f_id.detach()
    return (f_new - target).abs().mean() + (f_cycle - target).abs().mean()


@dataclass
class GANLossWeights:
    """lambda_img, lambda_feat, lambda_adv of eq. 6.4 (5, 5, 1 in GCL)."""

    img: float = 5.0
    feat: float = 5.0
    adv: float = 1.0

    @classmethod
    def from_cfg(cls, cfg) -> "GANLossWeights":
        return cls(img=cfg.GCL.LAMBDA_IMG, feat=cfg.GCL.LAMBDA_FEAT, adv=cfg.GCL.LAMBDA_ADV)


def gan_objective(l_img: torch.Tensor, l_feat: torch.Tensor, l_adv: torch.Tensor,
                  weights: GANLossWeights = GANLossWeights()) -> torch.Tensor:
    """L_gan = lambda_img L_img + lambda_feat L_feat + lambda_adv L_adv."""
    return weights.img * l_img + weights.feat * l_feat + weights.adv * l_adv
