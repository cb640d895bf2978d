"""Configuration of the ReID jobs: defaults, YAML files with ``_BASE_`` inheritance and
``KEY VALUE`` overrides (the loader is :mod:`common.config`; the keys and their rules are here).

>>> cfg = load_config("configs/market.yaml", ["MODEL.BACKBONE", "resnet101"])

Unknown keys are an error (:class:`ConfigError`) naming the key and the closest valid ones; so
is a value that breaks its rule (:mod:`reid.config.validation`), naming the key and the rule.
Keys that moved (:mod:`reid.config.renames`) are still read for one release, with a warning.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from common import config as _loader
from common.config import (CfgNode, ConfigError, merge_mapping, merge_overrides, read_yaml,
                           save_config, valid_keys)

from .defaults import get_cfg_defaults
from .renames import rename_mapping, rename_overrides
from .validation import validate_config

__all__ = [
    "CfgNode",
    "ConfigError",
    "get_cfg_defaults",
    "load_config",
    "merge_mapping",
    "merge_overrides",
    "save_config",
    "valid_keys",
    "validate_config",
]


def load_config(path: str | None = None, opts: Iterable[str] | None = None,
                freeze: bool = True, defaults: Callable[[], CfgNode] | None = None) -> CfgNode:
    """Defaults, then the YAML file at ``path`` (with ``_BASE_``), then ``KEY VALUE`` overrides.

    ``defaults`` builds the tree of valid keys (default: the ReID job's
    :func:`~reid.config.defaults.get_cfg_defaults`, whose values are then checked by
    :func:`~reid.config.validation.validate_config`). With the ReID tree, old keys of
    :data:`~reid.config.renames.RENAMES` in the file or the overrides are moved to their new
    keys first (with a DeprecationWarning).
    """
    if defaults is not None:
        return _loader.load_config(path, opts, defaults, freeze=freeze)

    def defaults_and_file() -> CfgNode:
        cfg = get_cfg_defaults()
        if path:
            source = os.path.basename(path)
            merge_mapping(cfg, rename_mapping(read_yaml(path), source), source)
        return cfg

    return _loader.load_config(None, rename_overrides(opts), defaults_and_file,
                               validate=validate_config, freeze=freeze)
