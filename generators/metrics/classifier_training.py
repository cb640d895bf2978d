"""Training the action classifier of the classifier scores on a folder of labelled clips.

The clips (any layout of :mod:`generators.video_dataset` with labels; the synthetic action clips
by default) are read once into memory, split per class into training and held-out clips by a
seeded permutation, and the classifier is trained with Adam and cross-entropy on augmented
windows: a random temporal span (half the clip to all of it, i.e. frame steps of about 0.5 to 2
at 16 input frames, covering the clip lengths of every model), a random crop of 85-100 %, a
horizontal flip, a blur (down- and up-sampling by 2, for blurry generated clips) and a brightness /
contrast jitter. The held-out accuracy is :func:`~.classifier_scores.action_accuracy` of the final
network on the whole held-out clips, the path generated clips take.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from common.io import atomic_save

from .action_classifier import ActionClassifier, checkpoint_entries, frame_indices, resize_frames
from .classifier_scores import action_accuracy


@dataclass
class LabelledClips:
    """uint8 clips (N, 3, T, H, W), their labels (N,), names and the class names."""

    videos: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    class_names: list[str]

    def __len__(self) -> int:
        return self.videos.shape[0]

    def float_videos(self, index=None) -> torch.Tensor:
        """Clips (selected by ``index``) as float in [-1, 1]."""
        videos = self.videos if index is None else self.videos[torch.as_tensor(index)]
        return videos.float() / 127.5 - 1


def load_labelled_clips(root: str, source: str = "auto", labels_csv: str = "",
                        labels_from_folder: bool = False) -> LabelledClips:
    """Every clip below ``root`` with its label; all clips must share one frame count and size."""
    from ..video_dataset import build_clip_records
    from ..video_io import read_frames_folder, read_video_file

    records, classes = build_clip_records(root, source, labels_csv, labels_from_folder)
    unlabelled = [r.name for r in records if r.label < 0]
    if unlabelled or not classes:
        raise ValueError(f"{root}: the classifier needs labelled clips (labels.csv with "
                         f"clip,label, or class folders); unlabelled: {unlabelled[:5]}")
    if len(classes) < 2:
        raise ValueError(f"{root}: clips of {len(classes)} class {classes}; need at least 2")
    arrays = []
    for record in records:
        frames = (read_frames_folder(record.path) if os.path.isdir(record.path)
                  else read_video_file(record.path))
        if arrays and frames.shape != arrays[0].shape:
            raise ValueError(f"{root}: clip {record.name} has frames {frames.shape[:3]}, clip "
                             f"{records[0].name} {arrays[0].shape[:3]}; the classifier's clip "
                             "set needs one frame count and frame size")
        arrays.append(frames)
    videos = torch.from_numpy(np.stack(arrays)).permute(0, 4, 1, 2, 3).contiguous()
    labels = torch.tensor([r.label for r in records], dtype=torch.long)
    return LabelledClips(videos, labels, [r.name for r in records], list(classes))


def split_clips(labels, held_out_fraction: float = 0.25, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: per class a seeded permutation, ``held_out_fraction`` of its
    clips (rounded, at least one of a class with two or more) held out."""
    if not 0 < held_out_fraction < 1:
        raise ValueError(f"held_out_fraction {held_out_fraction}: expected a value in (0, 1)")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = 0 if len(members) < 2 else min(max(round(held_out_fraction * len(members)), 1),
                                                  len(members) - 1)
        held += members[:count].tolist()
        train += members[count:].tolist()
    if not held:
        raise ValueError("no held-out clips: every class has a single clip; add clips")
    return np.array(sorted(train)), np.array(sorted(held))


