"""Rows of the ``make bench`` table and the registry of per-benchmark summarisers (used by
:mod:`benchmarks.report` and filled by :mod:`benchmarks.report_rows`)."""
from __future__ import annotations

from typing import Any, Callable, Optional

Row = dict[str, str]


def ratio_text(value: Optional[float]) -> str:
    return "" if value is None else f"x{value:.1f}" if value >= 10 else f"x{value:.2f}"


def met_text(met: Optional[bool]) -> str:
    return "" if met is None else ("yes" if met else "**no**")


def row(work: str, result: str, reference: str = "", ratio: Optional[float] = None,
        target: str = "", met: Optional[bool] = None) -> Row:
    """One table row; ``ratio`` is the reference's time over ours (higher is better)."""
    return {"work": work, "result": result, "reference in the same run": reference,
            "ratio": ratio_text(ratio), "target": target, "met": met_text(met)}


SUMMARISERS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {}


def summariser(benchmark: str):
    """Register the function turning ``benchmark``'s figures into table rows."""
    def register(fn):
        SUMMARISERS[benchmark] = fn
        return fn
    return register
