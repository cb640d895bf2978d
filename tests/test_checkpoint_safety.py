"""Interrupted checkpoint writes: ``last`` is a link (or a pointer), never a second copy; a kill
between the temporary write and the rename leaves a resumable folder whose temporaries are
removed at the next start; a missing or broken ``last`` falls back to the newest epoch file that
loads; a full disk names the file; SOLVER.CHECKPOINT_KEEP_LAST sets how many files stay."""
import errno
import os
import subprocess
import sys

import pytest
import torch

from reid.config import load_config
from reid.engine import checkpoint as checkpoint_module
from reid.engine.checkpoint import (CHECKPOINT_FORMAT, LEGACY_COPY_TEMP, CheckpointManager,
                                    check_keep_last)
from common import atomic_save
from common import io as io_module
from common.io import TEMP_PATTERN, DiskFullError, atomic_write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILLED_SAVE = """
import os, sys
sys.path.insert(0, {root!r})
import torch
from reid.engine.checkpoint import CheckpointManager
manager = CheckpointManager({out!r})
manager.save({{"epoch": 1, "models": {{"w": torch.full((4,), 1.0)}}}}, "baseline", 1)
replace = os.replace

def killed_before_the_rename(src, dst):
    if os.path.basename(src).startswith(".tmp-baseline_epoch002"):
        os._exit(9)  # like kill -9: no except, no finally, no cleanup
    return replace(src, dst)

os.replace = killed_before_the_rename
manager.save({{"epoch": 2, "models": {{"w": torch.full((4,), 2.0)}}}}, "baseline", 2)
"""


def _state(epoch: int) -> dict:
    return {"epoch": epoch, "models": {"w": torch.full((4,), float(epoch))}}


def _temporaries(folder: str) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(".tmp-") or "tmp" in n)


def _garbage(path: str) -> None:
    """Replace ``path`` by a truncated file (a new inode: its hard links keep their data)."""
    os.remove(path)
    with open(path, "wb") as handle:
        handle.write(b"PK\x03\x04 truncated")


def test_last_is_a_link_to_the_newest_epoch_file_not_a_copy(tmp_path):
    manager = CheckpointManager(str(tmp_path))
    first = manager.save(_state(1), "baseline", 1)
    newest = manager.save(_state(2), "baseline", 2)
    assert os.path.samefile(manager.last_path, newest) and not os.path.samefile(
        manager.last_path, first)
    assert os.stat(newest).st_nlink == 2
    path, state = manager.find_last()
    assert path == manager.last_path and state["epoch"] == 2
    assert state["format"] == CHECKPOINT_FORMAT
    assert not _temporaries(manager.folder)


