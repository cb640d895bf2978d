"""Clip datasets: folders of frames and video files, with optional labels.

Layouts (see generators/README.md for MUG, Weizmann, UvA-NEMO and UCF101):

* ``frames``: ``ROOT/<clip>/<frame files>`` (clips may sit deeper: any folder holding images);
* ``videos``: ``ROOT/**/<clip>.mp4|avi|...``;
* labels: ``ROOT/labels.csv`` (or DATA.LABELS_CSV) with a header ``clip,label``, where ``clip`` is
  the clip's path relative to ROOT without extension and ``label`` a class name or index; or, with
  ``labels_from_folder``, the name of the clip's parent folder (UCF101 / Weizmann style).

Each item: ``{"video": (3, T, H, W) float in [-1, 1], "label": int (-1 = none), "index": int}``.
Sampling: a random temporal stride in [stride_min, stride_max] (lowered when a clip is too short;
short clips repeat their last frame), a random start, the shorter side resized to ``resize``, a
centre crop of ``image_size``, optional random horizontal flip.
"""
from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from .video_io import (FRAME_EXTENSIONS, VIDEO_EXTENSIONS, count_frames_folder, frames_to_tensor,
                       read_frames_folder, read_video_file)


@dataclass
class ClipRecord:
    path: str          # folder of frames or video file
    name: str          # path relative to the root, without extension
    label: int = -1


def _discover(root: str, source: str) -> tuple[list[str], str]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"DATA.ROOT {root} is not a folder of clips")
    videos, frame_folders = [], []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        if any(f.lower().endswith(FRAME_EXTENSIONS) for f in files) and folder != root:
            frame_folders.append(folder)
        videos += [os.path.join(folder, f) for f in sorted(files)
                   if f.lower().endswith(VIDEO_EXTENSIONS)]
    if source == "auto":
        source = "videos" if len(videos) >= len(frame_folders) and videos else "frames"
    found = videos if source == "videos" else frame_folders
    if not found:
        kind = "video files" if source == "videos" else "folders of frames"
        raise FileNotFoundError(f"DATA.ROOT {root} holds no {kind} (DATA.SOURCE {source})")
    return sorted(found), source


def _read_labels_csv(path: str) -> dict[str, str]:
    labels = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"clip", "label"} <= set(reader.fieldnames):
            raise ValueError(f"labels CSV {path}: expected a header with columns 'clip,label'; "
                             f"got {reader.fieldnames}")
        for row in reader:
            labels[row["clip"].strip().replace("\\", "/")] = row["label"].strip()
    return labels


def build_clip_records(root: str, source: str = "auto", labels_csv: str = "",
                       labels_from_folder: bool = False) -> tuple[list[ClipRecord], list[str]]:
    """Find the clips below ``root`` and their labels; returns (records, class names)."""
    paths, source = _discover(root, source)
    names = [os.path.splitext(os.path.relpath(p, root))[0].replace(os.sep, "/") if source == "videos"
             else os.path.relpath(p, root).replace(os.sep, "/") for p in paths]
    csv_path = labels_csv or os.path.join(root, "labels.csv")
    raw: list[str | None]
    if os.path.isfile(csv_path):
        table = _read_labels_csv(csv_path)
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f"labels CSV {csv_path} has no row for clip(s) {missing[:5]}"
                             f"{' ...' if len(missing) > 5 else ''}")
        raw = [table[n] for n in names]
    elif labels_csv:
        raise FileNotFoundError(f"DATA.LABELS_CSV {labels_csv} does not exist")
    elif labels_from_folder:
        raw = [n.split("/")[-2] if "/" in n else None for n in names]
        if any(r is None for r in raw):
            raise ValueError(f"DATA.LABELS_FROM_FOLDER: clips directly in {root} have no class "
                             "folder; put them in ROOT/<class>/")
    else:
        raw = [None] * len(names)
    classes: list[str] = []
    labels = [-1] * len(names)
    if raw and raw[0] is not None:
        if all(str(r).isdigit() for r in raw):
            labels = [int(r) for r in raw]
            classes = [str(i) for i in range(max(labels) + 1)]
        else:
            classes = sorted(set(raw))  # type: ignore[arg-type]
            labels = [classes.index(r) for r in raw]  # type: ignore[arg-type]
        classes_file = os.path.join(root, "classes.txt")
        if os.path.isfile(classes_file) and not all(str(r).isdigit() for r in raw):
            with open(classes_file, encoding="utf-8") as handle:
                ordered = [line.strip() for line in handle if line.strip()]
            if set(classes) <= set(ordered):
                classes = ordered
                labels = [ordered.index(r) for r in raw]  # type: ignore[arg-type]
    records = [ClipRecord(p, n, l) for p, n, l in zip(paths, names, labels)]
    return records, classes


