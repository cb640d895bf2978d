"""A compact (2+1)D video classifier of human actions: the feature network of the classifier
scores (:mod:`generators.metrics.classifier_scores`).

I3D / Inception weights cannot always be had, and FVD without them is not computable. This network
is small enough to train on a CPU in minutes on the project's own labelled clips (the synthetic
action clips of :mod:`generators.action_clips`, or any labelled clip folder), so a quality measure
in its feature space is always available. Its numbers are comparable only between runs scored
with the same checkpoint; they are not FVD.

The network sees each clip minus its temporal mean (the static background and appearance
removed, what moves kept): trained on a few dozen clips with random backgrounds and clothing, a
network that sees the raw frames memorises their appearance (chance-level held-out accuracy on
the synthetic clips), one that sees the motion generalises. A clip without motion maps to the
features of an all-zero input, far from any real action.

Architecture: four R(2+1)D stages (a 1x3x3 spatial convolution, then a 3x1x1 temporal one, each
with batch norm and ReLU), spatial stride 2 in every stage, temporal stride 2 in the middle two,
then a global average pool: the pooled ``feature_dim`` (= 8 x ``width``) vector is the
penultimate feature the Fréchet distance uses, and a linear layer maps it to the class logits.

A checkpoint (written by :func:`generators.metrics.classifier_training.train_action_classifier`)
holds the state dict and what rebuilds the network (:data:`CHECKPOINT_KEYS`).
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from common.serialization import load_checkpoint_file

CHECKPOINT_FORMAT = "action_classifier"
#: Entries a classifier checkpoint must hold to rebuild the network.
CHECKPOINT_KEYS = ("state_dict", "class_names", "input_size", "num_frames", "feature_dim",
                   "width")
TRAINING_HINT = ("train one with tools/train_video_classifier.py --clips DIR --out FILE "
                 "(e.g. on the synthetic action clips of tools/make_action_clips.py)")


def frame_indices(length: int, num_frames: int, start: float = 0.0,
                  span: float | None = None) -> torch.Tensor:
    """``num_frames`` evenly spaced indices over ``span`` frames (default: all ``length``) from
    ``start``, rounded; fewer source frames than ``num_frames`` repeat frames."""
    if length < 1 or num_frames < 1:
        raise ValueError(f"frame_indices: length {length} and num_frames {num_frames} must be >= 1")
    span = float(length) if span is None else float(span)
    positions = start + torch.linspace(0, max(span - 1, 0), num_frames)
    return positions.round().long().clamp(0, length - 1)


def resize_frames(videos: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, T, size, size), bilinear (antialiased when shrinking)."""
    b, c, t, h, w = videos.shape
    if (h, w) == (size, size):
        return videos
    frames = videos.transpose(1, 2).reshape(b * t, c, h, w)
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False,
                           antialias=min(h, w) > size)
    return frames.reshape(b, t, c, size, size).transpose(1, 2)


