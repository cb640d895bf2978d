"""Training checkpoints: one atomic file per epoch holding everything needed to resume exactly.

Layout below ``OUTPUT_DIR/checkpoints``: ``<stage>_epoch<NNN>.pth`` for every epoch and
``last.pth``, a copy of the newest, written atomically after it. A crash mid-write leaves the
previous ``last.pth`` intact.
"""
from __future__ import annotations

import glob
import os
import shutil
from typing import Any

from reid.utils.io import atomic_save
from reid.utils.serialization import load_checkpoint_file

CHECKPOINT_FORMAT = "gcl-reid-training-checkpoint"


class CheckpointManager:
    def __init__(self, output_dir: str, keep_last: int = 3):
        self.folder = os.path.join(output_dir, "checkpoints")
        self.keep_last = keep_last

    @property
    def last_path(self) -> str:
        return os.path.join(self.folder, "last.pth")

    def save(self, state: dict, stage: str, epoch: int) -> str:
        state = dict(state, format=CHECKPOINT_FORMAT)
        path = os.path.join(self.folder, f"{stage}_epoch{epoch:03d}.pth")
        atomic_save(state, path)
        tmp = self.last_path + ".tmp-copy"
        shutil.copyfile(path, tmp)
        os.replace(tmp, self.last_path)
        self._prune(stage)
        return path

    def _prune(self, stage: str) -> None:
        if self.keep_last <= 0:
            return
        files = sorted(glob.glob(os.path.join(self.folder, f"{stage}_epoch*.pth")))
        for old in files[: -self.keep_last]:
            os.remove(old)

    def load_last(self) -> dict[str, Any] | None:
        if not os.path.isfile(self.last_path):
            return None
        return load_training_checkpoint(self.last_path)


def load_training_checkpoint(path: str, trust_pickle: bool | None = None) -> dict[str, Any]:
    """Read a training checkpoint weights-only (``trust_pickle``: see
    :func:`reid.utils.serialization.load_checkpoint_file`)."""
    state = load_checkpoint_file(path, trust_pickle=trust_pickle, what="training checkpoint")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(f"{path} is not a training checkpoint of this project "
                           f"(expected format '{CHECKPOINT_FORMAT}')")
    return state
