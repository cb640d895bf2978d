"""Compiled (numba) kernels: compiled on first use, cached on disk, wherever a cache can live.

Every kernel module of the project (:mod:`reid.cluster.kernels`, :mod:`reid.evaluation.rerank`,
:mod:`reid.evaluation.metrics`, :mod:`mesh.render.kernels`) decorates its loops with
:func:`numba_kernel`. ``NUMBA_AVAILABLE`` is False when numba is not installed; those modules
then define no kernel and their callers take a numpy / torch path that gives the same results
more slowly. ``prange`` is numba's parallel range (plain ``range`` without numba).

Compilation and its on-disk cache
---------------------------------
A kernel is compiled lazily, on its first call, for the argument types of that call, and saved
in numba's on-disk cache (``cache=True``); a later process loads it instead of compiling. The
cache is keyed on the kernel's source file (its content hash; older numba releases use its
modification time and size), the numba and Python versions and the CPU model: editing that
file, upgrading numba or moving to another CPU model compiles again, once.

Where the cache lives, first writable location wins:

1. ``$NUMBA_CACHE_DIR`` when set (numba's own override; the kernels of a file are then cached
   under ``$NUMBA_CACHE_DIR/<folder>_<hash of the folder path>/``). Set it for read-only
   installs, for a cache shared by several checkouts, or to keep caches out of the source tree;
2. ``__pycache__/`` beside the kernel's source file (editable installs and checkouts);
3. numba's per-user cache folder, ``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba`` (a
   site-packages install that is not writable);
4. when none of those is writable (e.g. a read-only install run by a user without a writable
   home; numba alone then raises when the kernel is defined), a private folder
   ``<tempdir>/gcl-reid-numba-cache-<uid>`` (mode 0700, see :func:`private_cache_dir`). If no
   folder can be made at all, the kernels are compiled, uncached, in every process.

Which location is used is decided once per process, at the first kernel that numba cannot
cache; the message saying so (info for the private folder, a warning for no cache at all) goes
to the logger of that kernel's module. :func:`cache_stats` says, per kernel, which signatures
this process compiled or loaded and how many came from the cache; :func:`cache_dir` where a
kernel's cache is.
"""
from __future__ import annotations

import logging
import os
import stat
import tempfile
from typing import Callable, Dict, Mapping, Optional

try:  # numba is optional: every kernel module has a numpy / torch path for its absence.
    import numba
    from numba import njit, prange
    NUMBA_AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the environment
    numba = None
    njit = None
    prange = range
    NUMBA_AVAILABLE = False

CACHE_FALLBACK_PREFIX = "gcl-reid-numba-cache-"

_fallback_dir: Optional[str] = None      # set once numba's own cache locations proved unusable
_cache_disabled = False                  # not even the fallback folder is writable


def private_cache_dir() -> Optional[str]:
    """``<tempdir>/gcl-reid-numba-cache-<uid>``: created mode 0700, used only when it is a real
    folder owned by this user and writable by nobody else (cache files are unpickled, so a
    folder another user controls must not be read); else a fresh private ``mkdtemp`` folder
    (not found again by later processes). None when no folder can be made."""
    getuid = getattr(os, "getuid", None)
    tag = str(getuid()) if getuid is not None else os.environ.get("USERNAME", "user")
    path = os.path.join(tempfile.gettempdir(), CACHE_FALLBACK_PREFIX + tag)
    try:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or (getuid is not None and (
                info.st_uid != getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))):
            path = tempfile.mkdtemp(prefix=CACHE_FALLBACK_PREFIX)
        tempfile.TemporaryFile(dir=path).close()
        return path
    except OSError:
        return None


def _settle_fallback(logger: logging.Logger) -> None:
    """numba found no writable cache location: choose the private folder (or none), once."""
    global _fallback_dir, _cache_disabled
    _fallback_dir = private_cache_dir()
    if _fallback_dir is None:
        _cache_disabled = True
        logger.warning("numba kernels: no writable cache folder (source folder, user cache, "
                       "%s); they are compiled in every process. Set NUMBA_CACHE_DIR to a "
                       "writable folder.", tempfile.gettempdir())
    else:
        logger.info("numba kernels: source folder and user cache not writable, caching in %s "
                    "(set NUMBA_CACHE_DIR to choose)", _fallback_dir)


def compile_with_cache(func: Callable, options: Mapping) -> Callable:
    """``njit(cache=True, **options)(func)``, falling back to the private temporary cache
    folder when numba finds no writable cache location (it raises at decoration time then),
    and to no cache when not even that folder can be made."""
    if not NUMBA_AVAILABLE:
        raise RuntimeError(f"numba is not installed: cannot compile kernel {func.__name__!r}; "
                           f"check NUMBA_AVAILABLE before defining kernels")
    if _fallback_dir is None and not _cache_disabled:
        try:
            return njit(cache=True, **options)(func)
        except RuntimeError as exc:
            if "cannot cache" not in str(exc):
                raise
            _settle_fallback(logging.getLogger(func.__module__))
    if _cache_disabled:
        return njit(**options)(func)
    saved = numba.config.CACHE_DIR          # read when the cache is set up, i.e. right now
    numba.config.CACHE_DIR = _fallback_dir
    try:
        return njit(cache=True, **options)(func)
    finally:
        numba.config.CACHE_DIR = saved


def numba_kernel(**options) -> Callable[[Callable], Callable]:
    """Decorator: ``func`` as a numba kernel (``njit`` with ``options``, e.g. ``nogil=True`` or
    ``parallel=True``), compiled on first use and cached on disk (see the module docstring)."""
    def decorate(func: Callable) -> Callable:
        return compile_with_cache(func, options)
    return decorate


def cache_dir(kernel) -> Optional[str]:
    """The folder ``kernel`` (a :func:`numba_kernel`) is cached in; None without numba."""
    if not NUMBA_AVAILABLE:
        return None
    return kernel.stats.cache_path


def cache_stats(kernels: Mapping[str, Callable]) -> Dict[str, Dict[str, int]]:
    """Per named kernel, in this process: signatures ready (compiled or loaded), signatures
    loaded from the on-disk cache (``hits``) and compiled because absent from it (``misses``).
    Empty without numba."""
    if not NUMBA_AVAILABLE:
        return {}
    return {name: {"signatures": len(kernel.signatures),
                   "hits": int(sum(kernel.stats.cache_hits.values())),
                   "misses": int(sum(kernel.stats.cache_misses.values()))}
            for name, kernel in kernels.items()}