def _stage(cin: int, cout: int, spatial_stride: int, temporal_stride: int) -> nn.Sequential:
    """One R(2+1)D stage: spatial 1x3x3 then temporal 3x1x1 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv3d(cin, cout, (1, 3, 3), (1, spatial_stride, spatial_stride), (0, 1, 1),
                  bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
        nn.Conv3d(cout, cout, (3, 1, 1), (temporal_stride, 1, 1), (1, 0, 0), bias=False),
        nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class ActionClassifier(nn.Module):
    """Clips -> ``feature_dim`` features (``forward``, the metric features) -> class logits.

    ``preprocess`` maps clips (B, 3, T, H, W) in [-1, 1] of any size and length to the network
    input (``num_frames`` evenly spaced frames of ``input_size`` x ``input_size``), so the clips of
    every model (8 frames of 32x32 to 32 frames of 128x64) can be scored.
    """

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None,
                 input_size: int = 32, num_frames: int = 16, width: int = 16,
                 dropout: float = 0.2):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"ActionClassifier: num_classes {num_classes}; expected >= 2")
        if input_size < 16 or num_frames < 4 or width < 1:
            raise ValueError(f"ActionClassifier: input_size {input_size} (>= 16), num_frames "
                             f"{num_frames} (>= 4) and width {width} (>= 1) expected")
        names = list(class_names) if class_names is not None else [str(i) for i in
                                                                    range(num_classes)]
        if len(names) != num_classes:
            raise ValueError(f"ActionClassifier: {len(names)} class names for {num_classes} "
                             "classes")
        self.class_names = names
        self.input_size, self.num_frames, self.width = int(input_size), int(num_frames), int(width)
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.features = nn.Sequential(
            _stage(3, widths[0], 2, 1), _stage(widths[0], widths[1], 2, 2),
            _stage(widths[1], widths[2], 2, 2), _stage(widths[2], widths[3], 2, 1))
        self.feature_dim = widths[3]
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.feature_dim, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed clips -> (B, feature_dim) pooled penultimate features of their motion
        (each clip minus its temporal mean)."""
        x = x - x.mean(dim=2, keepdim=True)
        return F.adaptive_avg_pool3d(self.features(x), 1).flatten(1)

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) features -> (B, num_classes) logits."""
        return self.fc(self.dropout(features))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed clips -> (B, num_classes) logits."""
        return self.classify_features(self(x))

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, 3, num_frames, input_size, input_size)."""
        if videos.dim() != 5 or videos.shape[1] != 3:
            raise ValueError(f"ActionClassifier.preprocess: expected clips (B, 3, T, H, W); got "
                             f"{tuple(videos.shape)}")
        index = frame_indices(videos.shape[2], self.num_frames).to(videos.device)
        x = videos.float().index_select(2, index)
        return resize_frames(x, self.input_size).clamp(-1, 1)

    def metadata(self) -> dict:
        """What :func:`build_action_classifier` needs besides the state dict."""
        return {"format": CHECKPOINT_FORMAT, "class_names": list(self.class_names),
                "num_classes": self.num_classes, "input_size": self.input_size,
                "num_frames": self.num_frames, "feature_dim": self.feature_dim,
                "width": self.width}


def build_action_classifier(entries: dict, where: str = "classifier checkpoint"
                            ) -> ActionClassifier:
    """The network a checkpoint describes, with its weights. Missing entries or a state dict that
    does not fit are a ValueError naming ``where`` and the keys."""
    if not isinstance(entries, dict):
        raise ValueError(f"{where} holds a {type(entries).__name__}; expected a dict with "
                         f"{', '.join(CHECKPOINT_KEYS)}")
    missing = [key for key in CHECKPOINT_KEYS if key not in entries]
    if missing:
        raise ValueError(f"{where} does not fit the action classifier: missing entries "
                         f"{missing} (it holds {sorted(map(str, entries))[:10]}); expected a "
                         f"checkpoint of tools/train_video_classifier.py with "
                         f"{', '.join(CHECKPOINT_KEYS)}")
    names = list(entries["class_names"])
    model = ActionClassifier(len(names), names, int(entries["input_size"]),
                             int(entries["num_frames"]), int(entries["width"]))
    if model.feature_dim != int(entries["feature_dim"]):
        raise ValueError(f"{where}: feature_dim {entries['feature_dim']} does not match width "
                         f"{entries['width']} (features are 8 x width = {model.feature_dim})")
    result = model.load_state_dict(entries["state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{where} does not fit the action classifier it describes: missing "
                         f"keys {result.missing_keys[:8]} ({len(result.missing_keys)}), "
                         f"unexpected {result.unexpected_keys[:8]} "
                         f"({len(result.unexpected_keys)})")
    return model.eval()


def load_action_classifier(path: str, device: str | torch.device = "cpu") -> ActionClassifier:
    """The classifier saved at ``path`` in eval mode on ``device``."""
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"action classifier weights not found at '{path}': "
                                f"{TRAINING_HINT}")
    entries = load_checkpoint_file(path, what="action classifier weights")
    return build_action_classifier(entries, where=str(path)).to(device)


def checkpoint_entries(model: ActionClassifier, **extra) -> dict:
    """The dict a classifier checkpoint holds: weights, metadata and ``extra`` (e.g. the
    held-out accuracy and the split)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {**model.metadata(), "state_dict": state, **extra}


__all__ = ["ActionClassifier", "CHECKPOINT_KEYS", "build_action_classifier", "checkpoint_entries",
           "frame_indices", "load_action_classifier", "resize_frames"]
