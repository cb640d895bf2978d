"""Config files for every job of the project: yacs trees, YAML files with ``_BASE_``
inheritance and command-line ``KEY VALUE`` overrides.

>>> cfg = load_config("configs/market.yaml", ["MODEL.BACKBONE", "resnet101"], defaults=my_defaults)

The tree of valid keys (``defaults``) is passed in by each job: the ReID trainer
(:func:`reid.config.load_config`) and the video-GAN jobs (:func:`generators.config.load_generator_config`).
Unknown keys are a :class:`ConfigError` naming the key, the file and the closest valid ones.
"""
from __future__ import annotations

import difflib
import os
from ast import literal_eval
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml
from yacs.config import CfgNode

__all__ = [
    "CfgNode",
    "ConfigError",
    "load_config",
    "merge_mapping",
    "merge_overrides",
    "read_yaml",
    "save_config",
    "valid_keys",
]


class ConfigError(ValueError):
    """A configuration file, override or value that does not fit the defaults or their rules."""


BASE_KEY = "_BASE_"


def valid_keys(cfg: CfgNode, prefix: str = "") -> list[str]:
    """All leaf keys of ``cfg`` as dotted paths."""
    keys = []
    for name, value in cfg.items():
        path = f"{prefix}{name}"
        if isinstance(value, CfgNode):
            keys.extend(valid_keys(value, path + "."))
        else:
            keys.append(path)
    return keys


def _unknown_key_error(key: str, cfg: CfgNode, source: str) -> ConfigError:
    candidates = valid_keys(cfg)
    close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
    if not close:  # fall back to keys that share the last component or the section
        leaf = key.split(".")[-1]
        close = [c for c in candidates if c.split(".")[-1] == leaf][:3]
    hint = f"; closest valid keys: {', '.join(close)}" if close else ""
    return ConfigError(f"unknown config key '{key}' in {source}{hint}")


def read_yaml(path: str, chain: tuple[str, ...] = ()) -> dict:
    """Read a YAML file and resolve ``_BASE_`` (a path relative to the file, or a list of them)."""
    path = os.path.abspath(path)
    if path in chain:
        raise ConfigError(f"config {path}: _BASE_ cycle through {' -> '.join(chain)}")
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path}: expected a mapping at the top level, got "
                          f"{type(data).__name__}")
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    if isinstance(bases, str):
        bases = [bases]
    merged: dict = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        _deep_update(merged, read_yaml(base_path, chain + (path,)))
    _deep_update(merged, data)
    return merged


def _deep_update(target: dict, update: Mapping) -> dict:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), Mapping):
            _deep_update(target[key], value)
        else:
            target[key] = value
    return target


def _check_keys(data: Mapping, cfg: CfgNode, source: str, root: CfgNode | None = None,
                prefix: str = "") -> None:
    root = cfg if root is None else root
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in cfg:
            raise _unknown_key_error(path, root, source)
        node = cfg[key]
        if isinstance(node, CfgNode):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key '{path}' in {source} is a section; "
                                  f"expected a mapping, got {value!r}")
            _check_keys(value, node, source, root, path + ".")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _widen_ints(data: Any, node: Any) -> Any:
    """``data`` with every integer whose default in ``node`` is a float made a float (``20``
    for a minutes budget means 20.0), so yacs' exact type check does not refuse it."""
    if isinstance(data, Mapping) and isinstance(node, CfgNode):
        return {k: _widen_ints(v, node[k]) if k in node else v for k, v in data.items()}
    if isinstance(node, float) and _is_int(data):
        return float(data)
    return data


def _widen_int_literal(text: Any, default: Any) -> Any:
    """A command-line value: an integer literal for a float default becomes a float literal."""
    if not isinstance(default, float) or not isinstance(text, str):
        return text
    try:
        value = literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return repr(float(value)) if _is_int(value) else text


def _leaf(cfg: CfgNode, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def merge_mapping(cfg: CfgNode, data: Mapping, source: str) -> None:
    """Merge a YAML mapping read from ``source`` into ``cfg``; unknown keys are a ConfigError.
    Integers are accepted where the default is a float."""
    _check_keys(data, cfg, source)
    try:
        cfg.merge_from_other_cfg(CfgNode(_widen_ints(_to_plain(data), cfg)))
    except (ValueError, KeyError, AssertionError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def _to_plain(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _to_plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_to_plain(v) for v in data]
    return data


def merge_overrides(cfg: CfgNode, opts: Sequence[str]) -> CfgNode:
    """Apply command-line ``KEY VALUE`` pairs (values parsed as YAML / Python literals; an
    integer is accepted where the default is a float)."""
    opts = list(opts or [])
    if len(opts) % 2:
        raise ConfigError(f"command-line overrides must be KEY VALUE pairs; got an odd list: {opts}")
    all_keys = set(valid_keys(cfg))
    for key in opts[0::2]:
        if key not in all_keys:
            raise _unknown_key_error(key, cfg, "command-line overrides")
    for i in range(0, len(opts), 2):
        opts[i + 1] = _widen_int_literal(opts[i + 1], _leaf(cfg, opts[i]))
    try:
        cfg.merge_from_list(opts)
    except (ValueError, KeyError, AssertionError) as exc:
        raise ConfigError(f"command-line overrides: {exc}") from exc
    return cfg


def load_config(path: str | None, opts: Iterable[str] | None, defaults: Callable[[], CfgNode],
                validate: Callable[[CfgNode], None] | None = None,
                freeze: bool = True) -> CfgNode:
    """``defaults()``, then the YAML file at ``path`` (with ``_BASE_``), then ``KEY VALUE``
    overrides; ``validate`` (if given) checks the values of the result."""
    cfg = defaults()
    if path:
        merge_mapping(cfg, read_yaml(path), os.path.basename(path))
    merge_overrides(cfg, list(opts or []))
    if validate is not None:
        validate(cfg)
    if freeze:
        cfg.freeze()
    return cfg


def save_config(cfg: CfgNode, path: str) -> str:
    """Write the resolved config atomically; returns the path."""
    from .io import atomic_write_text

    atomic_write_text(path, cfg.dump())
    return path
