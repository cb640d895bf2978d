"""Clip readers on generated frame folders and a short generated video file."""
import os
import random

import numpy as np
import pytest
import torch

from generators.video_dataset import VideoClipDataset, build_clip_records, sample_indices
from generators.video_io import (frame_strip, read_video_file, tensor_to_frames, video_grid,
                                 write_image, write_video)


def _moving_square(t=12, h=48, w=80, colour=(255, 0, 0)):
    frames = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i, 10:26, 2 + 4 * i:18 + 4 * i] = colour
    return frames


def _write_frames(folder, frames):
    os.makedirs(folder, exist_ok=True)
    for i, frame in enumerate(frames):
        write_image(os.path.join(folder, f"frame{i}.png"), frame)


def test_frames_folders_with_csv_labels(tmp_path):
    _write_frames(tmp_path / "clipA", _moving_square(12))
    _write_frames(tmp_path / "clipB", _moving_square(5, colour=(0, 255, 0)))
    (tmp_path / "labels.csv").write_text("clip,label\nclipA,wave\nclipB,bend\n")
    ds = VideoClipDataset(str(tmp_path), num_frames=8, image_size=32, stride_min=1, stride_max=3)
    assert ds.classes == ["bend", "wave"] and len(ds) == 2
    item = ds[0]
    assert item["video"].shape == (3, 8, 32, 32) and item["label"] == 1
    assert -1 <= item["video"].min() and item["video"].max() <= 1
    short = ds[1]["video"]  # 5 frames for 8: the last frame repeats
    assert torch.equal(short[:, -1], short[:, -2])


def test_natural_frame_order(tmp_path):
    frames = _moving_square(12)
    _write_frames(tmp_path / "c", frames)
    ds = VideoClipDataset(str(tmp_path), num_frames=12, image_size=48, resize=48)
    video = ds[0]["video"]
    # frame 10 must come after frame 9 (not after frame 1): the square keeps moving right
    cols = [(tensor_to_frames(video)[i, 18, :, 0] > 128).nonzero()[0][0] for i in range(12)]
    assert cols == sorted(cols)


def test_missing_label_row_names_the_clip(tmp_path):
    _write_frames(tmp_path / "clipA", _moving_square(3))
    (tmp_path / "labels.csv").write_text("clip,label\nother,wave\n")
    with pytest.raises(ValueError, match="clipA"):
        build_clip_records(str(tmp_path))


def test_video_file_reader_and_folder_labels(tmp_path):
    frames = _moving_square(10)
    path = write_video(str(tmp_path / "walk" / "person1.mp4"), frames, fps=10)
    write_video(str(tmp_path / "jump" / "person2.avi"), frames[::-1].copy(), fps=10)
    decoded = read_video_file(path)
    assert decoded.shape == (10, 48, 80, 3)
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 12  # lossy codec
    ds = VideoClipDataset(str(tmp_path), num_frames=4, image_size=32, source="videos",
                          labels_from_folder=True, stride_min=2, stride_max=2)
    assert ds.classes == ["jump", "walk"]
    assert [r.label for r in ds.records] == [0, 1]
    assert ds[1]["video"].shape == (3, 4, 32, 32)


def test_gif_written_and_read_back(tmp_path):
    frames = _moving_square(6)
    path = write_video(str(tmp_path / "a.gif"), frames)
    assert read_video_file(path).shape[0] == 6


def test_written_files_get_the_usual_permissions_and_no_temporaries(tmp_path):
    """Samples and strips are shared outputs: mode 0666 less the umask (a temporary file's 0600
    must not survive the rename), and nothing but the targets is left in the folder."""
    frames = _moving_square(4)
    mask = os.umask(0o022)
    try:
        paths = [write_video(str(tmp_path / "a.gif"), frames),
                 write_video(str(tmp_path / "a.mp4"), frames),
                 write_image(str(tmp_path / "a.png"), frames[0])]
    finally:
        os.umask(mask)
    for path in paths:
        assert os.stat(path).st_mode & 0o777 == 0o644, path
    assert sorted(os.listdir(tmp_path)) == ["a.gif", "a.mp4", "a.png"]
    assert read_video_file(paths[1]).shape[0] == 4


def test_sample_indices_stride_and_bounds():
    rng = random.Random(0)
    idx = sample_indices(100, 16, 4, rng)
    assert np.all(np.diff(idx) == 4) and idx[-1] < 100
    assert np.all(np.diff(sample_indices(20, 16, 4, rng)) == 1)  # stride lowered to fit
    assert sample_indices(3, 5, 1, rng) == [0, 1, 2, 2, 2]


def test_grid_and_strip_shapes():
    videos = torch.zeros(3, 3, 4, 8, 8)
    assert video_grid(videos, columns=2, pad=1).shape == (4, 2 * 9 + 1, 2 * 9 + 1, 3)
    assert frame_strip(videos, every=2, pad=1).shape == (3 * 9 + 1, 2 * 9 + 1, 3)


def test_empty_root_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no"):
        VideoClipDataset(str(tmp_path), num_frames=4)