def test_kill_between_temporary_write_and_rename_leaves_a_resumable_folder(tmp_path, checkpoint_log):
    out = str(tmp_path / "run")
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE.format(root=ROOT, out=out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr
    manager = CheckpointManager(out)
    left = _temporaries(manager.folder)
    assert len(left) == 1 and TEMP_PATTERN.match(left[0])  # what the kill left behind
    path, state = manager.find_last()
    assert os.path.samefile(path, os.path.join(manager.folder, "baseline_epoch001.pth"))
    assert state["epoch"] == 1
    # an older version killed while copying to last.pth, and a half-made link
    for name in (LEGACY_COPY_TEMP, ".tmp-last.pth-abcd1234"):
        with open(os.path.join(manager.folder, name), "wb") as handle:
            handle.write(b"partial")
    keep = [".tmp-notes", "notes.txt"]  # not this project's temporaries
    for name in keep:
        open(os.path.join(manager.folder, name), "w").close()
    removed = manager.remove_stale_temporaries()
    assert len(removed) == 3 and any("removed" in m for m in checkpoint_log)
    assert sorted(n for n in os.listdir(manager.folder) if n not in keep) == [
        "baseline_epoch001.pth", "last.pth"]
    assert manager.load_last()["epoch"] == 1


def test_trainer_start_removes_stale_temporaries(tmp_path):
    from reid.data import make_toy_reid_folder
    from reid.engine import GCLTrainer
    from tests.toy_gcl import toy_cfg

    root = str(tmp_path / "toy")
    make_toy_reid_folder(root, num_ids=4, num_cameras=2, layout="generic")
    out = str(tmp_path / "run")
    manager = CheckpointManager(out)
    manager.save(_state(1), "baseline", 1)
    stale = os.path.join(manager.folder, ".tmp-baseline_epoch002.pth-k3x_9q0z")
    with open(stale, "wb") as handle:
        handle.write(b"half a checkpoint")
    trainer = GCLTrainer(toy_cfg(root, out, "GCL.STAGES", "('baseline',)",
                                 "SOLVER.CHECKPOINT_KEEP_LAST", "1"), resume=True)
    trainer.close()
    assert not os.path.exists(stale)
    assert trainer.checkpoints.keep_last == 1
    assert trainer.checkpoints.load_last()["epoch"] == 1


def test_missing_last_falls_back_to_the_newest_epoch_file(tmp_path, checkpoint_log):
    manager = CheckpointManager(str(tmp_path))
    manager.save(_state(1), "baseline", 1)
    newest = manager.save(_state(2), "baseline", 2)
    os.remove(manager.last_path)  # e.g. killed before the first link was in place
    path, state = manager.find_last()
    assert path == newest and state["epoch"] == 2
    assert any(newest in m and "newest complete epoch file" in m for m in checkpoint_log)


def test_corrupt_last_and_newest_epoch_fall_back_to_the_last_complete_file(tmp_path, checkpoint_log):
    manager = CheckpointManager(str(tmp_path))
    first = manager.save(_state(1), "baseline", 1)
    second = manager.save(_state(2), "baseline", 2)
    _garbage(manager.last_path)
    _garbage(second)
    path, state = manager.find_last()
    assert path == first and state["epoch"] == 1
    assert any("skipping unreadable checkpoint" in m and second in m for m in checkpoint_log)
    _garbage(first)
    assert manager.load_last() is None


def test_pointer_instead_of_a_link_and_its_fallbacks(tmp_path, monkeypatch, checkpoint_log):
    def no_hard_links(source, path):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(checkpoint_module, "atomic_link", no_hard_links)
    manager = CheckpointManager(str(tmp_path), keep_last=2)
    for epoch in (1, 2, 3):
        manager.save(_state(epoch), "joint", epoch)
    assert not os.path.exists(manager.last_path)
    assert sorted(os.listdir(manager.folder)) == ["joint_epoch002.pth", "joint_epoch003.pth",
                                                  "last.json"]
    path, state = manager.find_last()
    assert path.endswith("joint_epoch003.pth") and state["epoch"] == 3

    atomic_write_json(manager.pointer_path, {"file": "joint_epoch001.pth"})  # pruned
    assert manager.load_last()["epoch"] == 3
    with open(manager.pointer_path, "w") as handle:
        handle.write("{not json")
    assert manager.load_last()["epoch"] == 3
    atomic_write_json(manager.pointer_path, {"file": "../../etc/passwd"})
    assert manager.load_last()["epoch"] == 3
    assert any("ignoring" in m for m in checkpoint_log)


def test_a_real_last_pth_of_an_older_version_still_loads(tmp_path):
    manager = CheckpointManager(str(tmp_path))
    atomic_save(dict(_state(7), format=CHECKPOINT_FORMAT), manager.last_path)
    path, state = manager.find_last()
    assert path == manager.last_path and state["epoch"] == 7
    assert manager.has_checkpoints()


class _FullDisk:
    """A file handle on a disk with ``room`` bytes left."""

    def __init__(self, handle, room: int):
        self.handle, self.room = handle, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


@pytest.mark.parametrize("room", [0, 200])  # fails at once / inside torch's zip writer
def test_disk_full_is_reported_with_the_path_and_no_temporary(tmp_path, monkeypatch, room):
    manager = CheckpointManager(str(tmp_path))
    manager.save(_state(1), "baseline", 1)
    fdopen = os.fdopen
    monkeypatch.setattr(io_module.os, "fdopen", lambda *a, **k: _FullDisk(fdopen(*a, **k), room))
    target = os.path.join(manager.folder, "baseline_epoch002.pth")
    with pytest.raises(DiskFullError) as err:
        manager.save(_state(2), "baseline", 2)
    monkeypatch.undo()
    assert str(err.value).endswith(f"no space left on device writing {target}")
    assert err.value.errno == errno.ENOSPC
    assert sorted(os.listdir(manager.folder)) == ["baseline_epoch001.pth", "last.pth"]
    assert manager.load_last()["epoch"] == 1


def test_torch_unexpected_pos_error_reads_as_a_full_disk(tmp_path, monkeypatch):
    def failing_save(obj, handle):
        handle.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", failing_save)
    target = str(tmp_path / "model.pth")
    with pytest.raises(DiskFullError, match="no space left on device writing .*model.pth"):
        atomic_save({"w": torch.zeros(2)}, target)
    assert os.listdir(tmp_path) == []


def test_keep_last_comes_from_the_config(tmp_path):
    assert check_keep_last(load_config(None).SOLVER.CHECKPOINT_KEEP_LAST) == 3
    cfg = load_config(None, ["OUTPUT_DIR", str(tmp_path / "one"),
                             "SOLVER.CHECKPOINT_KEEP_LAST", "1"])
    manager = CheckpointManager.from_cfg(cfg)
    for epoch in (1, 2, 3):
        manager.save(_state(epoch), "baseline", epoch)
    assert sorted(os.listdir(manager.folder)) == ["baseline_epoch003.pth", "last.pth"]

    cfg = load_config(None, ["OUTPUT_DIR", str(tmp_path / "all"),
                             "SOLVER.CHECKPOINT_KEEP_LAST", "0"])
    manager = CheckpointManager.from_cfg(cfg)
    for epoch in (1, 2, 3, 4):
        manager.save(_state(epoch), "baseline", epoch)
    assert len(manager.epoch_files()) == 4

    rule = "SOLVER.CHECKPOINT_KEEP_LAST must be an integer >= 0"
    with pytest.raises(ValueError, match=rule):  # refused when the config is loaded
        load_config(None, ["SOLVER.CHECKPOINT_KEEP_LAST", "-1"])
    from reid.config import get_cfg_defaults
    from reid.engine import GCLTrainer

    cfg = get_cfg_defaults()  # built by hand, past the loader's checks
    cfg.OUTPUT_DIR = str(tmp_path / "bad")
    cfg.SOLVER.CHECKPOINT_KEEP_LAST = -1
    with pytest.raises(ValueError, match=rule):
        CheckpointManager.from_cfg(cfg)

    with pytest.raises(ValueError, match="CHECKPOINT_KEEP_LAST"):
        GCLTrainer(cfg)
    assert not os.path.exists(str(tmp_path / "bad"))  # refused before anything is written


def test_read_json_if_present_reads_what_atomic_write_json_wrote(tmp_path):
    from common.io import read_json_if_present

    path = str(tmp_path / "result.json")
    assert read_json_if_present(path) is None
    assert read_json_if_present(path, default=[]) == []
    atomic_write_json(path, {"mAP": 4.25, "rows": [1, 2]})
    assert read_json_if_present(path) == {"mAP": 4.25, "rows": [1, 2]}
    (tmp_path / "broken.json").write_text('{"mAP": ')
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        read_json_if_present(str(tmp_path / "broken.json"))


def test_images_and_charts_are_written_atomically_with_the_usual_permissions(tmp_path):
    """Grids, previews and charts go through the same writer: decodable, 0666 less the umask,
    no temporary left; an unknown extension is refused before anything is written."""
    import numpy as np
    from PIL import Image

    from common.io import atomic_write_image
    from common.plotting import pyplot, save_figure

    image = np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    mask = os.umask(0o022)
    try:
        png = atomic_write_image(str(tmp_path / "grid.png"), image)
        jpg = atomic_write_image(str(tmp_path / "grid.jpg"), image)
        fig = pyplot().figure(figsize=(1, 1))
        chart = save_figure(fig, str(tmp_path / "chart.png"))
    finally:
        os.umask(mask)
    assert np.array_equal(np.asarray(Image.open(png)), image)
    assert np.asarray(Image.open(jpg)).shape == (8, 6, 3)
    assert Image.open(chart).format == "PNG"
    for path in (png, jpg, chart):
        assert os.stat(path).st_mode & 0o777 == 0o644, path
    with pytest.raises(ValueError, match=r"grid\.bmp: unsupported image extension"):
        atomic_write_image(str(tmp_path / "grid.bmp"), image)
    assert sorted(os.listdir(tmp_path)) == ["chart.png", "grid.jpg", "grid.png"]
