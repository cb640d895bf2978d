"""Tiny generated ReID folders for tests and demos.

Each identity gets its own upper-body and lower-body colours, so even a randomly initialised
encoder retrieves the right person above chance; each camera adds its own background and colour
cast. File names follow the chosen dataset's naming rules exactly, so the real readers parse them.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
from PIL import Image

LAYOUTS = ("market", "generic", "duke", "msmt17_v1")


def _person_image(rng: np.random.Generator, top: np.ndarray, bottom: np.ndarray,
                  background: np.ndarray, cast: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An HxWx3 uint8 image: background, a body box split into top/bottom colours, noise."""
    h, w = size
    img = np.empty((h, w, 3), dtype=np.float32)
    img[:] = background
    x0 = int(w * rng.uniform(0.15, 0.3))
    x1 = w - int(w * rng.uniform(0.15, 0.3))
    y0 = int(h * rng.uniform(0.03, 0.1))
    y1 = h - int(h * rng.uniform(0.02, 0.08))
    ym = (y0 + y1) // 2
    img[y0:ym, x0:x1] = top
    img[ym:y1, x0:x1] = bottom
    img = img * cast + rng.normal(0.0, 8.0, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _file_namer(layout: str) -> Callable[[int, int, int], str]:
    """(pid, 1-based camera, running index) -> file name in the layout's naming rule."""
    if layout in ("market", "generic"):
        return lambda pid, cam, k: f"{pid:04d}_c{cam}s1_{k * 25:06d}_{k % 100:02d}.jpg"
    if layout == "duke":
        return lambda pid, cam, k: f"{pid:04d}_c{cam}_f{k:07d}.jpg"
    return lambda pid, cam, k: (f"{pid:04d}/{pid:04d}_{k % 1000:03d}_{cam:02d}_0303morning_"
                                f"{k:04d}_0.jpg")


def _junk_name(layout: str, pid: int, cam: int, k: int) -> str:
    name = _file_namer(layout)(max(pid, 0), cam, k)
    return (f"{pid}" if pid < 0 else f"{pid:04d}") + name[4:]


def make_toy_reid_folder(root: str, num_ids: int = 12, num_cameras: int = 3,
                         images_per_id_per_camera: int = 2, size: tuple[int, int] = (64, 32),
                         seed: int = 0, layout: str = "market", num_distractors: int = 2,
                         num_junk: int = 2) -> str:
    """Write a tiny dataset below ``root`` and return ``root`` (pass it to ``build_dataset``).

    The first half of the identities (pids 1..num_ids//2) form the training set; the other half
    form query (one image per identity, from camera ``pid % num_cameras + 1``) and gallery (all
    their other images). For the ``market`` and ``generic`` layouts the gallery also gets
    ``num_distractors`` images with pid 0 and ``num_junk`` with pid -1.

    Layouts and the matching ``build_dataset`` name:
        ``market``    -> ``market1501``: ``root/Market-1501-v15.09.15/...``
        ``generic``   -> ``generic`` (or ``synthetic``): sub-folders directly in ``root``
        ``duke``      -> ``dukemtmc``: ``root/DukeMTMC-reID/...``
        ``msmt17_v1`` -> ``msmt17``: ``root/MSMT17_V1/{train,test}`` + list files (one image
                         per training identity goes to ``list_val.txt``)

    Args:
        size: (height, width) of every image.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown toy layout '{layout}', expected one of {', '.join(LAYOUTS)}")
    if num_ids < 2 or num_cameras < 2 or images_per_id_per_camera < 1:
        raise ValueError("make_toy_reid_folder needs num_ids >= 2, num_cameras >= 2 and "
                         "images_per_id_per_camera >= 1 (queries need a match in another camera)")
    if layout == "market" and num_cameras > 6 or layout == "duke" and num_cameras > 8:
        limit = 6 if layout == "market" else 8
        raise ValueError(f"The {layout} layout has at most {limit} cameras")
    rng = np.random.default_rng(seed)
    palette = rng.uniform(20, 235, size=(num_ids + 1, 2, 3))
    backgrounds = rng.uniform(60, 200, size=(num_cameras, 3))
    casts = rng.uniform(0.85, 1.15, size=(num_cameras, 3))
    namer = _file_namer(layout)
    folders = {
        "market": ("Market-1501-v15.09.15", "bounding_box_train", "query", "bounding_box_test"),
        "generic": ("", "bounding_box_train", "query", "bounding_box_test"),
        "duke": ("DukeMTMC-reID", "bounding_box_train", "query", "bounding_box_test"),
        "msmt17_v1": ("MSMT17_V1", "train", "test", "test"),
    }[layout]
    base = os.path.join(root, folders[0])
    train_dir, query_dir, gallery_dir = (os.path.join(base, f) for f in folders[1:])
    lists: dict[str, list[str]] = {"train": [], "val": [], "query": [], "gallery": []}
    counter = 0

    def write(folder: str, name: str, pid_for_colour: int, cam: int) -> None:
        nonlocal counter
        counter += 1
        top, bottom = palette[pid_for_colour]
        img = _person_image(rng, top, bottom, backgrounds[cam - 1], casts[cam - 1], size)
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(img).save(path, quality=95)

    num_train = num_ids // 2
    for pid in range(1, num_ids + 1):
        is_train = pid <= num_train
        query_cam = pid % num_cameras + 1
        label = pid - 1 if is_train else pid - num_train - 1  # MSMT17 list pids are 0-based
        for cam in range(1, num_cameras + 1):
            for j in range(images_per_id_per_camera):
                name = namer(pid, cam, counter)
                if is_train:
                    folder, key = train_dir, ("val" if cam == 1 and j == 0 else "train")
                elif cam == query_cam and j == 0:
                    folder, key = query_dir, "query"
                else:
                    folder, key = gallery_dir, "gallery"
                write(folder, name, pid, cam)
                lists[key].append(f"{name} {label}")
    if layout in ("market", "generic"):
        for i in range(num_distractors):
            cam = i % num_cameras + 1
            write(gallery_dir, _junk_name(layout, 0, cam, counter), 0, cam)
        for i in range(num_junk):
            cam = i % num_cameras + 1
            write(gallery_dir, _junk_name(layout, -1, cam, counter), 0, cam)
    if layout == "msmt17_v1":
        for key, lines in lists.items():
            with open(os.path.join(base, f"list_{key}.txt"), "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
    else:
        os.makedirs(query_dir, exist_ok=True)
    return root
