"""DukeMTMC-reID: ``<root>/DukeMTMC-reID/{bounding_box_train,query,bounding_box_test}``,
file names like ``0001_c2_f0046182.jpg`` (pid, camera 1-8, frame)."""
from __future__ import annotations

from .base import ReIDDataset
from .market_style import MARKET_PATTERN, MARKET_SUBSETS, read_market_style_dataset
from .registry import register_dataset

FOLDER_NAMES = ("DukeMTMC-reID",)
EXAMPLE = "0001_c2_f0046182.jpg"
LAYOUT = {MARKET_SUBSETS["train"]: f"e.g. {EXAMPLE}", MARKET_SUBSETS["query"]: "",
          MARKET_SUBSETS["gallery"]: ""}


@register_dataset("dukemtmc", "duke", "dukemtmc-reid")
def read_dukemtmc(root: str, test_only: bool = False) -> ReIDDataset:
    """Read DukeMTMC-reID below ``root`` (or ``root`` = the dataset folder itself); ``test_only``:
    query and gallery only (see :func:`read_market_style_dataset`)."""
    return read_market_style_dataset("dukemtmc", root, FOLDER_NAMES, LAYOUT, MARKET_PATTERN,
                                     max_camera=8, example=EXAMPLE, test_only=test_only)
