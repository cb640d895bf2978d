"""Config keys that moved, and the mapping that keeps the old names working for one release.

A YAML file, a ``KEY VALUE`` override or the config stored in a checkpoint that sets an old key
has its value moved to the new key(s) before the config is merged and checked; files and
overrides get a :class:`DeprecationWarning` (also logged) naming the old and the new keys, and
the stored configs of checkpoints are mapped silently.

When an old key and one of its new keys are both set in the same file (or ``_BASE_`` chain),
the old key's value is used and the warning says so: the old key comes from a file that has not
been updated yet, which is the more specific one (the shipped configs use the new keys).
"""
from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

from common.config import ConfigError

__all__ = ["RENAMES", "Rename", "rename_mapping", "rename_overrides"]

_logger = logging.getLogger("reid.config")


def _same(value: Any) -> Any:
    return value


def _as_epoch_tuple(value: Any) -> Any:
    """One epoch number -> the tuple of decay epochs (``10`` -> ``(10,)``; text for text)."""
    if isinstance(value, str):
        return f"({value},)"
    return (value,)


@dataclass(frozen=True)
class Rename:
    """``old`` is now set through ``new`` (one or more dotted keys); ``convert`` maps the old
    value to the new keys' value (the same function for values read from YAML and for
    command-line text)."""

    old: str
    new: tuple[str, ...]
    convert: Callable[[Any], Any] = _same
    note: str = ""


#: Old key -> its replacement(s). The flat optimisation keys of the generative stages moved into
#: the stages' own sections; every ``SOLVER.<STAGE>`` section now holds the same keys.
RENAMES: tuple[Rename, ...] = (
    Rename("SOLVER.BATCH_SIZE", ("SOLVER.GAN_WARMUP.BATCH_SIZE", "SOLVER.JOINT.BATCH_SIZE")),
    Rename("SOLVER.GAN_LR", ("SOLVER.GAN_WARMUP.GAN_LR", "SOLVER.JOINT.GAN_LR")),
    Rename("SOLVER.GAN_BETAS", ("SOLVER.GAN_WARMUP.GAN_BETAS", "SOLVER.JOINT.GAN_BETAS")),
    Rename("SOLVER.ID_LR", ("SOLVER.JOINT.LR",)),
    Rename("SOLVER.ID_MOMENTUM", ("SOLVER.JOINT.SGD_MOMENTUM",)),
    Rename("SOLVER.ID_WEIGHT_DECAY", ("SOLVER.JOINT.WEIGHT_DECAY",)),
    Rename("SOLVER.LR_DECAY_EPOCH", ("SOLVER.JOINT.LR_STEPS",), _as_epoch_tuple,
           "N becomes (N,)"),
    Rename("SOLVER.LR_DECAY_FACTOR", ("SOLVER.JOINT.LR_DECAY_FACTOR",)),
    Rename("SOLVER.DECAY_GAN_LR", ("SOLVER.JOINT.DECAY_GAN_LR",)),
    Rename("SOLVER.BASELINE.STEP_SIZE", ("SOLVER.BASELINE.LR_STEP_SIZE",)),
)
_BY_OLD = {rename.old: rename for rename in RENAMES}


def _message(rename: Rename, value: Any, source: str, overridden: Iterable[str] = ()) -> str:
    new = ", ".join(rename.new)
    note = f" ({rename.note})" if rename.note else ""
    text = (f"{rename.old} (in {source}) is deprecated and will be removed: use {new}; its "
            f"value {value!r} is used for {new}{note}")
    overridden = list(overridden)
    if overridden:
        text += f", replacing the value of {', '.join(overridden)} set in the same place"
    return text


def _warn(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=4)
    _logger.warning(message)


def _pop(data: dict, key: str) -> tuple[bool, Any]:
    """Remove the dotted ``key`` from the nested ``data``; (found, value)."""
    *sections, leaf = key.split(".")
    node = data
    for section in sections:
        node = node.get(section) if isinstance(node, Mapping) else None
        if not isinstance(node, dict):
            return False, None
    if leaf not in node or isinstance(node[leaf], Mapping):
        return False, None
    return True, node.pop(leaf)


def _has(data: Mapping, key: str) -> bool:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _put(data: dict, key: str, value: Any, source: str) -> None:
    *sections, leaf = key.split(".")
    node = data
    for section in sections:
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config key '{'.'.join(sections)}' in {source} is a section; "
                              f"expected a mapping, got {child!r}")
        node = child
    node[leaf] = value


def rename_mapping(data: Mapping, source: str, warn: bool = True) -> dict:
    """A copy of the nested config mapping ``data`` (read from ``source``) with every old key of
    :data:`RENAMES` moved to its new key(s); ``warn=False`` maps without a warning."""
    data = copy.deepcopy(dict(data))
    for rename in RENAMES:
        found, value = _pop(data, rename.old)
        if not found:
            continue
        if warn:
            _warn(_message(rename, value, source, [k for k in rename.new if _has(data, k)]))
        for key in rename.new:
            _put(data, key, rename.convert(copy.deepcopy(value)), source)
    return data


def rename_overrides(opts: Optional[Iterable[str]], source: str = "command-line overrides",
                     warn: bool = True) -> list:
    """``KEY VALUE`` pairs with every old key of :data:`RENAMES` replaced by its new key(s), in
    place (a later pair still wins over an earlier one). An odd list is returned as it is (the
    loader names that error)."""
    opts = list(opts or [])
    if len(opts) % 2:
        return opts
    out = []
    for key, value in zip(opts[0::2], opts[1::2]):
        rename = _BY_OLD.get(key)
        if rename is None:
            out += [key, value]
            continue
        if warn:
            _warn(_message(rename, value, source))
        for new in rename.new:
            out += [new, rename.convert(value)]
    return out
