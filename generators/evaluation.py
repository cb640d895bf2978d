"""Evaluate a trained generator against real clips: SSIM, PSNR, ACD, video FID / FVD when the
user supplies the feature-network weights, and the classifier scores (FCD, classifier score,
action accuracy) with a checkpoint of the project's own action classifier.

A model conditioned on an input image (ImaGINator) is evaluated as in the thesis (3.4.3): each
real clip's first frame and label drive the generator, SSIM / PSNR compare the generated clip
with the real one, ACD-I compares every generated frame with the input frame. The other models'
clips come from noise (labels drawn from the data when conditional, as for G3AN); ACD-C, FID and
FVD compare them with real clips. The noise and the generation are the model's spec's
(:mod:`generators.registry`).

FVD takes either I3D weights in the PyTorch I3D layout or the StyleGAN-V TorchScript detector
(``i3d_torchscript.pt``, recognised by its file format). The classifier scores
(:mod:`generators.metrics.classifier_scores`) are ``fcd`` (a Fréchet distance in the classifier's
feature space, not FVD), ``classifier_score`` (Inception-score recipe) and, for a model
conditioned on labels, ``action_accuracy``: the share of generated clips classified as the
action they were generated for (``_real``: the same for the real clips, the reference).

Two diagnostics of what drives the generated motion, in pixel units of [-1, 1]: ``motion``
(``_real``), the mean absolute change of every frame from the clip's first frame, and the change
of the clips when only one input changes, the same everything else: ``noise_effect`` (other
noise) and, for a model conditioned on labels, ``label_effect`` (every clip generated for
another action). A label effect near 0 with an action accuracy at chance says the generator
ignores its label.
"""
from __future__ import annotations

import torch

from .metrics import (acd, classifier_scores, fvd, is_torchscript_file, load_feature_network,
                      map_labels, psnr, ssim, video_fid)
from .registry import video_gan_of


def motion(videos: torch.Tensor) -> float:
    """Mean absolute change of the frames of (B, C, T, H, W) clips from each clip's first."""
    return (videos - videos[:, :, :1]).abs().mean().item()


def other_labels(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """A different label for every clip, cycling through the others (deterministic)."""
    shift = 1 + torch.arange(labels.shape[0], device=labels.device) % (num_classes - 1)
    return (labels + shift) % num_classes


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


def label_conditioned(cfg) -> bool:
    """True when the model of ``cfg`` generates clips of given labels (MODEL.NUM_CLASSES > 0)."""
    return bool(cfg.MODEL.NUM_CLASSES) and "label" in video_gan_of(cfg).conditioning


def evaluate_generator(generator, cfg, dataset, num_videos: int = 64, batch_size: int = 8,
                       resnext_weights: str = "", i3d_weights: str = "",
                       seed: int = 0, classifier_weights: str = "",
                       score_splits: int = 1, classifier=None) -> dict[str, float]:
    """Scores over ``num_videos`` clips of ``dataset`` (cycled when it is smaller).

    ``classifier_weights``: a checkpoint of tools/train_video_classifier.py for the classifier
    scores, or ``classifier``: that network already loaded (a run evaluating again and again
    loads it once); ``score_splits``: the splits of the classifier score."""
    device = next(generator.parameters()).device
    reals, fakes, all_labels = [], [], []
    noise_changes, label_changes = [], []
    conditional = label_conditioned(cfg) and cfg.MODEL.NUM_CLASSES > 1
    for start in range(0, num_videos, batch_size):
        idx = [(start + i) % len(dataset) for i in range(min(batch_size, num_videos - start))]
        items = [dataset[i] for i in idx]
        real = torch.stack([it["video"] for it in items])
        all_labels += [int(it.get("label", -1)) for it in items]
        labels = None
        if cfg.MODEL.NUM_CLASSES:
            labels = torch.tensor([it["label"] for it in items], device=device)
        fake = generate_for_evaluation(generator, cfg, real, labels, seed + start)
        other_noise = generate_for_evaluation(generator, cfg, real, labels,
                                              seed + start + num_videos)
        noise_changes.append((other_noise - fake).abs().flatten(1).mean(1))
        if conditional:
            relabelled = generate_for_evaluation(generator, cfg, real,
                                                 other_labels(labels, cfg.MODEL.NUM_CLASSES),
                                                 seed + start)
            label_changes.append((relabelled - fake).abs().flatten(1).mean(1))
        fakes.append(fake)
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
    scores["motion"], scores["motion_real"] = motion(fake), motion(real.float())
    scores["noise_effect"] = torch.cat(noise_changes).mean().item()
    if conditional:
        scores["label_effect"] = torch.cat(label_changes).mean().item()
    if resnext_weights:
        net = load_feature_network("resnext101", resnext_weights, device)
        scores["video_fid"] = video_fid(net, real, fake, batch_size)
    if i3d_weights:
        kind = "i3d_torchscript" if is_torchscript_file(i3d_weights) else "i3d"
        net = load_feature_network(kind, i3d_weights, device)
        scores["fvd"] = fvd(net, real, fake, batch_size)
    if classifier is not None or classifier_weights:
        net = classifier if classifier is not None else load_feature_network(
            "action_classifier", classifier_weights, device)
        real_labels = fake_labels = None
        if all(label >= 0 for label in all_labels):
            try:
                real_labels = map_labels(all_labels, getattr(dataset, "classes", None), net)
            except ValueError:
                if label_conditioned(cfg):  # the accuracy of the intended actions is asked for
                    raise
            fake_labels = real_labels if label_conditioned(cfg) else None
        scores.update(classifier_scores(net, real, fake, fake_labels, real_labels,
                                        score_splits, batch_size))
    return scores
