"""Charts as PNG files: matplotlib without a display, written atomically."""
from __future__ import annotations

import os


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` (PNG) through a temporary file, close it; returns ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = path + ".tmp.png"
    try:
        fig.savefig(tmp)
        os.replace(tmp, path)
    finally:
        pyplot().close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


__all__ = ["pyplot", "save_figure"]
