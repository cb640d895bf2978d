"""Atomic writes: a temporary file in the target folder, flushed, then renamed over the target.

A crash mid-write leaves the previous file (or nothing), never a half-written one.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from typing import Any, Callable


def _atomic_write(path: str, write: Callable[[io.BufferedWriter], None]) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str, data: bytes) -> str:
    return _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> str:
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def atomic_save(obj: Any, path: str) -> str:
    """``torch.save`` made atomic; ``obj`` must load back with ``weights_only=True``.

    Anything a weights-only load cannot read (a pickled class, a config object) is refused with
    a TypeError naming the entry before the file is touched.
    """
    import torch

    from .serialization import check_weights_only

    check_weights_only(obj, where=os.path.basename(os.fspath(path)))
    return _atomic_write(path, lambda handle: torch.save(obj, handle))
