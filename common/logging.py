"""A logger that prints to the console and, when given a folder, appends to ``<folder>/log.txt``."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(name)s %(levelname)s: %(message)s"


def setup_logger(name: str = "reid", output_dir: str | None = None,
                 level: int = logging.INFO, filename: str = "log.txt") -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_reid_console", False) for h in logger.handlers):
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        console._reid_console = True  # type: ignore[attr-defined]
        logger.addHandler(console)
    if output_dir:
        path = os.path.abspath(os.path.join(output_dir, filename))
        if not any(getattr(h, "baseFilename", None) == path for h in logger.handlers):
            os.makedirs(output_dir, exist_ok=True)
            handler = logging.FileHandler(path)
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
    return logger
