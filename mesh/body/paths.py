"""Where built body-model data is cached.

The project cache directory is ``cfg.CACHE_DIR`` when set, else ``$GCL_REID_CACHE``, else
``~/.cache/gcl_reid``. Each body model keeps its data in a sub-folder (``anny/``).
"""
from __future__ import annotations

import os

ENV_CACHE = "GCL_REID_CACHE"


def project_cache_dir(cache_dir: str | None = None) -> str:
    """The project cache directory (``cache_dir`` if given and non-empty)."""
    if cache_dir:
        return os.path.abspath(os.path.expanduser(os.fspath(cache_dir)))
    env = os.environ.get(ENV_CACHE, "")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(os.path.expanduser("~"), ".cache", "gcl_reid")


def body_model_cache_dir(model: str, cache_dir: str | None = None) -> str:
    """``<project cache>/<model>``, e.g. ``~/.cache/gcl_reid/anny``."""
    return os.path.join(project_cache_dir(cache_dir), model)
