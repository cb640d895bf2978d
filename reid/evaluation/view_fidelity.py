"""How close GCL's generated views are to the views they should be: scores against ground truth.

The synthetic dataset can hold, for evaluation only, every training image's person rotated by
each novel angle with full appearance (:mod:`mesh.synthetic.ground_truth`). The generative module
turns a real image ``x`` and structure maps into ``x'_ori`` (same structure) and ``x'_new`` (the
person rotated); this module scores them. Images are compared in [0, 1]; the silhouette of an
image at an angle is the body of its structure map there (:func:`reid.views.silhouette_from_map`:
the renders are grey bodies on white).

Figures, each per angle and over all evaluated (image, angle) pairs:

* **masked L1** (lower is better): mean absolute difference per pixel and channel inside the
  true silhouette, per image, then averaged over the images.
* **masked SSIM** (higher is better): the standard SSIM map (Gaussian window 11 x 11, sigma 1.5,
  C1 = 0.01^2, C2 = 0.03^2 for data range 1, per channel then averaged over the channels, over
  the window positions that fit the image: the map is 10 pixels smaller than the image each
  way), averaged inside the silhouette cropped to the map, per image, then over the images.
* **view-identity accuracy** (higher is better): every predicted view at angle a is described by
  a fixed, label-free colour descriptor and matched to the nearest ground-truth view of angle a
  among all evaluated images; it is correct when that view shows the prediction's person. The
  descriptor is the joint RGB histogram with 8 x 8 x 8 bins of the pixels inside the image's
  TRUE silhouette at a (the prediction's and the candidate's own), normalised to sum 1; views
  are compared by the Bhattacharyya coefficient sum(sqrt(p * q)) (the nearest view has the
  largest, i.e. the smallest Hellinger distance). Reported with its chance level, 1 / the number
  of identities evaluated (a prediction shuffled across the images scores about that).

Rows: ``x_ori`` (x'_ori against x itself, masked by the angle-0 silhouette), ``x_new`` (x'_new
against the ground truth at each novel angle) and two reference predictors of the novel views
that any useful generator should beat: ``mean_image`` (the pixel mean of the evaluated
ground-truth views at that angle, the same image predicted for every person) and ``input`` (the
unrotated input x predicted as every novel view).

Also:

* **SSIM diversity**: the mean SSIM (whole images, unmasked) over the pairs of generated novel
  views of the same identity (every evaluated angle and image of it; at most 64 pairs per
  identity, a fixed sample evenly spaced in the list of all pairs), averaged over the
  identities; the same statistic over the real input images of each identity (identities with at
  least two) is its reference. The thesis (table 6.4) reports it beside FID and reads it as the
  intra-class structural similarity of the generated images: how alike the views made for one
  person are. A value far above the real images' means near-copies (little variation to learn
  invariance from), far below means views that no longer share the person's structure; near the
  real images' value is what real views of a person look like.
* **FID** of the generated novel views against the real input images, from Inception-v3 pool
  features of a checkpoint the user supplies (:func:`load_inception`; nothing is downloaded).
  With tens of images it is biased upwards: compare it only across runs on the same subset.

The evaluated images are a fixed, seed-free subset of the training images
(:func:`evaluation_subset`), so that figures compare across epochs and runs.

>>> items = evaluation_subset(dataset.train, 64)
>>> result = evaluate_views(encoder, generative, dataset.root, cache, items, device="cuda")
>>> print(format_view_table(result))
"""
from __future__ import annotations

import contextlib
import math
import os
import types
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from common.frechet import feature_frechet_distance
from common.state_dict import load_state_dict_with_report, read_checkpoint
from reid.data import build_test_transform, read_image
# The ground-truth folder of the synthetic dataset (evaluation only, never read by training).
from reid.views import (ORIGINAL_VIEW, ground_truth_angles, ground_truth_path,
                        read_ground_truth_views, silhouette_from_map)

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01 ** 2
SSIM_C2 = 0.03 ** 2
#: Bins per colour channel of the view-identity descriptor (8 x 8 x 8 joint RGB bins).
HISTOGRAM_BINS = 8
#: Training images scored by default, and at most this many of each identity.
DEFAULT_IMAGES = 64
DEFAULT_PER_IDENTITY = 4
#: Pairs of views per identity in the SSIM diversity (a fixed sample when it has more).
DIVERSITY_PAIRS = 64
#: The square input of the Inception-v3 feature network.
INCEPTION_SIZE = 299
#: Rows of the result: the two generated outputs, then the two reference predictors.
ROWS = ("x_ori", "x_new", "mean_image", "input")
ROW_TITLES = {"x_ori": "x'_ori (reconstruction, angle 0)", "x_new": "x'_new (novel views)",
              "mean_image": "reference: mean image", "input": "reference: input x"}
