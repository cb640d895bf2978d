"""A user's own camera network, and the project's synthetic dataset, in the Market-1501 layout.

``generic``: ``<root>/{bounding_box_train,query,bounding_box_test}`` directly under ``root``.
``synthetic``: the same layout directly under ``root`` (or under ``<root>/synthetic``).
File names start with ``<pid>_c<camera>`` (e.g. ``0007_c3_000123.jpg``); cameras are numbered from 1
(any number of cameras); pid -1 is junk (dropped), pid 0 a distractor (gallery only). Without
``query`` and ``bounding_box_test`` the folder is train-only (training runs, evaluation is skipped).
"""
from __future__ import annotations

from .base import ReIDDataset
from .market_style import GENERIC_PATTERN, MARKET_SUBSETS, read_market_style_dataset
from .registry import register_dataset

EXAMPLE = "0007_c3_000123.jpg"
LAYOUT = {MARKET_SUBSETS["train"]: f"e.g. {EXAMPLE}", MARKET_SUBSETS["query"]: "",
          MARKET_SUBSETS["gallery"]: ""}


@register_dataset("generic", "custom")
def read_generic(root: str, test_only: bool = False) -> ReIDDataset:
    """Read a Market-style folder of the user's own cameras directly in ``root``; ``test_only``:
    query and gallery only (see :func:`read_market_style_dataset`)."""
    return read_market_style_dataset("generic", root, (), LAYOUT, GENERIC_PATTERN,
                                     max_camera=None, example=EXAMPLE, test_only=test_only)


@register_dataset("synthetic", "synth")
def read_synthetic(root: str, test_only: bool = False) -> ReIDDataset:
    """Read the synthetic dataset (Market layout) in ``root`` or ``<root>/synthetic``."""
    return read_market_style_dataset("synthetic", root, ("synthetic",), LAYOUT, GENERIC_PATTERN,
                                     max_camera=None, example=EXAMPLE, test_only=test_only)
