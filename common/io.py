"""Atomic writes: a temporary file in the target folder, flushed, then renamed over the target.

A crash mid-write leaves the previous file (or nothing), never a half-written one. A process
killed between the write and the rename (``kill -9``) leaves its temporary
``.tmp-<name>-<random suffix>`` beside the target: :func:`remove_stale_temporaries` clears
them. A full disk is reported as :class:`DiskFullError` naming the file, with the temporary removed.
"""
from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import tempfile
from typing import Any, Callable

TEMP_PREFIX = ".tmp-"
# ``TEMP_PREFIX + <target name> + "-"`` and 8 characters from mkstemp (or ``_temp_name``).
TEMP_PATTERN = re.compile(r"^\.tmp-(?P<target>.+)-[a-z0-9_]{8}$")
_DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFullError(OSError):
    """No space left (or quota exceeded) while writing ``path``; the message names it."""

    def __init__(self, path: str):
        super().__init__(errno.ENOSPC, f"no space left on device writing {path}")
        self.path = path

    def __reduce__(self):  # picklable (e.g. from a data loader worker)
        return DiskFullError, (self.path,)


def _atomic_write(path: str, write: Callable[[io.BufferedWriter], None]) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX + os.path.basename(path) + "-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        remove_if_present(tmp)
        if _is_disk_full(exc):
            raise DiskFullError(path) from exc
        raise
    return path


def _is_disk_full(exc: BaseException) -> bool:
    """ENOSPC / EDQUOT anywhere in the exception chain, or torch's zip writer failing with
    ``unexpected pos`` (what ``torch.save`` raises when the file stops growing)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, RuntimeError) and "unexpected pos" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def remove_if_present(path: str) -> None:
    """Delete ``path``; a file that is already gone is not an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_folder(folder: str) -> None:
    """Make the renames in ``folder`` durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_name(path: str) -> str:
    """A fresh temporary name beside ``path`` that :data:`TEMP_PATTERN` recognises."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f"{TEMP_PREFIX}{name}-{secrets.token_hex(4)}")


def atomic_write_bytes(path: str, data: bytes) -> str:
    return _atomic_write(path, lambda handle: handle.write(data))


def atomic_write_image(path: str, image) -> str:
    """A uint8 (H, W) or (H, W, 3) array as PNG / JPEG (by the extension of ``path``), encoded
    in memory and written atomically."""
    from PIL import Image

    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(os.path.splitext(path)[1].lower())
    if fmt is None:
        raise ValueError(f"{path}: unsupported image extension (use .png, .jpg or .jpeg)")
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_write_text(path: str, text: str) -> str:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str, obj: Any, indent: int = 2) -> str:
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def read_json_if_present(path: str, default: Any = None) -> Any:
    """The JSON document at ``path``, or ``default`` when there is no such file. A file that is
    not valid JSON is an error naming it (files here are written atomically, so it was not
    left half-written by an interrupted run)."""
    if not os.path.isfile(path):
        return default
    with open(path, "r", encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); remove or repair it") from None


def atomic_save(obj: Any, path: str) -> str:
    """``torch.save`` made atomic; ``obj`` must load back with ``weights_only=True``.

    Anything a weights-only load cannot read (a pickled class, a config object) is refused with
    a TypeError naming the entry before the file is touched.
    """
    import torch

    from .serialization import check_weights_only

    check_weights_only(obj, where=os.path.basename(os.fspath(path)))
    return _atomic_write(path, lambda handle: torch.save(obj, handle))


def atomic_link(source: str, path: str) -> str:
    """Make ``path`` a hard link to ``source`` (same file system, no copy of the data),
    replacing ``path`` atomically, and sync the folder: renames into it before this one (the
    ``source`` just written beside it) are durable too. Raises OSError where the file system
    has no hard links."""
    path = os.fspath(path)
    tmp = _temp_name(path)
    os.link(os.fspath(source), tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        remove_if_present(tmp)
        raise
    _fsync_folder(os.path.dirname(os.path.abspath(path)))
    return path


def remove_stale_temporaries(folder: str) -> list[str]:
    """Delete the temporaries (:data:`TEMP_PATTERN`) that killed writers left in ``folder``;
    returns their paths. Call it only while no other process writes into ``folder``."""
    removed = []
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(folder, name)
        if TEMP_PATTERN.match(name) and os.path.isfile(path) and not os.path.islink(path):
            remove_if_present(path)
            removed.append(path)
    return removed