def augment_batch(videos: torch.Tensor, num_frames: int, input_size: int,
                  gen: torch.Generator) -> torch.Tensor:
    """Augmented training inputs (B, 3, num_frames, input_size, input_size) in [-1, 1] from uint8
    clips (B, 3, T, H, W); see the module docstring."""
    b, _, length, height, width = videos.shape
    rand = torch.rand(b, 8, generator=gen)
    out = []
    for k in range(b):
        shortest = min(length, max(num_frames // 2, 2))
        span = shortest + float(rand[k, 0]) * (length - shortest)
        start = float(rand[k, 1]) * (length - span)
        clip = videos[k:k + 1].index_select(2, frame_indices(length, num_frames, start, span))
        scale = 0.85 + 0.15 * float(rand[k, 2])
        crop_h, crop_w = max(1, round(height * scale)), max(1, round(width * scale))
        top = int(float(rand[k, 3]) * (height - crop_h))
        left = int(float(rand[k, 4]) * (width - crop_w))
        clip = clip[..., top:top + crop_h, left:left + crop_w].float() / 127.5 - 1
        out.append(resize_frames(clip, input_size))
    x = torch.cat(out)
    flip = rand[:, 5] < 0.5
    x[flip] = x[flip].flip(-1)
    blur = rand[:, 6] < 0.3
    if blur.any():
        x[blur] = resize_frames(resize_frames(x[blur], input_size // 2), input_size)
    gain = 1 + 0.4 * (torch.rand(b, 1, 1, 1, 1, generator=gen) - 0.5)
    shift = 0.2 * (torch.rand(b, 1, 1, 1, 1, generator=gen) - 0.5)
    return (x * gain + shift).clamp(-1, 1)


def train_action_classifier(root: str, out: str, epochs: int = 60, seed: int = 0,
                            held_out_fraction: float = 0.25, batch_size: int = 8,
                            lr: float = 1e-3, weight_decay: float = 1e-4, input_size: int = 32,
                            num_frames: int = 16, width: int = 16,
                            device: str | torch.device = "cpu",
                            log: Callable[[str], None] | None = None,
                            clips: LabelledClips | None = None) -> dict:
    """Train on the clips below ``root`` (or the already loaded ``clips``), save the checkpoint
    at ``out`` and return the result: held-out and training accuracy, clip counts, seconds."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs {epochs} and batch_size {batch_size} must be >= 1")
    log = log or (lambda message: None)
    start_time = time.time()
    data = clips if clips is not None else load_labelled_clips(root)
    train_idx, held_idx = split_clips(data.labels.numpy(), held_out_fraction, seed)
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ActionClassifier(len(data.class_names), data.class_names, input_size, num_frames,
                                 width).to(device)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = math.ceil(len(train_idx) / batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                              epochs * steps_per_epoch)
        train_videos, train_labels = data.videos[train_idx], data.labels[train_idx]
        for epoch in range(1, epochs + 1):
            model.train()
            order = torch.randperm(len(train_idx), generator=gen)
            total, correct, seen = 0.0, 0, 0
            for first in range(0, len(order), batch_size):
                batch = order[first:first + batch_size]
                x = augment_batch(train_videos[batch], num_frames, input_size, gen).to(device)
                y = train_labels[batch].to(device)
                logits = model.logits(x)
                loss = F.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += float(loss.detach()) * len(batch)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(batch)
            log(f"epoch {epoch}/{epochs}: loss {total / seen:.4f}, augmented training accuracy "
                f"{correct / seen:.3f}")
    model.eval()
    held_accuracy = action_accuracy(model, data.float_videos(held_idx), data.labels[held_idx],
                                    batch_size)
    train_accuracy = action_accuracy(model, data.float_videos(train_idx), data.labels[train_idx],
                                     batch_size)
    seconds = time.time() - start_time
    result = {"held_out_accuracy": held_accuracy, "train_accuracy": train_accuracy,
              "num_train": int(len(train_idx)), "num_held_out": int(len(held_idx)),
              "num_classes": len(data.class_names), "epochs": int(epochs), "seed": int(seed),
              "held_out_fraction": float(held_out_fraction), "seconds": seconds,
              "checkpoint": str(out)}
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    atomic_save(checkpoint_entries(
        model, held_out_accuracy=held_accuracy, train_accuracy=train_accuracy, seed=int(seed),
        held_out_fraction=float(held_out_fraction), epochs=int(epochs),
        held_out_clips=[data.names[i] for i in held_idx], num_train=int(len(train_idx))), out)
    log(f"held-out accuracy {held_accuracy:.3f} ({round(held_accuracy * len(held_idx))}/"
        f"{len(held_idx)} clips), training accuracy {train_accuracy:.3f}, {seconds:.1f} s")
    return result


__all__ = ["LabelledClips", "augment_batch", "load_labelled_clips", "split_clips",
           "train_action_classifier"]
