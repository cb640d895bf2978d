"""One run per output folder: the lock names its holder, a dead holder's lock is taken over, a
fresh run into a folder with checkpoints is refused unless --resume / --overwrite; SIGTERM
unwinds like Ctrl-C and the lock is released on every exit."""
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from reid.engine import run_lock
from reid.engine.checkpoint import CheckpointManager, ExistingCheckpointsError
from reid.engine.run_lock import (LOCK_NAME, OutputFolderLockedError, RunLock, Terminated,
                                  sigterm_as_interrupt)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# run_lock.py needs only the standard library: loaded alone, the holder starts in a moment
HOLDER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("run_lock", {module!r})
run_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_lock)
lock = run_lock.RunLock({folder!r}).acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
"""


def _holder(folder: str) -> subprocess.Popen:
    """Another process that holds the lock of ``folder`` until its stdin gets a line."""
    script = HOLDER.format(module=run_lock.__file__, folder=folder)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _toy_cfg(out: str, *opts):
    from reid.config import load_config

    return load_config(None, ["OUTPUT_DIR", out, "MODEL.DEVICE", "cpu"] + list(opts))


def test_second_lock_fails_naming_the_first_holder(tmp_path):
    first = RunLock(str(tmp_path)).acquire()
    with open(first.path, encoding="utf-8") as handle:
        record = json.load(handle)
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    with pytest.raises(OutputFolderLockedError) as err:
        RunLock(str(tmp_path)).acquire()
    assert f"pid {os.getpid()}" in str(err.value) and record["started"] in str(err.value)
    first.release()
    assert not os.path.exists(first.path)
    with RunLock(str(tmp_path)) as again:
        assert again.held and again.took_over is None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_releases_its_parents_lock(tmp_path):
    lock = RunLock(str(tmp_path)).acquire()
    pid = os.fork()
    if pid == 0:  # like a data loader worker that ends
        lock.release()
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.path.exists(lock.path)
    with pytest.raises(OutputFolderLockedError):
        RunLock(str(tmp_path)).acquire()
    lock.release()


def test_a_run_in_another_process_holds_the_folder(tmp_path):
    proc = _holder(str(tmp_path))
    try:
        with pytest.raises(OutputFolderLockedError, match=f"pid {proc.pid} "):
            RunLock(str(tmp_path)).acquire()
    finally:
        proc.communicate("\n", timeout=60)
    RunLock(str(tmp_path)).acquire().release()  # released on its normal exit


def test_stale_lock_of_a_killed_run_is_taken_over(tmp_path, lock_log):
    proc = _holder(str(tmp_path))
    proc.kill()  # kill -9: no cleanup, the lock file stays
    proc.communicate(timeout=60)
    with open(os.path.join(tmp_path, LOCK_NAME), encoding="utf-8") as handle:
        assert json.load(handle)["pid"] == proc.pid
    lock = RunLock(str(tmp_path)).acquire()
    assert lock.took_over["pid"] == proc.pid
    assert any("taking over the stale lock" in m and f"pid {proc.pid}" in m for m in lock_log)
    with open(lock.path, encoding="utf-8") as handle:
        assert json.load(handle)["pid"] == os.getpid()
    lock.release()


def test_without_flock_the_lock_uses_an_exclusive_create_and_the_pid(tmp_path, monkeypatch,
                                                                     lock_log):
    monkeypatch.setattr(run_lock, "_try_flock", lambda fd: None)  # e.g. NFS without locks
    first = RunLock(str(tmp_path)).acquire()
    with pytest.raises(OutputFolderLockedError, match=f"pid {os.getpid()}"):
        RunLock(str(tmp_path / "")).acquire()  # our own pid, but the lock is held here
    first.release()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    with open(os.path.join(tmp_path, LOCK_NAME), "w", encoding="utf-8") as handle:
        json.dump({"pid": int(dead), "host": socket.gethostname(), "started": "earlier"}, handle)
    lock = RunLock(str(tmp_path)).acquire()
    assert lock.took_over["pid"] == int(dead) and any(f"pid {dead}" in m for m in lock_log)
    lock.release()
    with open(os.path.join(tmp_path, LOCK_NAME), "w", encoding="utf-8") as handle:
        json.dump({"pid": 1, "host": "another-host", "started": "earlier"}, handle)
    with pytest.raises(OutputFolderLockedError, match="host another-host"):
        RunLock(str(tmp_path)).acquire()  # cannot tell whether it still runs: refused


def test_trainer_into_a_locked_folder_fails_before_writing(tmp_path):
    from reid.engine import GCLTrainer

    out = str(tmp_path / "run")
    proc = _holder(out)
    try:
        with pytest.raises(OutputFolderLockedError, match=f"pid {proc.pid} "):
            GCLTrainer(_toy_cfg(out))
        assert sorted(os.listdir(out)) == [LOCK_NAME]  # no config.yaml, no log.txt
    finally:
        proc.communicate("\n", timeout=60)


def test_train_gcl_tool_reports_the_other_run(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "tool_train_gcl", os.path.join(ROOT, "tools", "train_gcl.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / "run")
    with RunLock(out):
        assert tool.main(["OUTPUT_DIR", out, "MODEL.DEVICE", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "in use by another training run" in err and f"pid {os.getpid()}" in err
    os.makedirs(os.path.join(out, "checkpoints"))
    open(os.path.join(out, "checkpoints", "joint_epoch020.pth"), "wb").close()
    assert tool.main(["OUTPUT_DIR", out, "MODEL.DEVICE", "cpu"]) == 1
    assert "--resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.main(["--resume", "--overwrite", "OUTPUT_DIR", out])


def _finished_run(out: str) -> dict:
    """An output folder after a run: checkpoints and other results."""
    files = {"checkpoints/baseline_epoch001.pth": b"old", "checkpoints/notes.txt": b"mine",
             "summary.json": b"{}", "baseline_encoder.pth": b"old"}
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
        with open(os.path.join(out, rel), "wb") as handle:
            handle.write(data)
    os.link(os.path.join(out, "checkpoints/baseline_epoch001.pth"),
            os.path.join(out, "checkpoints/last.pth"))
    return files


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from reid.data import make_toy_reid_folder

    root = str(tmp_path_factory.mktemp("toy"))
    make_toy_reid_folder(root, num_ids=4, num_cameras=2, layout="generic")
    return root


def _baseline_cfg(root: str, out: str):
    from tests.toy_gcl import toy_cfg

    return toy_cfg(root, out, "GCL.STAGES", "('baseline',)", "TEST.EVAL_PERIOD", "0")


def test_fresh_run_into_a_folder_with_checkpoints_is_refused(tmp_path):
    from reid.engine import GCLTrainer

    out = str(tmp_path / "run")
    _finished_run(out)
    with pytest.raises(ExistingCheckpointsError) as err:
        GCLTrainer(_toy_cfg(out))
    assert "--resume" in str(err.value) and "--overwrite" in str(err.value)
    assert "baseline_epoch001.pth" in str(err.value)
    assert not os.path.exists(os.path.join(out, LOCK_NAME))  # released on the refusal
    assert CheckpointManager(out).has_checkpoints()


def test_resume_and_overwrite_are_accepted(toy_root, tmp_path):
    from reid.engine import GCLTrainer

    out = str(tmp_path / "run")
    files = _finished_run(out)
    # --resume reads the newest checkpoint up front (to compare its config): make it a real one.
    CheckpointManager(out).save({"epoch": 0, "models": {}}, "baseline", 1)
    trainer = GCLTrainer(_baseline_cfg(toy_root, out), resume=True)
    assert os.path.exists(os.path.join(out, LOCK_NAME))
    trainer.close()
    assert not os.path.exists(os.path.join(out, LOCK_NAME))
    assert os.path.isfile(os.path.join(out, "checkpoints", "last.pth"))  # resume keeps them

    trainer = GCLTrainer(_baseline_cfg(toy_root, out), overwrite=True)
    trainer.close()
    left = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert left == ["notes.txt"]  # only the checkpoints went
    for rel in ("summary.json", "baseline_encoder.pth"):
        with open(os.path.join(out, rel), "rb") as handle:
            assert handle.read() == files[rel]
    with pytest.raises(ValueError, match="exclude"):
        GCLTrainer(_baseline_cfg(toy_root, out), resume=True, overwrite=True)


def test_run_releases_the_lock_on_errors_and_sigterm(toy_root, tmp_path, monkeypatch):
    from reid.engine import GCLTrainer

    out = str(tmp_path / "run")
    trainer = GCLTrainer(_baseline_cfg(toy_root, out))

    def fails():
        raise RuntimeError("boom")

    monkeypatch.setattr(trainer, "_train", fails)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.run()
    assert not os.path.exists(os.path.join(out, LOCK_NAME))

    trainer = GCLTrainer(_baseline_cfg(toy_root, out))
    assert os.path.exists(os.path.join(out, LOCK_NAME))

    def terminated():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler interrupts this
        raise AssertionError("SIGTERM was not delivered")

    monkeypatch.setattr(trainer, "_train", terminated)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        trainer.run()
    assert not os.path.exists(os.path.join(out, LOCK_NAME))
    assert signal.getsignal(signal.SIGTERM) is previous


def test_sigterm_as_interrupt_raises_a_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt) as err:
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
    assert isinstance(err.value, Terminated) and err.value.signum == signal.SIGTERM


def test_a_refused_overwrite_run_keeps_the_previous_checkpoints(toy_root, tmp_path):
    """--overwrite deletes the old checkpoints only once every check has passed."""
    from reid.engine import GCLTrainer
    from tests.toy_gcl import toy_cfg

    out = str(tmp_path / "run")
    _finished_run(out)
    cfg = toy_cfg(toy_root, out, "GCL.STAGES", "('baseline',)", "TEST.EVAL_PERIOD", "0",
                  "MODEL.WEIGHTS", str(tmp_path / "absent.pth"))  # refused building the context
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        GCLTrainer(cfg, overwrite=True)
    assert os.path.isfile(os.path.join(out, "checkpoints", "baseline_epoch001.pth"))
    assert not os.path.exists(os.path.join(out, LOCK_NAME))
