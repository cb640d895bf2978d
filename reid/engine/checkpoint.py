"""Training checkpoints: one atomic file per epoch holding everything needed to resume exactly.

Layout below ``OUTPUT_DIR/checkpoints``:

* ``<stage>_epoch<NNN>.pth`` for every checkpointed epoch; the newest
  ``SOLVER.CHECKPOINT_KEEP_LAST`` of each stage are kept (0 = all);
* ``last.pth``: a hard link to the newest epoch file (no second copy of the data), replaced
  atomically after it is written; where the file system has no hard links, ``last.json`` names
  the newest epoch file instead.

A run killed mid-write leaves the previous checkpoint intact and a ``.tmp-<name>-<random suffix>``
temporary, which :meth:`CheckpointManager.remove_stale_temporaries` clears at the next start.
When ``last.pth`` / ``last.json`` is missing or unreadable, :meth:`CheckpointManager.load_last`
falls back to the newest epoch file that loads, and logs which one it used.
"""
from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from common.io import (DiskFullError, atomic_link, atomic_save, atomic_write_json,
                           remove_if_present, remove_stale_temporaries)
from common.serialization import UnsafeCheckpointError, load_checkpoint_file

CHECKPOINT_FORMAT = "gcl-reid-training-checkpoint"
LAST_NAME = "last.pth"
POINTER_NAME = "last.json"
# Written by earlier versions while copying the newest epoch file to last.pth.
LEGACY_COPY_TEMP = "last.pth.tmp-copy"
EPOCH_FILE = re.compile(r"^(?P<stage>[a-z_]+)_epoch(?P<epoch>\d{3,})\.pth$")
DEFAULT_KEEP_LAST = 3

_logger = logging.getLogger("reid.checkpoint")


class ExistingCheckpointsError(RuntimeError):
    """A fresh run into an output folder that already holds another run's checkpoints."""