FIGURES = ("l1", "ssim", "id_acc")
#: The per-epoch history of a training run (in OUTPUT_DIR), a JSON list of flat scalars.
FIDELITY_HISTORY = "view_fidelity.json"


class MissingGroundTruthError(FileNotFoundError):
    """A dataset without (some of) the ground-truth views that the evaluation needs."""


# ---------------------------------------------------------------------------------------------
# Pixel figures (images (N, C, H, W) uint8 or float in [0, 1]; masks (N, 1, H, W) or (N, H, W))
# ---------------------------------------------------------------------------------------------
def _as_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float in [0, 1]; float images (already in [0, 1]) as float."""
    return images.float().div(255.0) if images.dtype == torch.uint8 else images.float()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] -> uint8 (as they would be saved)."""
    return images.detach().float().clamp(-1, 1).add(1.0).mul(127.5).round().to(torch.uint8)


def _mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    mask = mask.to(like.device).float()
    if mask.dim() == 3:
        mask = mask[:, None]
    if mask.shape[0] != like.shape[0] or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"silhouettes {tuple(mask.shape)} do not fit images {tuple(like.shape)}")
    return mask


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image mean of (N, 1, H, W) ``values`` inside ``mask``; NaN where the mask is empty."""
    area = mask.flatten(1).sum(1)
    total = (values * mask).flatten(1).sum(1)
    return torch.where(area > 0, total / area.clamp_min(1e-12), torch.full_like(area, math.nan))


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) mean absolute error inside each silhouette (NaN for an empty one)."""
    if pred.shape != target.shape:
        raise ValueError(f"masked_l1: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    mask = _mask(mask, pred)
    return _masked_mean((_as_unit(pred) - _as_unit(target)).abs().mean(1, keepdim=True), mask)


def _gaussian_band(length: int, device) -> torch.Tensor:
    """(length - 10, length) matrix whose rows are the Gaussian window at each valid offset."""
    coords = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - (SSIM_WINDOW - 1) / 2
    taps = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    offsets = torch.arange(length - SSIM_WINDOW + 1, device=device)[:, None]
    band = torch.zeros(len(offsets), length, device=device)
    band[offsets, offsets + torch.arange(SSIM_WINDOW, device=device)] = taps / taps.sum()
    return band


def _blur(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter of (..., H, W) over the positions where the window fits (the
    valid region), as two matrix products (faster than depthwise convolutions on a CPU)."""
    return _gaussian_band(x.shape[-2], x.device) @ x @ _gaussian_band(x.shape[-1], x.device).T


def _ssim_formula(mu_x, mu_y, var_x, var_y, cov) -> torch.Tensor:
    return ((2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)) / (
        (mu_x ** 2 + mu_y ** 2 + SSIM_C1) * (var_x + var_y + SSIM_C2))


def ssim_map(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N, 1, H - 10, W - 10) SSIM map, averaged over the channels."""
    if pred.shape != target.shape:
        raise ValueError(f"ssim: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    if min(pred.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim: images {tuple(pred.shape[-2:])} are smaller than the "
                         f"{SSIM_WINDOW} x {SSIM_WINDOW} window")
    x, y = _as_unit(pred), _as_unit(target)
    c = x.shape[1]
    mu_x, mu_y, xx, yy, xy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1)).split(c, 1)
    return _ssim_formula(mu_x, mu_y, xx - mu_x ** 2, yy - mu_y ** 2,
                         xy - mu_x * mu_y).mean(1, keepdim=True)


def _crop_to_map(mask: torch.Tensor) -> torch.Tensor:
    half = SSIM_WINDOW // 2
    return mask[..., half:mask.shape[-2] - half, half:mask.shape[-1] - half]


