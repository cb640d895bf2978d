"""Scores in the space of the project's own action classifier (:mod:`.action_classifier`).

* :func:`frechet_classifier_distance` (key ``fcd``): the Fréchet distance of Gaussians fitted to
  the classifier's penultimate features of real and generated clips. The same formula as FVD, in a
  different, much smaller feature space: an FCD is comparable only with FCDs computed with the
  same classifier checkpoint, never with a published FVD.
* :func:`classifier_score` (key ``classifier_score``): the Inception-score recipe with the
  classifier, exp E_x KL(p(y|x) || p(y)), in [1, number of classes]; high when clips are
  confidently classified and spread over the classes.
* :func:`action_accuracy`: the share of generated clips the classifier assigns to the action
  they were generated for (conditional models), or of real clips to their label.

Features are extracted once per clip set (:func:`extract_features`) and reused: the logits are
the classifier's last layer applied to those features.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from .frechet import feature_frechet_distance
from .video_scores import extract_features, network_device


def class_probabilities(network: nn.Module, features: np.ndarray) -> np.ndarray:
    """(N, K) softmax probabilities from (N, D) features of ``network`` (its last layer)."""
    with torch.no_grad():
        feats = torch.as_tensor(features, dtype=torch.float32, device=network_device(network))
        return torch.softmax(network.classify_features(feats).float(), dim=1).cpu().numpy()


def inception_style_score(probabilities: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """exp(mean_x KL(p(y|x) || p(y))) per split of (N, K) probabilities: (mean, std) over
    ``splits`` equal parts, p(y) the marginal of each part."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1:
        raise ValueError(f"class probabilities (N, K) expected; got shape {p.shape}")
    if not 1 <= splits <= p.shape[0]:
        raise ValueError(f"splits {splits}: expected 1 .. {p.shape[0]} (the number of clips)")
    eps = 1e-12
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(1)
        scores.append(float(np.exp(max(kl.mean(), 0.0))))
    return float(np.mean(scores)), float(np.std(scores))


def classifier_score(network: nn.Module, videos, splits: int = 1, batch_size: int = 8
                     ) -> tuple[float, float]:
    """The Inception-style score of clips (B, 3, T, H, W) in [-1, 1]: (mean, std over splits)."""
    features = extract_features(network, videos, batch_size)
    return inception_style_score(class_probabilities(network, features), splits)


def frechet_classifier_distance(network: nn.Module, real, fake, batch_size: int = 8) -> float:
    """FCD: the Fréchet distance of the classifier's penultimate features (not FVD)."""
    return feature_frechet_distance(extract_features(network, real, batch_size),
                                    extract_features(network, fake, batch_size))


def _label_array(labels, count: int, num_classes: int) -> np.ndarray:
    array = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if array.shape[0] != count:
        raise ValueError(f"action_accuracy: {array.shape[0]} labels for {count} clips")
    if count and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"action_accuracy: labels must lie in 0 .. {num_classes - 1} (the "
                         f"classifier's classes); got {array.min()} .. {array.max()}")
    return array.astype(np.int64)


def accuracy_from_features(network: nn.Module, features: np.ndarray, labels) -> float:
    """Share of (N, D) features whose arg-max class is the label."""
    probabilities = class_probabilities(network, features)
    truth = _label_array(labels, probabilities.shape[0], probabilities.shape[1])
    return float((probabilities.argmax(1) == truth).mean())


def action_accuracy(network: nn.Module, clips, labels, batch_size: int = 8) -> float:
    """Share of clips (B, 3, T, H, W) in [-1, 1] classified as their label (N,) (class indices
    of ``network``)."""
    return accuracy_from_features(network, extract_features(network, clips, batch_size), labels)


def map_labels(labels, dataset_classes: Sequence[str] | None, network) -> np.ndarray:
    """Labels of a data set (indices into ``dataset_classes``) as indices of the classifier's
    classes, matched by name. Without data-set class names the indices are used as they are,
    which needs the same number of classes."""
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    names = list(network.class_names)
    if not dataset_classes:
        if labels.size and labels.max() >= len(names):
            raise ValueError(f"labels up to {labels.max()} but the classifier has {len(names)} "
                             "classes and the data set names none to match")
        return labels.astype(np.int64)
    unknown = sorted(set(dataset_classes) - set(names))
    if unknown:
        raise ValueError(f"the classifier knows the classes {names}, not the data set's "
                         f"{unknown}; train it on clips with the same classes")
    lookup = np.array([names.index(name) for name in dataset_classes], dtype=np.int64)
    return lookup[labels]


def classifier_scores(network: nn.Module, real, fake, fake_labels=None, real_labels=None,
                      splits: int = 1, batch_size: int = 8) -> dict[str, float]:
    """FCD, the score of the generated and the real clips, and (with labels, indices of the
    classifier's classes) the action accuracy of each; one feature pass per clip set."""
    real_features = extract_features(network, real, batch_size)
    fake_features = extract_features(network, fake, batch_size)
    score, spread = inception_style_score(class_probabilities(network, fake_features), splits)
    scores = {"fcd": feature_frechet_distance(real_features, fake_features),
              "classifier_score": score, "classifier_score_std": spread,
              "classifier_score_real": inception_style_score(
                  class_probabilities(network, real_features), splits)[0]}
    if fake_labels is not None:
        scores["action_accuracy"] = accuracy_from_features(network, fake_features, fake_labels)
    if real_labels is not None:
        scores["action_accuracy_real"] = accuracy_from_features(network, real_features,
                                                                real_labels)
    return scores


__all__ = ["accuracy_from_features", "action_accuracy", "class_probabilities", "classifier_score",
           "classifier_scores", "frechet_classifier_distance", "inception_style_score",
           "map_labels"]