def check_keep_last(value: Any, key: str = "SOLVER.CHECKPOINT_KEEP_LAST") -> int:
    """``value`` as the number of epoch files to keep per stage (>= 0; 0 = keep all)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be an integer >= 0 (epoch files kept per stage, 0 = all); "
                         f"got {value!r}")
    return value


class CheckpointManager:
    def __init__(self, output_dir: str, keep_last: int = DEFAULT_KEEP_LAST):
        self.folder = os.path.join(output_dir, "checkpoints")
        self.keep_last = check_keep_last(keep_last, "keep_last")

    @classmethod
    def from_cfg(cls, cfg) -> "CheckpointManager":
        """The manager of ``cfg.OUTPUT_DIR`` keeping ``SOLVER.CHECKPOINT_KEEP_LAST`` files."""
        return cls(cfg.OUTPUT_DIR, check_keep_last(cfg.SOLVER.CHECKPOINT_KEEP_LAST))

    @property
    def last_path(self) -> str:
        return os.path.join(self.folder, LAST_NAME)

    @property
    def pointer_path(self) -> str:
        return os.path.join(self.folder, POINTER_NAME)

    # ------------------------------------------------------------------ writing
    def save(self, state: dict, stage: str, epoch: int) -> str:
        state = dict(state, format=CHECKPOINT_FORMAT)
        path = os.path.join(self.folder, f"{stage}_epoch{epoch:03d}.pth")
        atomic_save(state, path)
        self._point_last_at(path)
        self._prune(stage)
        return path

    def _point_last_at(self, path: str) -> None:
        """Make ``last`` name ``path``: a hard link, else (no hard links here) ``last.json``."""
        try:
            atomic_link(path, self.last_path)
        except DiskFullError:
            raise
        except OSError as exc:
            _logger.debug("cannot hard-link %s (%s): writing %s", self.last_path, exc,
                          self.pointer_path)
            atomic_write_json(self.pointer_path, {"file": os.path.basename(path)})
            remove_if_present(self.last_path)  # an older link would shadow the pointer
            return
        remove_if_present(self.pointer_path)

    def _prune(self, stage: str) -> None:
        if self.keep_last <= 0:
            return
        files = sorted((p for p in self.epoch_files() if _stage_of(p) == stage),
                       key=_epoch_number)
        for old in files[: -self.keep_last]:
            os.remove(old)

    # ------------------------------------------------------------------ the folder
    def epoch_files(self) -> list[str]:
        """The epoch files of the folder (any stage), in name order."""
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return []
        return [os.path.join(self.folder, n) for n in names if EPOCH_FILE.match(n)]

    def has_checkpoints(self) -> bool:
        """True when the folder holds a checkpoint (epoch file, ``last.pth``, ``last.json``)."""
        return bool(self.epoch_files()) or any(
            os.path.exists(p) for p in (self.last_path, self.pointer_path))

    def remove_stale_temporaries(self) -> list[str]:
        """Delete what killed writes left (``.tmp-*`` temporaries, the old ``last.pth``
        copy); returns the paths. Only while this run holds the output folder's lock."""
        removed = remove_stale_temporaries(self.folder)
        legacy = os.path.join(self.folder, LEGACY_COPY_TEMP)
        if os.path.isfile(legacy):
            os.remove(legacy)
            removed.append(legacy)
        for path in removed:
            _logger.info("removed %s, left by an interrupted checkpoint write", path)
        return removed

    def clear(self) -> list[str]:
        """Delete this manager's own files (epoch files, ``last.pth``, ``last.json``,
        temporaries) and nothing else; returns the paths."""
        removed = self.remove_stale_temporaries()
        for path in self.epoch_files() + [self.last_path, self.pointer_path]:
            if os.path.isfile(path):
                os.remove(path)
                removed.append(path)
        return removed

    # ------------------------------------------------------------------ reading
    def load_last(self) -> dict[str, Any] | None:
        """The newest checkpoint's state, or None when the folder holds none that loads."""
        found = self.find_last()
        return None if found is None else found[1]

    def find_last(self) -> tuple[str, dict[str, Any]] | None:
        """``(path, state)`` of the newest checkpoint: the file ``last.json`` names, else
        ``last.pth``, else the newest epoch file that loads (logged); None when none loads."""
        for path in self._named_last():
            state = _try_load(path)
            if state is not None:
                return path, state
        for path in self._epoch_files_newest_first():
            state = _try_load(path)
            if state is not None:
                _logger.warning("no usable %s or %s in %s: resuming from the newest complete "
                                "epoch file %s", LAST_NAME, POINTER_NAME, self.folder, path)
                return path, state
        return None

    def _named_last(self) -> list[str]:
        """The files that ``last.json`` and ``last.pth`` name, those that exist."""
        paths = []
        if os.path.isfile(self.pointer_path):
            target = _read_pointer(self.pointer_path)
            if target is not None:
                paths.append(os.path.join(self.folder, target))
        paths.append(self.last_path)
        return [p for p in paths if os.path.isfile(p)]

    def _epoch_files_newest_first(self) -> list[str]:
        files = self.epoch_files()
        return sorted(files, key=lambda p: (os.stat(p).st_mtime_ns, _epoch_number(p)),
                      reverse=True)


def _epoch_number(path: str) -> int:
    return int(EPOCH_FILE.match(os.path.basename(path)).group("epoch"))


def _stage_of(path: str) -> str:
    return EPOCH_FILE.match(os.path.basename(path)).group("stage")


def _read_pointer(path: str) -> str | None:
    """The epoch file name in ``last.json``, or None (logged) when it is unreadable or names
    something other than an epoch file of the same folder."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            name = json.load(handle).get("file")
    except (OSError, ValueError, AttributeError) as exc:
        _logger.warning("ignoring unreadable %s: %s", path, exc)
        return None
    if not isinstance(name, str) or not EPOCH_FILE.match(name):
        _logger.warning("ignoring %s: 'file' is %r, expected an epoch file name such as "
                        "joint_epoch003.pth", path, name)
        return None
    return name


def _try_load(path: str) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None (logged) when it is truncated, corrupt or foreign.
    A file that needs full unpickling is an error, never skipped silently."""
    try:
        return load_training_checkpoint(path)
    except UnsafeCheckpointError:
        raise
    except (OSError, RuntimeError) as exc:
        _logger.warning("skipping unreadable checkpoint %s: %s", path, exc)
        return None


def load_training_checkpoint(path: str, trust_pickle: bool | None = None) -> dict[str, Any]:
    """Read a training checkpoint weights-only (``trust_pickle``: see
    :func:`common.serialization.load_checkpoint_file`)."""
    state = load_checkpoint_file(path, trust_pickle=trust_pickle, what="training checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(f"{path} is not a training checkpoint of this project "
                           f"(expected format '{CHECKPOINT_FORMAT}')")
    return state