def masked_ssim(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,) mean of the SSIM map inside each silhouette (NaN where none of it is left). Each
    value of the map sees its 11 x 11 neighbourhood: pixels outside the silhouette but within 5
    pixels of it enter through the window, farther ones never do."""
    return _masked_mean(ssim_map(pred, target), _crop_to_map(_mask(mask, pred)))


def mean_pairwise_ssim(images: torch.Tensor, groups: Sequence[int],
                       max_pairs: Optional[int] = DIVERSITY_PAIRS,
                       chunk: int = 64) -> Optional[float]:
    """Mean SSIM (whole images) over the pairs of images of the same group, averaged over the
    groups that have at least two images; None when none has. ``images`` uint8 or [0, 1].

    A group with more than ``max_pairs`` pairs (None: no limit) contributes a fixed sample of
    them, evenly spaced in the list of all its pairs (an estimate of the same mean)."""
    groups = np.asarray(groups)
    if len(groups) != images.shape[0]:
        raise ValueError(f"mean_pairwise_ssim: {len(groups)} groups for {images.shape[0]} images")
    means = []
    for group in np.unique(groups):
        index = torch.as_tensor(np.flatnonzero(groups == group))
        if len(index) < 2:
            continue
        x = _as_unit(images[index])
        mu, sq = _blur(x), _blur(x * x)
        first, second = torch.triu_indices(len(index), len(index), 1)
        if max_pairs is not None and len(first) > max_pairs:
            keep = torch.arange(max_pairs) * len(first) // max_pairs
            first, second = first[keep], second[keep]
        values = []
        for start in range(0, len(first), chunk):
            a, b = first[start:start + chunk], second[start:start + chunk]
            cov = _blur(x[a] * x[b]) - mu[a] * mu[b]
            values.append(_ssim_formula(mu[a], mu[b], sq[a] - mu[a] ** 2, sq[b] - mu[b] ** 2,
                                        cov).flatten(1).mean(1))
        means.append(torch.cat(values).mean().item())
    return float(np.mean(means)) if means else None


# ---------------------------------------------------------------------------------------------
# View identity
# ---------------------------------------------------------------------------------------------
def colour_histograms(images: torch.Tensor, masks: torch.Tensor,
                      bins: int = HISTOGRAM_BINS) -> torch.Tensor:
    """(N, bins^3) joint RGB histograms of the pixels inside ``masks``, each summing to 1 (all
    zeros for an empty mask). ``images``: (N, 3, H, W) uint8 or float in [0, 1]."""
    unit = _as_unit(images).clamp(0, 1)
    q = (unit * bins).floor().clamp_(max=bins - 1).long()
    index = ((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]).flatten(1)
    weights = _mask(masks, unit).flatten(1)
    hist = torch.zeros(unit.shape[0], bins ** 3, device=unit.device).scatter_add_(1, index, weights)
    return hist / hist.sum(1, keepdim=True).clamp_min(1e-12)


def nearest_identity_hits(pred_descriptors: torch.Tensor, truth_descriptors: torch.Tensor,
                          pids: Sequence[int]) -> np.ndarray:
    """(N,) bool: whether the ground-truth view nearest to each prediction (largest
    Bhattacharyya coefficient) shows the prediction's identity ``pids[i]``."""
    coefficients = pred_descriptors.clamp_min(0).sqrt() @ truth_descriptors.clamp_min(0).sqrt().T
    nearest = coefficients.argmax(1).cpu().numpy()
    pids = np.asarray(pids)
    return pids[nearest] == pids


def view_identity_accuracy(pred: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor,
                           pids: Sequence[int]) -> float:
    """Fraction of predictions whose nearest ground-truth view (same angle, descriptors inside
    the true silhouettes ``masks``) shows their own identity."""
    return float(nearest_identity_hits(colour_histograms(pred, masks),
                                       colour_histograms(truth, masks), pids).mean())


# ---------------------------------------------------------------------------------------------
# Inception-v3 features and FID
# ---------------------------------------------------------------------------------------------
INCEPTION_LAYOUTS = ("torchvision", "pt_inception")
#: Classifier rows of the pt_inception FID weights (TF Inception's 1008 classes).
PT_INCEPTION_CLASSES = 1008


def _tf_pool_branch(block: nn.Module, pool) -> None:
    """Make ``block`` (a torchvision Inception block) pool its last branch with ``pool``, as TF
    Inception does; the other branches are torchvision's."""
    base = type(block)._forward

    def forward(self, x):
        outputs = base(self, x)
        outputs[-1] = self.branch_pool(pool(x))
        return outputs

    block._forward = types.MethodType(forward, block)


