"""Registry of dataset readers and :func:`build_dataset`.

A reader is any callable ``reader(root, **options) -> ReIDDataset``. Register your own with::

    @register_dataset("mycams", "my-cameras")
    def read_my_cameras(root, **options):
        ...
        return ReIDDataset("mycams", root, train, query, gallery)
"""
from __future__ import annotations

import inspect
from typing import Callable

from .base import ReIDDataset

Reader = Callable[..., ReIDDataset]

_READERS: dict[str, Reader] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower()


def register_dataset(name: str, *aliases: str) -> Callable[[Reader], Reader]:
    """Decorator registering a reader under ``name`` (and optional aliases); case-insensitive."""

    def decorator(reader: Reader) -> Reader:
        canonical = _key(name)
        for key in (canonical, *map(_key, aliases)):
            owner = _ALIASES.get(key)
            if owner is not None and owner != canonical:
                raise ValueError(f"Dataset name '{key}' is already registered for '{owner}'")
        _READERS[canonical] = reader
        _ALIASES[canonical] = canonical
        for alias in aliases:
            _ALIASES[_key(alias)] = canonical
        return reader

    return decorator


def available_datasets() -> list[str]:
    """Canonical names of every registered reader."""
    return sorted(_READERS)


def canonical_name(name: str) -> str:
    """The canonical reader name for ``name`` or an alias; ValueError listing valid names."""
    key = _key(name)
    if key not in _ALIASES:
        aliases = sorted(a for a in _ALIASES if a not in _READERS)
        raise ValueError(f"Unknown dataset '{name}'. Valid names: {', '.join(available_datasets())}"
                         f" (aliases: {', '.join(aliases)})")
    return _ALIASES[key]


def reader_accepts(name: str, option: str) -> bool:
    """Whether the reader of dataset ``name`` takes the keyword option ``option``."""
    parameters = inspect.signature(_READERS[canonical_name(name)]).parameters
    return option in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                       for p in parameters.values())


def build_dataset(name: str, root: str, verbose: bool = True, **options) -> ReIDDataset:
    """Read dataset ``name`` below ``root`` and log its summary table.

    Args:
        name: a registered name or alias (``market1501``, ``market``, ``duke``, ``msmt17``, ...).
        root: the folder that holds the datasets (or the dataset folder itself).
        verbose: log the summary table.
        **options: reader-specific options (e.g. ``merge_val`` for MSMT17, ``cameras`` for
            ``folder``; ``test_only`` = read query and gallery only, for the built-in readers).
    """
    reader = _READERS[canonical_name(name)]
    try:
        inspect.signature(reader).bind(root, **options)
    except TypeError as err:
        raise TypeError(f"Dataset '{name}' does not accept option(s) {sorted(options)}: "
                        f"{err}") from err
    dataset = reader(root, **options)
    if not isinstance(dataset, ReIDDataset):
        raise TypeError(f"Reader for dataset '{name}' returned {type(dataset).__name__}, "
                        f"expected ReIDDataset")
    if verbose:
        dataset.log_summary()
    return dataset