def sample_indices(length: int, num_frames: int, stride: int, rng: random.Random) -> list[int]:
    """Frame indices of one clip: the largest stride <= ``stride`` that fits, a random start;
    clips shorter than ``num_frames`` repeat their last frame."""
    while stride > 1 and (num_frames - 1) * stride + 1 > length:
        stride -= 1
    span = (num_frames - 1) * stride + 1
    start = rng.randint(0, max(0, length - span))
    return [min(start + i * stride, length - 1) for i in range(num_frames)]


def resize_and_crop(video: torch.Tensor, resize: int, crop) -> torch.Tensor:
    """(3, T, H, W): shorter side -> ``resize`` (bilinear, antialiased), centre crop ``crop``
    (an int = square, or (height, width)); the scale grows when needed to cover the crop."""
    _, _, h, w = video.shape
    crop_h, crop_w = (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))
    scale = max(resize / min(h, w), crop_h / h, crop_w / w)
    new_h, new_w = max(crop_h, round(h * scale)), max(crop_w, round(w * scale))
    if (new_h, new_w) != (h, w):
        frames = video.permute(1, 0, 2, 3)
        frames = F.interpolate(frames, size=(new_h, new_w), mode="bilinear", align_corners=False,
                               antialias=True)
        video = frames.permute(1, 0, 2, 3).clamp(-1, 1)
    top, left = (new_h - crop_h) // 2, (new_w - crop_w) // 2
    return video[:, :, top:top + crop_h, left:left + crop_w].contiguous()


class VideoClipDataset(Dataset):
    """Clips of ``num_frames`` frames of ``image_size`` (an int = square, or (H, W)), from
    frames folders or video files."""

    def __init__(self, root: str, num_frames: int, image_size=64, source: str = "auto",
                 labels_csv: str = "", labels_from_folder: bool = False, stride_min: int = 1,
                 stride_max: int = 1, resize: int = 0, hflip: bool = False, seed: int = 0):
        self.records, self.classes = build_clip_records(root, source, labels_csv,
                                                        labels_from_folder)
        self.root = root
        self.num_frames, self.image_size = num_frames, image_size
        self.stride_min, self.stride_max = stride_min, stride_max
        self.resize = resize or (image_size if isinstance(image_size, int) else min(image_size))
        self.hflip = hflip
        self.rng = random.Random(seed)
        self._lengths: dict[int, int] = {}
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def _load(self, index: int, rng: random.Random) -> np.ndarray:
        record = self.records[index]
        stride = rng.randint(self.stride_min, self.stride_max)
        if os.path.isdir(record.path):
            length = self._lengths.setdefault(index, count_frames_folder(record.path))
            return read_frames_folder(record.path, sample_indices(length, self.num_frames,
                                                                  stride, rng))
        if index not in self._cache:  # decoded once; short clips are small
            self._cache[index] = read_video_file(record.path)
        frames = self._cache[index]
        return frames[sample_indices(len(frames), self.num_frames, stride, rng)]

    def __getitem__(self, index: int) -> dict:
        rng = self.rng
        video = frames_to_tensor(self._load(index, rng))
        video = resize_and_crop(video, self.resize, self.image_size)
        if self.hflip and rng.random() < 0.5:
            video = video.flip(-1)
        return {"video": video, "label": self.records[index].label, "index": index}
