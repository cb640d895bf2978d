"""Market-1501: ``<root>/Market-1501-v15.09.15/{bounding_box_train,query,bounding_box_test}``,
file names like ``0002_c1s1_000451_03.jpg`` (pid, camera 1-6, sequence, frame, box)."""
from __future__ import annotations

from .base import ReIDDataset
from .market_style import MARKET_PATTERN, MARKET_SUBSETS, read_market_style_dataset
from .registry import register_dataset

FOLDER_NAMES = ("Market-1501-v15.09.15", "Market-1501")
EXAMPLE = "0002_c1s1_000451_03.jpg"
LAYOUT = {MARKET_SUBSETS["train"]: f"e.g. {EXAMPLE}", MARKET_SUBSETS["query"]: "",
          MARKET_SUBSETS["gallery"]: "(-1_* junk dropped, 0000_* distractors kept)"}


@register_dataset("market1501", "market", "market-1501")
def read_market1501(root: str, test_only: bool = False) -> ReIDDataset:
    """Read Market-1501 below ``root`` (or ``root`` = the dataset folder itself); ``test_only``:
    query and gallery only (see :func:`read_market_style_dataset`)."""
    return read_market_style_dataset("market1501", root, FOLDER_NAMES, LAYOUT, MARKET_PATTERN,
                                     max_camera=6, example=EXAMPLE, test_only=test_only)
