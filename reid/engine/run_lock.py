"""One training run per output folder, and a clean stop on SIGTERM.

:class:`RunLock` holds ``OUTPUT_DIR/run.lock`` for a run's duration. The file names its holder
(pid, host, start time); a second run into the same folder fails with an error naming them.
The lock is an ``flock`` on that file, which the kernel drops when the holder dies (even on
``kill -9``): a lock file left by a dead run is taken over, with a log line. On a file system
without ``flock`` the file is created with ``O_CREAT | O_EXCL`` and a holder counts as dead when
its pid no longer runs on this host.

:func:`sigterm_as_interrupt` turns SIGTERM into :class:`Terminated` (a KeyboardInterrupt), so a
terminated run unwinds like Ctrl-C: temporaries removed, the lock released.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import json
import logging
import os
import signal
import socket
import threading
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None

LOCK_NAME = "run.lock"
_ATTEMPTS = 5
# flock() errors meaning "this file system has no flock", not "someone holds it"
_NO_FLOCK = {errno.ENOSYS, errno.ENOLCK, errno.EINVAL, getattr(errno, "EOPNOTSUPP", -1),
             getattr(errno, "ENOTSUP", -1)}

_logger = logging.getLogger("reid.run_lock")
_held_here: set[str] = set()  # lock files this process holds (real paths)


class OutputFolderLockedError(RuntimeError):
    """Another live run holds the output folder."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an interrupt (see :func:`sigterm_as_interrupt`)."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


class RunLock:
    """``RunLock(folder).acquire()`` ... ``release()``, or ``with RunLock(folder):``."""

    def __init__(self, folder: str, name: str = LOCK_NAME):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, name)
        self.took_over: dict | None = None  # the dead holder's record, after a takeover
        self._fd: int | None = None
        # the pid that took the lock: a forked child (a data loader worker) never releases it
        self._owner = 0

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "RunLock":
        """Take the lock; raises :class:`OutputFolderLockedError` naming a live holder."""
        if self.held:
            return self
        os.makedirs(self.folder, exist_ok=True)
        for _ in range(_ATTEMPTS):
            fd = self._try_acquire()
            if fd is not None:
                self._fd, self._owner = fd, os.getpid()
                _held_here.add(os.path.realpath(self.path))
                return self
        raise OutputFolderLockedError(f"could not take the lock {self.path}: it was replaced "
                                      f"{_ATTEMPTS} times while trying; is another run starting?")

    def release(self) -> None:
        """Remove the lock file and drop the lock (a no-op when not held, or in a forked child)."""
        if self._fd is None or self._owner != os.getpid():
            return
        fd, self._fd = self._fd, None
        _held_here.discard(os.path.realpath(self.path))
        try:
            if _same_file(fd, self.path):
                os.unlink(self.path)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------------ internals
    def _try_acquire(self) -> int | None:
        """The locked file's descriptor, or None when the file changed under us (retry)."""
        opened = self._open()
        if opened is None:
            return None
        fd, created = opened
        keep = False
        try:
            locked = _try_flock(fd)
            holder = {} if created else _read_record(fd)
            if locked is None:  # no flock here: the exclusive create alone decides
                claimed = self._claim_without_flock(created, holder)
            else:
                claimed = self._claim_with_flock(fd, locked, holder)
            if claimed:
                _write_record(fd)
                keep = True
        finally:
            if not keep:
                _close_quietly(fd)
        return fd if keep else None

    def _open(self) -> tuple[int, bool] | None:
        """``(descriptor, created)`` of the lock file; None when it vanished meanwhile."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            pass
        try:
            return os.open(self.path, os.O_RDWR), False
        except FileNotFoundError:
            return None

    def _claim_with_flock(self, fd: int, locked: bool, holder: dict) -> bool:
        if not locked:
            raise OutputFolderLockedError(_locked_message(self.path, holder))
        if not _same_file(fd, self.path):  # its holder removed it on release: retry
            return False
        if holder:  # a record without a lock: its run died
            self._note_takeover(holder)
        return True

    def _claim_without_flock(self, created: bool, holder: dict) -> bool:
        if created:
            return True
        if _pid_runs(holder, self.path):
            raise OutputFolderLockedError(_locked_message(self.path, holder))
        self._note_takeover(holder)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        return False  # retry the exclusive create

    def _note_takeover(self, holder: dict) -> None:
        self.took_over = holder
        _logger.warning("taking over the stale lock %s of a run that is gone (%s)", self.path,
                        _describe(holder))


def _try_flock(fd: int) -> bool | None:
    """True: locked; False: another open file holds it; None: no flock on this file system."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        if exc.errno in _NO_FLOCK:
            return None
        raise
    return True


def _record() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def _write_record(fd: int) -> None:
    data = (json.dumps(_record()) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data)
    os.fsync(fd)


def _read_record(fd: int) -> dict:
    """The holder record in the open lock file ({} when empty or unreadable)."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return _parse_record(b"".join(chunks))


def _read_record_at(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return _parse_record(handle.read())
    except FileNotFoundError:
        return {}


def _parse_record(data: bytes) -> dict:
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {"unreadable": data[:80].decode("utf-8", "replace")} if data.strip() else {}
    return record if isinstance(record, dict) else {"unreadable": repr(record)[:80]}


def _describe(holder: dict) -> str:
    if not holder or "pid" not in holder:
        return f"holder unknown: {holder.get('unreadable', 'empty lock file')!r}"
    return (f"pid {holder.get('pid')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}")


def _locked_message(path: str, holder: dict) -> str:
    folder = os.path.dirname(path)
    return (f"output folder {folder} is in use by another training run ({_describe(holder)}; "
            f"lock file {path}); wait for it to end, stop it, or choose another OUTPUT_DIR")


def _pid_runs(holder: dict, path: str) -> bool:
    """Whether the holder may still run (used only without flock): a pid on another host, or
    an unreadable record, counts as running; our own pid only when this process holds ``path``
    (else it was a previous process of a container that reuses pids)."""
    pid, host = holder.get("pid"), holder.get("host")
    if not isinstance(pid, int) or host != socket.gethostname():
        return True
    if pid == os.getpid():
        return os.path.realpath(path) in _held_here
    if os.name == "nt":  # os.kill(pid, 0) would stop the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (as Ctrl-C raises
    KeyboardInterrupt), so ``finally`` blocks and atomic writes clean up. Outside the main
    thread (where handlers cannot be set) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
