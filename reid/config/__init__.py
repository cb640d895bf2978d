"""Configuration of the ReID jobs: defaults, YAML files with ``_BASE_`` inheritance and
``KEY VALUE`` overrides (the loader is :mod:`common.config`; the keys and their rules are here).

>>> cfg = load_config("configs/market.yaml", ["MODEL.BACKBONE", "resnet101"])

Unknown keys are an error (:class:`ConfigError`) naming the key and the closest valid ones; so
is a value that breaks its rule (:mod:`reid.config.validation`), naming the key and the rule.
"""
from __future__ import annotations

from typing import Callable, Iterable

from common import config as _loader
from common.config import CfgNode, ConfigError, merge_mapping, merge_overrides, save_config, valid_keys

from .defaults import get_cfg_defaults
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
    :func:`~reid.config.validation.validate_config`).
    """
    return _loader.load_config(path, opts, defaults or get_cfg_defaults,
                               validate=validate_config if defaults is None else None,
                               freeze=freeze)
