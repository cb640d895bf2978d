"""fast-reid's evaluation functions, loaded for side-by-side timing (``tools/bench_eval.py --peers``).

fast-reid 1.4.0 pins ``torch==1.13.1``, so it is installed without its dependencies
(``pip install --no-deps fastreid==1.4.0``) next to the ``peers`` extra (Cython). Importing the
``fastreid`` package would pull in its whole training stack; only three files are needed and
they import nothing but numpy, so they are loaded by file path:

* ``fastreid/evaluation/rank.py``: ``evaluate_rank`` (Cython or numpy Market-1501 metrics);
* ``fastreid/evaluation/rank_cylib/rank_cy.pyx``: its Cython evaluator, which the wheel ships as
  source only. It is compiled on first use into a cache folder,
  ``$XDG_CACHE_HOME/gcl-reid/peers`` or ``~/.cache/gcl-reid/peers``, under a name keyed by the
  ``.pyx`` content hash and the Python version (a later run loads it, an upgrade rebuilds it);
* ``fastreid/evaluation/rerank.py``: ``re_ranking`` (k-reciprocal re-ranking from distances).

:func:`require_peers` checks for both packages before any work and says how to install them.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import types
from dataclasses import dataclass
from typing import Callable

PEER_VERSION = "1.4.0"
INSTALL_HINT = ("install the benchmark peers with: pip install -e '.[peers]' && "
                f"pip install --no-deps fastreid=={PEER_VERSION}  (--no-deps: fastreid pins "
                "torch==1.13.1, which pip would otherwise install over this torch)")

# The loaded files live under this private package name, never as ``fastreid``.
_PACKAGE = "_peer_fastreid"
_RANK_CY = os.path.join("evaluation", "rank_cylib", "rank_cy.pyx")

# Run in a fresh interpreter: cythonize and build one extension; argv = pyx, build folder.
_BUILD_SCRIPT = """
import sys
import numpy
from Cython.Build import cythonize
from setuptools import Distribution, Extension

pyx, build = sys.argv[1], sys.argv[2]
ext = Extension("rank_cy", [pyx], include_dirs=[numpy.get_include()])
dist = Distribution({"ext_modules": cythonize([ext], quiet=True, build_dir=build,
                                               compiler_directives={"language_level": 3})})
cmd = dist.get_command_obj("build_ext")
cmd.build_lib = build
cmd.build_temp = build
cmd.ensure_finalized()
cmd.run()
print(cmd.get_ext_fullpath("rank_cy"))
"""


class PeersUnavailable(RuntimeError):
    """fastreid or Cython is not installed (the message says how to install them)."""


@dataclass
class FastReidPeer:
    """fast-reid's evaluation entry points, as loaded from its installed files."""

    evaluate_rank: Callable      # (distmat, q_pids, g_pids, q_camids, g_camids, max_rank, ...)
    re_ranking: Callable         # (q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value)
    version: str
    cython_module: str           # path of the compiled rank_cy extension