def _use_tf_pooling(net: nn.Module) -> None:
    """The pooling of the TF FID Inception: average pools that leave the padding out of the
    mean in Mixed_5b..Mixed_7b, a 3 x 3 max pool in the pool branch of Mixed_7c."""
    for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7b"):
        _tf_pool_branch(getattr(net, name), _average_without_padding)
    _tf_pool_branch(net.Mixed_7c, _maximum_3x3)


def _average_without_padding(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _maximum_3x3(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


class InceptionFeatures(nn.Module):
    """Inception-v3 (torchvision architecture) up to its 2048-d global average pool.

    ``forward`` takes images in [-1, 1] of any size, resizes them to ``input_size`` (299, the
    network's; smaller only in tests) bilinearly and returns (N, 2048) features. ``layout``
    "pt_inception" switches to the pooling of the TF FID network (see :func:`load_inception`).
    """

    def __init__(self, layout: str = "torchvision", input_size: int = INCEPTION_SIZE):
        super().__init__()
        from torchvision.models import inception_v3

        if layout not in INCEPTION_LAYOUTS:
            raise ValueError(f"Inception layout {layout!r}: expected one of {INCEPTION_LAYOUTS}")
        self.net = inception_v3(weights=None, aux_logits=False, init_weights=False,
                                transform_input=False)
        self.net.fc = nn.Identity()  # the pool features are the output
        if layout == "pt_inception":
            _use_tf_pooling(self.net)
        self.layout, self.input_size = layout, int(input_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = (self.input_size, self.input_size)
        x = images.float()
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.net(x)


def load_inception(path: str, device: str | torch.device = "cpu", layout: str = "auto",
                   input_size: int = INCEPTION_SIZE) -> InceptionFeatures:
    """The Inception-v3 feature network with the weights of ``path``; nothing is downloaded.

    What loads (``state_dict`` wrappers and ``module.`` prefixes are accepted):

    * torchvision's ImageNet Inception-v3 state dict (``inception_v3_google-*.pth``, tensor names
      ``Conv2d_1a_3x3.conv.weight`` ... ``Mixed_7c...``, ``fc`` of 1000 classes; its auxiliary
      classifier ``AuxLogits.*`` is ignored). The network is fed images in [-1, 1] (what its
      ``transform_input`` would produce).
    * the pt_inception FID weights of pytorch-fid (``pt_inception-2015-12-05-*.pth``): the same
      tensor names with a classifier of 1008 classes, by which it is recognised (or
      ``layout="pt_inception"``); the network then pools as TF Inception does (average pools
      leave the padding out, Mixed_7c's pool branch takes the maximum), so that its pool
      features are those of the usual FID network.

    The classifier ``fc`` is optional (only the pool features are used). Any other missing,
    unexpected or differently shaped tensor is a :class:`ValueError` naming them.
    """
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(
            f"Inception checkpoint not found: '{path}' (an Inception-v3 state dict: torchvision's "
            "inception_v3_google-*.pth or pytorch-fid's pt_inception-2015-12-05-*.pth; "
            "download it yourself, nothing is downloaded implicitly)")
    state = {k[len("module."):] if k.startswith("module.") else k: v
             for k, v in read_checkpoint(path).items()}
    classifier = state.get("fc.weight")
    if layout == "auto":
        layout = ("pt_inception" if classifier is not None
                  and classifier.shape[0] == PT_INCEPTION_CLASSES else "torchvision")
    model = InceptionFeatures(layout, input_size)
    # the classifier (unused) and the auxiliary classifier are not part of the feature network
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    report = load_state_dict_with_report(model.net, state, source=path)
    missing = [k for k in report.missing if not k.endswith("num_batches_tracked")]
    if missing or report.unexpected or report.shape_mismatch:
        raise ValueError(
            f"{path} does not fit the Inception-v3 architecture ({layout} layout): missing "
            f"{missing[:8]} ({len(missing)}), unexpected {report.unexpected[:8]} "
            f"({len(report.unexpected)}), shape mismatch {report.shape_mismatch[:4]} "
            f"({len(report.shape_mismatch)})")
    return model.to(device).eval()


@torch.no_grad()
def inception_features(network: InceptionFeatures, images: torch.Tensor,
                       batch_size: int = 32) -> np.ndarray:
    """(N, 2048) pool features of (N, 3, H, W) images (uint8, or float in [-1, 1])."""
    device = next(network.parameters()).device
    network.eval()
    out = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size].to(device)
        batch = _as_unit(batch) * 2 - 1 if batch.dtype == torch.uint8 else batch.float()
        out.append(network(batch).double().cpu())
    return torch.cat(out).numpy()


def fid(network: InceptionFeatures, real: torch.Tensor, fake: torch.Tensor,
        batch_size: int = 32) -> float:
    """Fréchet Inception distance between two image sets (each of two or more images)."""
    return feature_frechet_distance(inception_features(network, real, batch_size),
                                    inception_features(network, fake, batch_size))


# ---------------------------------------------------------------------------------------------
# The evaluated images and their views
# ---------------------------------------------------------------------------------------------
def evaluation_subset(items: Iterable[tuple], images: int = DEFAULT_IMAGES,
                      per_identity: int = DEFAULT_PER_IDENTITY) -> list[tuple[str, int]]:
    """A fixed, seed-free choice of up to ``images`` training images as ``(path, pid)``.

    Identities are taken evenly spaced in the sorted list of person ids, and of each up to
    ``per_identity`` images evenly spaced in the order of their file names (several images per
    identity, so that view identity has more than one candidate per person and the real images
    give an SSIM-diversity reference); more identities are taken while the images fall short.
    The same training list always gives the same subset, in any order.
    """
    if images < 0 or per_identity < 1:
        raise ValueError(f"evaluation_subset: images must be >= 0 and per_identity >= 1; got "
                         f"{images}, {per_identity}")
    by_pid: dict[int, list[str]] = {}
    for path, pid, *_ in items:
        by_pid.setdefault(int(pid), []).append(path)
    pids = sorted(by_pid)
    if not images or not pids:
        return []
    for paths in by_pid.values():
        paths.sort(key=lambda p: (os.path.basename(p), p))

    def spread(values: list, count: int) -> list:
        return [values[(i * len(values)) // count] for i in range(count)]

    chosen: list[tuple[str, int]] = []
    for count in range(min(len(pids), math.ceil(images / per_identity)), len(pids) + 1):
        chosen = [(path, pid) for pid in spread(pids, count)
                  for path in spread(by_pid[pid], min(per_identity, len(by_pid[pid])))]
        if len(chosen) >= images:
            break
    return chosen[:images]


def has_ground_truth(dataset_dir: str) -> bool:
    """True when the dataset folder's completion marker lists ground-truth view angles."""
    return bool(ground_truth_angles(dataset_dir))


def fidelity_angles(dataset_dir: str, cache_angles: Sequence[int],
                    angles: Optional[Sequence[int]] = None) -> tuple[int, ...]:
    """The novel angles to score: ``angles`` (default: the structure-map cache's rotations) that
    the dataset has ground-truth views of. A dataset without any, or an asked-for angle it or
    the cache lacks, is a :class:`MissingGroundTruthError` naming them."""
    available = ground_truth_angles(dataset_dir)
    if not available:
        raise MissingGroundTruthError(
            f"{dataset_dir} has no ground-truth novel views (its SYNTHETIC_COMPLETE.json lists no "
            "'ground_truth_angles'): view fidelity needs a synthetic dataset made with them "
            "(tools/make_synthetic.py with --ground-truth-views, or DATASETS.SYNTHETIC."
            "GROUND_TRUTH_VIEWS True)")
    novel = [int(a) for a in cache_angles if int(a) != ORIGINAL_VIEW]
    if angles is None:
        chosen = tuple(a for a in novel if a in available)
        if not chosen:
            raise MissingGroundTruthError(
                f"{dataset_dir}: ground-truth views at {list(available)}, structure maps at "
                f"{novel}: no novel angle has both")
        return chosen
    wanted = tuple(int(a) for a in angles)
    lacking = [a for a in wanted if a not in available or a not in novel]
    if lacking:
        raise MissingGroundTruthError(
            f"angles {lacking}: {dataset_dir} has ground-truth views at {list(available)} and "
            f"structure maps of the novel angles {novel}")
    return wanted


def items_with_ground_truth(dataset_dir: str, items: Iterable[tuple],
                            angles: Sequence[int]) -> list[tuple]:
    """The ``items`` (path, ...) whose ground-truth views exist at every one of ``angles``."""
    return [item for item in items if all(
        os.path.isfile(ground_truth_path(dataset_dir, item[0], a)) for a in angles)]


def check_ground_truth_files(dataset_dir: str, paths: Sequence[str], angles: Sequence[int],
                             show: int = 5) -> None:
    """MissingGroundTruthError naming the first ground-truth views of ``paths`` that are absent."""
    missing = [ground_truth_path(dataset_dir, p, a) for p in paths for a in angles
               if not os.path.isfile(ground_truth_path(dataset_dir, p, a))]
    if missing:
        raise MissingGroundTruthError(
            f"{len(missing)} ground-truth views are missing (first: {', '.join(missing[:show])}); "
            f"{dataset_dir} lists ground-truth angles {list(ground_truth_angles(dataset_dir))}")


def load_images(paths: Sequence[str], size: Sequence[int]) -> torch.Tensor:
    """(N, 3, H, W) images in [-1, 1], read and resized as for testing."""
    transform = build_test_transform(tuple(size))
    return torch.stack([transform(read_image(p)) for p in paths])


def load_structure_maps(cache, split: str, paths: Sequence[str], angle: int,
                        size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(maps, silhouettes)`` of ``paths`` at ``angle``: (N, 1, H, W) maps in [-1, 1] (the
    generator's input) and (N, 1, H, W) float silhouettes (1 on the body)."""
    arrays = [cache.read(split, os.path.basename(p), angle) for p in paths]
    maps = torch.from_numpy(np.stack(arrays)).float().div(127.5).sub(1.0)[:, None]
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)
    return maps, torch.stack([silhouette_from_map(a, size) for a in arrays])


def load_ground_truth(dataset_dir: str, paths: Sequence[str], angle: int,
                      size: Sequence[int]) -> torch.Tensor:
    """(N, 3, H, W) ground-truth views in [-1, 1] (the training image itself at angle 0),
    resized as the training images are for testing."""
    if int(angle) == ORIGINAL_VIEW:
        return load_images(paths, size)
    transform = build_test_transform(tuple(size))
    views = read_ground_truth_views(dataset_dir, [os.path.basename(p) for p in paths], angle)
    return torch.stack([transform(Image.fromarray(v)) for v in views])


@contextlib.contextmanager
def evaluation_mode(*modules: nn.Module):
    """The modules in eval mode inside the block, back in their own mode after it."""
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, training in zip(modules, was):
            m.train(training)


@dataclass
class ViewSet:
    """The evaluated images, what the generator made of them and their ground truth (uint8)."""

    angles: tuple[int, ...]       # the novel angles
    pids: np.ndarray              # (N,) person ids
    inputs: torch.Tensor          # (N, 3, H, W) x
    reconstructions: torch.Tensor  # (N, 3, H, W) x'_ori
    novel: torch.Tensor           # (A, N, 3, H, W) x'_new at each angle
    truth: torch.Tensor           # (A, N, 3, H, W) ground truth at each angle
    silhouettes: torch.Tensor     # (1 + A, N, 1, H, W) bool: angle 0, then each angle


@torch.no_grad()
def generate_view_set(encoder: nn.Module, generative: nn.Module, dataset_dir: str, cache,
                      items: Sequence[tuple], angles: Optional[Sequence[int]] = None, *,
                      size: Optional[Sequence[int]] = None, device: str | torch.device = "cpu",
                      batch_size: int = 16, split: str = "train") -> ViewSet:
    """Run the generator over ``items`` ((path, pid, ...)) at ``angles`` (default: every novel
    angle of ``cache`` with ground truth) and read their ground truth and silhouettes. Missing
    ground truth or structure maps are reported by name before any network runs."""
    if not items:
        raise ValueError("view fidelity: no image to evaluate")
    angles = fidelity_angles(dataset_dir, cache.angles, angles)
    size = tuple(int(s) for s in (size or cache.size))
    paths = [item[0] for item in items]
    check_ground_truth_files(dataset_dir, paths, angles)
    missing = cache.missing(split, [os.path.basename(p) for p in paths], (ORIGINAL_VIEW, *angles))
    if missing:
        raise FileNotFoundError(f"{len(missing)} structure maps are missing below "
                                f"{cache.mesh_dir} (first: {', '.join(missing[:5])})")
    parts: dict[str, list] = {k: [] for k in ("x", "ori", "new", "truth", "sil")}
    with evaluation_mode(encoder, generative):
        for start in range(0, len(paths), batch_size):
            batch = paths[start:start + batch_size]
            x = load_images(batch, size)
            maps, sils = zip(*[load_structure_maps(cache, split, batch, a, size)
                               for a in (ORIGINAL_VIEW, *angles)])
            out = generative.sample_views(encoder, x.to(device), maps[0].to(device),
                                          [m.to(device) for m in maps[1:]])
            parts["x"].append(to_uint8(x))
            parts["ori"].append(to_uint8(out["reconstruction"]).cpu())
            parts["new"].append(torch.stack([to_uint8(v).cpu() for v in out["novel"]]))
            parts["truth"].append(torch.stack([to_uint8(load_ground_truth(dataset_dir, batch, a,
                                                                           size))
                                               for a in angles]))
            parts["sil"].append(torch.stack(sils) > 0.5)
    return ViewSet(angles=tuple(angles), pids=np.asarray([int(item[1]) for item in items]),
                   inputs=torch.cat(parts["x"]), reconstructions=torch.cat(parts["ori"]),
                   novel=torch.cat(parts["new"], 1), truth=torch.cat(parts["truth"], 1),
                   silhouettes=torch.cat(parts["sil"], 1))


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------
def _per_image(pred: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor,
               batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Masked L1 and SSIM of every image; ``pred`` may be one image for all."""
    l1, ssim = [], []
    for start in range(0, truth.shape[0], batch_size):
        t = _as_unit(truth[start:start + batch_size])
        p = _as_unit(pred if pred.shape[0] == 1 else pred[start:start + batch_size]).expand_as(t)
        m = masks[start:start + batch_size]
        l1.append(masked_l1(p, t, m))
        ssim.append(masked_ssim(p, t, m))
    return torch.cat(l1).numpy(), torch.cat(ssim).numpy()


def _angle_scores(pred: torch.Tensor, truth: torch.Tensor, masks: torch.Tensor, pids,
                  batch_size: int) -> dict[str, np.ndarray]:
    l1, ssim = _per_image(pred, truth, masks, batch_size)
    pred_all = pred.expand(truth.shape[0], *pred.shape[1:]) if pred.shape[0] == 1 else pred
    hits = nearest_identity_hits(colour_histograms(pred_all, masks),
                                 colour_histograms(truth, masks), pids)
    return {"l1": l1, "ssim": ssim, "id_acc": hits.astype(np.float64)}


def _summary(values: dict[str, np.ndarray]) -> dict[str, Any]:
    def mean(v: np.ndarray) -> Optional[float]:
        v = v[np.isfinite(v)]
        return round(float(v.mean()), 6) if v.size else None

    return {**{k: mean(values[k]) for k in FIGURES}, "images": int(len(values["l1"]))}


def _row(per_angle: dict[int, dict[str, np.ndarray]]) -> dict[str, Any]:
    pooled = {k: np.concatenate([v[k] for v in per_angle.values()]) for k in FIGURES}
    return {"per_angle": {str(a): _summary(v) for a, v in per_angle.items()},
            "overall": _summary(pooled)}


def score_view_set(views: ViewSet, inception: Optional[InceptionFeatures] = None,
                   batch_size: int = 32) -> dict[str, Any]:
    """The figures of the module docstring for a :class:`ViewSet` (JSON-ready: angles as
    strings, None where a figure has no image to be computed on)."""
    pids, sils, batch = views.pids, views.silhouettes, int(batch_size)
    rows = {"x_ori": _row({ORIGINAL_VIEW: _angle_scores(views.reconstructions, views.inputs,
                                                        sils[0], pids, batch)})}
    novel, mean_image, unrotated = {}, {}, {}
    for k, angle in enumerate(views.angles):
        truth, masks = views.truth[k], sils[k + 1]
        novel[angle] = _angle_scores(views.novel[k], truth, masks, pids, batch)
        mean = _as_unit(truth).mean(0, keepdim=True)
        mean_image[angle] = _angle_scores(mean, truth, masks, pids, batch)
        unrotated[angle] = _angle_scores(views.inputs, truth, masks, pids, batch)
    rows.update(x_new=_row(novel), mean_image=_row(mean_image), input=_row(unrotated))
    generated = views.novel.flatten(0, 1)
    identities = len(np.unique(pids))
    result = {
        "images": int(len(pids)), "identities": identities,
        "chance": round(1.0 / identities, 6), "angles": list(views.angles),
        "size": list(views.inputs.shape[-2:]), "rows": rows,
        "ssim_diversity": {
            "generated": _rounded(mean_pairwise_ssim(generated, np.tile(pids, len(views.angles)))),
            "real": _rounded(mean_pairwise_ssim(views.inputs, pids))},
        "fid": None,
    }
    if inception is not None:
        result["fid"] = _rounded(fid(inception, views.inputs, generated, batch))
    return result


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def evaluate_views(encoder: nn.Module, generative: nn.Module, dataset_dir: str, cache,
                   items: Sequence[tuple], angles: Optional[Sequence[int]] = None, *,
                   size: Optional[Sequence[int]] = None, device: str | torch.device = "cpu",
                   batch_size: int = 16, split: str = "train",
                   inception: Optional[InceptionFeatures] = None) -> dict[str, Any]:
    """Generate the views of ``items`` ((path, pid, ...), e.g. :func:`evaluation_subset`) with
    E_id ``encoder`` and the generative module, and score them (:func:`score_view_set`).

    ``dataset_dir``: the synthetic dataset folder (its ground-truth views); ``cache``: its
    structure maps (:func:`reid.views.structure_cache_for`); ``angles``: novel angles (default:
    every rotation of the cache with ground truth); ``size``: (H, W) of the networks' input
    (default: the cache's); ``inception``: a :func:`load_inception` network for FID (None: no
    FID). The networks run in eval mode and are left in their own mode."""
    views = generate_view_set(encoder, generative, dataset_dir, cache, items, angles, size=size,
                              device=device, batch_size=batch_size, split=split)
    return score_view_set(views, inception, batch_size=max(batch_size, 32))


# ---------------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------------
def flat_scalars(result: dict[str, Any]) -> dict[str, float]:
    """The overall figures as ``{"x_new/l1": ..., "input/id_acc": ..., "chance": ...,
    "ssim_diversity/generated": ..., "fid": ...}`` (None-valued figures left out)."""
    out = {f"{row}/{k}": result["rows"][row]["overall"][k] for row in ROWS for k in FIGURES}
    out["chance"] = result["chance"]
    out.update({f"ssim_diversity/{k}": v for k, v in result["ssim_diversity"].items()})
    out["fid"] = result.get("fid")
    return {k: float(v) for k, v in out.items() if v is not None}


def _cell(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_view_table(result: dict[str, Any]) -> str:
    """A markdown table of a :func:`evaluate_views` result: x'_ori, x'_new per angle and over
    all angles, the two reference predictors, then SSIM diversity and FID."""
    lines = [f"View fidelity: {result['images']} training images of {result['identities']} "
             f"identities at {result['size'][0]}x{result['size'][1]}, novel angles "
             f"{', '.join(map(str, result['angles']))}; view-identity chance "
             f"{result['chance']:.4f}", "",
             "| prediction | angle | masked L1 (lower better) | masked SSIM (higher better) | "
             "view-identity acc. (higher better) |", "|---|---|---|---|---|"]

    def row(title: str, angle: str, figures: dict) -> None:
        lines.append(f"| {title} | {angle} | " + " | ".join(_cell(figures[k]) for k in FIGURES)
                     + " |")

    rows = result["rows"]
    row(ROW_TITLES["x_ori"], "0", rows["x_ori"]["overall"])
    for angle, figures in rows["x_new"]["per_angle"].items():
        row(ROW_TITLES["x_new"], angle, figures)
    for name in ("x_new", "mean_image", "input"):
        row(ROW_TITLES[name], "all", rows[name]["overall"])
    diversity = result["ssim_diversity"]
    lines += ["", f"SSIM diversity (mean SSIM of same-identity pairs): generated views "
              f"{_cell(diversity['generated'])}, real images {_cell(diversity['real'])}"]
    if result.get("fid") is not None:
        lines.append(f"FID (Inception-v3 pool features, generated novel views vs the real "
                     f"inputs): {result['fid']:.2f}")
    return "\n".join(lines)


__all__ = [
    "DEFAULT_IMAGES", "DEFAULT_PER_IDENTITY", "InceptionFeatures", "MissingGroundTruthError",
    "ViewSet", "check_ground_truth_files", "colour_histograms", "evaluate_views",
    "evaluation_mode", "evaluation_subset", "fid", "fidelity_angles", "flat_scalars",
    "format_view_table", "generate_view_set", "has_ground_truth", "inception_features",
    "items_with_ground_truth", "load_ground_truth", "load_images", "load_inception",
    "load_structure_maps", "masked_l1", "masked_ssim", "mean_pairwise_ssim",
    "nearest_identity_hits", "score_view_set", "ssim_map", "to_uint8",
    "view_identity_accuracy",
]
