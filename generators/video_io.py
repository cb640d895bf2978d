"""Reading and writing clips: folders of frames, mp4 / avi files, GIFs and PNG strips.

Frames are handled as uint8 arrays (T, H, W, 3); model tensors as float (3, T, H, W) in [-1, 1]
(:func:`frames_to_tensor` / :func:`tensor_to_frames`). Writes are encoded in memory and written
atomically (:mod:`common.io`), so a crash never leaves a half-written video. Image and video I/O need the ``video`` extra
(imageio, PyAV for mp4, OpenCV as a decoding fallback); a missing one is named in the error.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from common.io import atomic_write_bytes, atomic_write_image
from common.optional import require

FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif")


def list_frame_files(folder: str) -> list[str]:
    """Image files of a clip folder in natural order (frame2 before frame10)."""
    import re

    names = [n for n in os.listdir(folder) if n.lower().endswith(FRAME_EXTENSIONS)]

    def key(name: str):
        return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]

    return [os.path.join(folder, n) for n in sorted(names, key=key)]


def _imageio():
    """imageio's v3 API, or an error naming the ``video`` extra."""
    return require("imageio.v3", extra="video", purpose="reading and writing images and clips")


def _pyav(purpose: str) -> None:
    """Fail early, naming the ``video`` extra, when PyAV (imageio's mp4 plugin) is missing."""
    require("av", extra="video", purpose=purpose)


def read_frames_folder(folder: str, indices: Sequence[int] | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 from a folder of images; ``indices`` picks frames (read only those)."""
    iio = _imageio()

    files = list_frame_files(folder)
    if not files:
        raise FileNotFoundError(f"clip folder {folder} holds no frames ({', '.join(FRAME_EXTENSIONS)})")
    chosen = files if indices is None else [files[i] for i in indices]
    frames = []
    for path in chosen:
        image = np.asarray(iio.imread(path))
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        frames.append(image[..., :3])
    return np.stack(frames)


def count_frames_folder(folder: str) -> int:
    return len(list_frame_files(folder))


def read_video_file(path: str) -> np.ndarray:
    """(T, H, W, 3) uint8 from a video file (PyAV through imageio; OpenCV as a fallback)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video file not found: {path}")
    iio = _imageio()
    is_gif = path.lower().endswith(".gif")
    try:
        if not is_gif:
            _pyav(f"decoding {path}")
        frames = np.asarray(iio.imread(path, plugin=None if is_gif else "pyav"))
    except Exception as first_error:  # noqa: BLE001 - fall back to OpenCV's decoders
        cv2 = require("cv2", extra="video", purpose=f"decoding {path} without PyAV")

        capture = cv2.VideoCapture(path)
        frames_list = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames_list.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        capture.release()
        if not frames_list:
            raise ValueError(f"cannot decode video {path}: {first_error}") from first_error
        frames = np.stack(frames_list)
    if frames.ndim == 3:
        frames = frames[..., None].repeat(3, axis=-1)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"video {path}: expected (T, H, W, C) frames, got shape {frames.shape}")
    return frames[..., :3]


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 127.5 - 1


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """float (3, T, H, W) in [-1, 1] -> uint8 (T, H, W, 3)."""
    video = video.detach().float().cpu().clamp(-1, 1)
    return ((video + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()


def write_video(path: str, frames: np.ndarray, fps: int = 8) -> str:
    """Write uint8 (T, H, W, 3) frames as .mp4 (H.264 via PyAV) or .gif (looping), atomically
    (encoded in memory, then written as :func:`common.io.atomic_write_bytes` writes any file:
    the usual permissions, never half-written)."""
    iio = _imageio()
    lower = path.lower()
    extension = os.path.splitext(lower)[1]
    frames = np.ascontiguousarray(frames)
    if lower.endswith(".gif"):
        data = iio.imwrite("<bytes>", frames, extension=".gif", duration=int(1000 / fps), loop=0)
    elif lower.endswith((".mp4", ".avi", ".mov", ".mkv")):
        _pyav(f"writing {path}")
        height, width = frames.shape[1:3]
        if height % 2 or width % 2:  # yuv420p needs even sizes
            frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), "edge")
        codec = "libx264" if lower.endswith((".mp4", ".mkv", ".mov")) else "mpeg4"
        data = iio.imwrite("<bytes>", frames, extension=extension, plugin="pyav", codec=codec,
                           fps=fps)
    else:
        raise ValueError(f"{path}: unsupported video extension (use .mp4, .avi or .gif)")
    return atomic_write_bytes(path, data)


def write_image(path: str, image: np.ndarray) -> str:
    """Write a uint8 (H, W, 3) image (PNG/JPEG by extension) atomically."""
    return atomic_write_image(path, np.ascontiguousarray(image))


def video_grid(videos: torch.Tensor, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """(N, 3, T, H, W) in [-1, 1] -> uint8 (T, rows*H', cols*W', 3): all clips side by side."""
    n, _, t, h, w = videos.shape
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    canvas = np.full((t, rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for index in range(n):
        r, c = divmod(index, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[:, y:y + h, x:x + w] = tensor_to_frames(videos[index])
    return canvas


def frame_strip(videos: torch.Tensor, every: int = 1, pad: int = 2) -> np.ndarray:
    """(N, 3, T, H, W) -> one uint8 image: a row of frames (every ``every``-th) per clip."""
    n, _, t, h, w = videos.shape
    picked = list(range(0, t, every))
    canvas = np.full((n * (h + pad) + pad, len(picked) * (w + pad) + pad, 3), 255, np.uint8)
    for row in range(n):
        frames = tensor_to_frames(videos[row])
        for col, index in enumerate(picked):
            y, x = pad + row * (h + pad), pad + col * (w + pad)
            canvas[y:y + h, x:x + w] = frames[index]
    return canvas
