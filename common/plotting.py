"""Charts as PNG files: matplotlib without a display, written atomically."""
from __future__ import annotations

import io

from .io import atomic_write_bytes


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str) -> str:
    """Write ``fig`` to ``path`` (PNG), atomically; closes it; returns ``path``."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png")
    finally:
        pyplot().close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["pyplot", "save_figure"]
