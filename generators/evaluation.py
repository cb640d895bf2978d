"""Evaluate a trained generator against real clips: SSIM, PSNR, ACD, and video FID / FVD when the
user supplies the feature-network weights.

A model conditioned on an input image (ImaGINator) is evaluated as in the thesis (3.4.3): each
real clip's first frame and label drive the generator, SSIM / PSNR compare the generated clip
with the real one, ACD-I compares every generated frame with the input frame. The other models'
clips come from noise (labels drawn from the data when conditional, as for G3AN); ACD-C, FID and
FVD compare them with real clips. The noise and the generation are the model's spec's
(:mod:`generators.registry`).
"""
from __future__ import annotations

import torch

from .metrics import acd, fvd, load_feature_network, psnr, ssim, video_fid
from .registry import video_gan_of


@torch.no_grad()
def generate_for_evaluation(generator, cfg, real: torch.Tensor, labels: torch.Tensor | None,
                            seed: int = 0) -> torch.Tensor:
    """Clips for the real clips ``real`` (their first frames drive an image-conditioned model)
    from noise seeded with ``seed``."""
    spec = video_gan_of(cfg)
    gen = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    noise = tuple(t.to(device) for t in spec.sample_noise(generator, cfg, real.shape[0], "cpu",
                                                           gen))
    images = real[:, :, 0].to(device) if spec.image_conditioned else None
    return spec.generate(generator, cfg, noise, labels, images).cpu()


def evaluate_generator(generator, cfg, dataset, num_videos: int = 64, batch_size: int = 8,
                       resnext_weights: str = "", i3d_weights: str = "",
                       seed: int = 0) -> dict[str, float]:
    """Scores over ``num_videos`` clips of ``dataset`` (cycled when it is smaller)."""
    device = next(generator.parameters()).device
    reals, fakes = [], []
    for start in range(0, num_videos, batch_size):
        idx = [(start + i) % len(dataset) for i in range(min(batch_size, num_videos - start))]
        items = [dataset[i] for i in idx]
        real = torch.stack([it["video"] for it in items])
        labels = None
        if cfg.MODEL.NUM_CLASSES:
            labels = torch.tensor([it["label"] for it in items], device=device)
        fakes.append(generate_for_evaluation(generator, cfg, real, labels, seed + start))
        reals.append(real)
    real, fake = torch.cat(reals), torch.cat(fakes)
    scores: dict[str, float] = {"num_videos": float(real.shape[0])}
    if video_gan_of(cfg).image_conditioned:
        scores["ssim"] = ssim(fake, real).mean().item()
        scores["psnr"] = psnr(fake, real).mean().item()
        scores.update(acd(fake, reference=real[:, :, 0]))
    else:
        scores.update(acd(fake))
    scores["acd_c_real"] = acd(real)["acd_c"]
    if resnext_weights:
        net = load_feature_network("resnext101", resnext_weights, device)
        scores["video_fid"] = video_fid(net, real, fake, batch_size)
    if i3d_weights:
        net = load_feature_network("i3d", i3d_weights, device)
        scores["fvd"] = fvd(net, real, fake, batch_size)
    return scores