def fastreid_root() -> str:
    """Folder of the installed ``fastreid`` package, found without importing it."""
    spec = importlib.util.find_spec("fastreid")
    if spec is None or not spec.submodule_search_locations:
        raise PeersUnavailable(f"fastreid is not installed; {INSTALL_HINT}")
    root = list(spec.submodule_search_locations)[0]
    missing = [name for name in ("evaluation/rank.py", "evaluation/rerank.py", _RANK_CY)
               if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise PeersUnavailable(f"fastreid at {root} lacks {', '.join(missing)} (expected "
                               f"fastreid {PEER_VERSION}); {INSTALL_HINT}")
    return root


def require_peers() -> str:
    """Fail early, naming what is missing: returns the fastreid folder when fastreid and Cython
    are both importable, else raises :class:`PeersUnavailable`."""
    missing = []
    if importlib.util.find_spec("fastreid") is None:
        missing.append("fastreid is not installed")
    if importlib.util.find_spec("Cython") is None:
        missing.append("Cython is not installed (needed to compile fastreid's rank_cy.pyx)")
    if missing:  # every missing piece named at once
        raise PeersUnavailable(f"{'; '.join(missing)}; {INSTALL_HINT}")
    return fastreid_root()


def peer_cache_dir() -> str:
    """``$XDG_CACHE_HOME/gcl-reid/peers``, or ``~/.cache/gcl-reid/peers`` without it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gcl-reid", "peers")


def _cache_name(pyx_path: str) -> str:
    """Extension folder name: the ``.pyx`` content hash and the interpreter's ABI tag."""
    with open(pyx_path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()[:16]
    tag = sys.implementation.cache_tag or f"py{sys.version_info[0]}{sys.version_info[1]}"
    return f"rank_cy-{digest}-{tag}"


def compiled_rank_cy(pyx_path: str, cache_dir: str | None = None) -> str:
    """Path of the compiled ``rank_cy`` extension for ``pyx_path``: from the cache when built
    before, else built now (a fresh interpreter runs Cython and the C compiler) and moved into
    the cache in one rename, so that concurrent runs never load a half-written file."""
    cache_dir = peer_cache_dir() if cache_dir is None else cache_dir
    target_dir = os.path.join(cache_dir, _cache_name(pyx_path))
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    target = os.path.join(target_dir, "rank_cy" + suffix)
    if os.path.isfile(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    build = tempfile.mkdtemp(prefix="build-", dir=cache_dir)
    try:
        staged = os.path.join(build, "staged")
        os.makedirs(staged)
        os.replace(_build_extension(pyx_path, build), os.path.join(staged, "rank_cy" + suffix))
        try:
            os.rename(staged, target_dir)
        except OSError:  # another run installed it first: use theirs
            if not os.path.isfile(target):
                raise
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return target


def _build_extension(pyx_path: str, build: str) -> str:
    """Cythonize and compile a copy of ``pyx_path`` inside ``build``; the built file's path."""
    source = os.path.join(build, "rank_cy.pyx")
    shutil.copyfile(pyx_path, source)
    done = subprocess.run([sys.executable, "-c", _BUILD_SCRIPT, source, build],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PeersUnavailable(f"compiling {pyx_path} failed (a C compiler and the Python "
                               f"headers in {sysconfig.get_paths()['include']} are needed):\n"
                               f"{(done.stdout + done.stderr)[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def _load_module(name: str, path: str) -> types.ModuleType:
    """Import the file at ``path`` as module ``name`` (source or extension)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PeersUnavailable(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _package(name: str, path: str) -> None:
    """An empty package ``name`` over folder ``path`` (its ``__init__`` is never run)."""
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [path]
        sys.modules[name] = package


def load_fastreid(cache_dir: str | None = None) -> FastReidPeer:
    """fast-reid's ``evaluate_rank`` (with its Cython evaluator) and ``re_ranking``, loaded from
    the installed files without running any ``fastreid`` package ``__init__``."""
    root = require_peers()
    evaluation = os.path.join(root, "evaluation")
    _package(_PACKAGE, root)
    _package(f"{_PACKAGE}.evaluation", evaluation)
    _package(f"{_PACKAGE}.evaluation.rank_cylib", os.path.join(evaluation, "rank_cylib"))
    extension = compiled_rank_cy(os.path.join(root, _RANK_CY), cache_dir)
    _load_module(f"{_PACKAGE}.evaluation.rank_cylib.rank_cy", extension)
    rank = _load_module(f"{_PACKAGE}.evaluation.rank", os.path.join(evaluation, "rank.py"))
    if not rank.IS_CYTHON_AVAI:
        raise PeersUnavailable(f"fastreid's rank.py did not pick up the compiled {extension}")
    rerank = _load_module(f"{_PACKAGE}.evaluation.rerank", os.path.join(evaluation, "rerank.py"))
    try:
        from importlib.metadata import version
        peer_version = version("fastreid")
    except Exception:  # metadata missing (e.g. a source checkout on the path)
        peer_version = "unknown"
    return FastReidPeer(rank.evaluate_rank, rerank.re_ranking, peer_version, extension)
