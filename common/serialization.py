"""Safe checkpoint files: written in forms that ``torch.load(weights_only=True)`` reads, read that way.

Every checkpoint this project writes holds only tensors, numbers, strings, bytes, ``None`` and
containers of them (dict, list, tuple), plus numpy arrays and scalars: configs are stored as YAML
strings, RNG states as tensors and tuples. :func:`check_weights_only` enforces this at save time,
naming the offending entry, so a file that could not be read back safely is never written.

:func:`load_checkpoint_file` reads with ``weights_only=True``. The only globals it allows beyond
torch's own are numpy's array and scalar reconstructors and dtypes (data, not code). A file that
needs anything else (a pickled class, a function) is refused with :class:`UnsafeCheckpointError`
unless the caller opts in: ``trust_pickle=True``, or the environment variable
``GCL_REID_TRUST_PICKLE=1`` for the command-line tools. Full unpickling can run arbitrary code,
so opt in only for files from a source you trust.
"""
from __future__ import annotations

import logging
import os
import pickle
from collections import Counter, OrderedDict
from typing import Any

import numpy as np
import torch

TRUST_PICKLE_ENV = "GCL_REID_TRUST_PICKLE"

_logger = logging.getLogger("reid")

# What torch's weights-only unpickler rebuilds (plus the numpy data of SAFE_GLOBALS).
_ATOMS = (type(None), bool, int, float, complex, str, bytes, bytearray, torch.Tensor,
          torch.dtype, torch.device, torch.Size, np.ndarray, np.generic)
_CONTAINERS = (dict, OrderedDict, Counter, list, tuple, set)


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint file that would need full unpickling (arbitrary code) to be read."""


def _numpy_safe_globals() -> list:
    """numpy's reconstructors and dtypes under the names that files of numpy 1.x and 2.x use."""
    multiarray = getattr(np, "_core", np.core).multiarray
    found = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    found += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    legacy = [(multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
              (multiarray.scalar, "numpy.core.multiarray.scalar"),
              (multiarray._reconstruct, "numpy._core.multiarray._reconstruct"),
              (multiarray.scalar, "numpy._core.multiarray.scalar")]
    return found + legacy


SAFE_GLOBALS = _numpy_safe_globals()


def trust_pickle_from_env() -> bool:
    """True when ``GCL_REID_TRUST_PICKLE`` is set to 1 / true / yes."""
    return os.environ.get(TRUST_PICKLE_ENV, "").strip().lower() in ("1", "true", "yes")


def check_weights_only(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError naming the first entry of ``obj`` that a weights-only load cannot read."""
    stack = [(obj, where)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, np.ndarray) and value.dtype.hasobject:
            raise TypeError(f"{path}: numpy array of dtype object cannot be saved for a "
                            "weights-only load; store a numeric array or a list")
        if isinstance(value, _ATOMS):
            continue
        if type(value) in _CONTAINERS:
            items = value.items() if isinstance(value, dict) else enumerate(
                sorted(value, key=repr) if isinstance(value, set) else value)
            for key, item in items:
                if isinstance(value, dict) and not isinstance(key, (str, int, float, bool,
                                                                    type(None), tuple)):
                    raise TypeError(f"{path}: key {key!r} of type {type(key).__name__} cannot be "
                                    "saved for a weights-only load")
                stack.append((item, f"{path}[{key!r}]"))
            continue
        raise TypeError(f"{path}: {type(value).__module__}.{type(value).__qualname__} cannot be "
                        "saved for a weights-only load; store it as tensors, numbers, strings "
                        "or containers of them (e.g. a config as YAML text)")


def load_checkpoint_file(path: str, map_location: Any = "cpu", trust_pickle: bool | None = None,
                         what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` with numpy data allowed; see the module docstring.

    ``trust_pickle`` None follows ``GCL_REID_TRUST_PICKLE``. Raises FileNotFoundError for an
    absent file, :class:`UnsafeCheckpointError` for a file that needs full unpickling, and
    RuntimeError naming the file for anything unreadable.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if trust_pickle is None:
            trust_pickle = trust_pickle_from_env()
        if not trust_pickle:
            reason = _first_line_of_unpickling_error(exc)
            raise UnsafeCheckpointError(
                f"{what} {path} holds objects that only full unpickling can read ({reason}). "
                "Full unpickling can run arbitrary code: if you trust this file, load it with "
                f"trust_pickle=True or set {TRUST_PICKLE_ENV}=1, and re-save it with this "
                "project's tools to get a file that loads safely.") from exc
        _logger.warning("%s %s: loading with full unpickling (trusted by the caller)", what, path)
    except Exception as exc:  # truncated / corrupt / not a torch file
        raise RuntimeError(f"cannot read {what} {path}: {exc}") from exc
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise RuntimeError(f"cannot read {what} {path}: {exc}") from exc


def _first_line_of_unpickling_error(exc: Exception) -> str:
    """The useful part of torch's weights-only error: the global it refused."""
    text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if "Unsupported global" in line or "Unsupported operand" in line:
            return line.split(". ")[0].replace("WeightsUnpickler error: ", "")
    return text.splitlines()[-1].strip() if text.strip() else type(exc).__name__
