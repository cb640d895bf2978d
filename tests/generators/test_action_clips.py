"""Synthetic human-action clips: motions for every action; rendered clips are deterministic."""
import os

import pytest
import torch

from generators.action_clips import ACTIONS, action_motion


@pytest.mark.parametrize("action", ACTIONS)
def test_every_action_moves(action):
    t = torch.arange(32) / 32
    rotations, offset = action_motion(action, t, speed=1.0, phase=0.3, amplitude=1.0)
    assert offset.shape == (32, 3)
    assert all(r.shape == (32, 3) for r in rotations.values())
    motion = sum((r - r[:1]).abs().sum() for r in rotations.values()) + (offset - offset[:1]).abs().sum()
    assert motion > 0.1


def test_unknown_action():
    with pytest.raises(ValueError, match="walk"):
        action_motion("moonwalk", torch.zeros(2), 1.0, 0.0, 1.0)


@pytest.mark.slow  # builds the body model (tens of seconds the first time)
def test_clips_written_labelled_and_deterministic(tmp_path):
    from generators.action_clips import make_action_clips
    from generators.video_dataset import VideoClipDataset
    from generators.video_io import read_frames_folder

    names = make_action_clips(str(tmp_path / "a"), 1, seed=5, actions=("jump", "bend"),
                              progress=False)
    make_action_clips(str(tmp_path / "b"), 1, seed=5, actions=("jump", "bend"), progress=False)
    assert names == ["jump_0000", "bend_0000"]
    for name in names:
        a = read_frames_folder(str(tmp_path / "a" / name))
        assert a.shape == (32, 64, 64, 3)
        assert (a == read_frames_folder(str(tmp_path / "b" / name))).all()
        assert a.std(axis=0).mean() > 1.0  # frames differ: the body moves
    ds = VideoClipDataset(str(tmp_path / "a"), num_frames=16)
    assert ds.classes == list(ACTIONS)  # classes.txt keeps the action order
    assert sorted(r.label for r in ds.records) == [ACTIONS.index("jump"), ACTIONS.index("bend")][::-1]
    assert os.path.isfile(tmp_path / "a" / "labels.csv")
