"""One JSON record per benchmark run, with the machine it ran on.

Every ``tools/bench_*.py`` prints its figures and, given ``--json-dir DIR`` (``make bench``
passes ``outputs/bench``), also writes them to ``DIR/<benchmark>.json`` through
:func:`write_record`. The record wraps the benchmark's own figures with what is needed to read
them: the CPU model and its matrix instructions (AMX, AVX512-BF16, AVX512, AVX2), the thread
count, the 1-minute load average at the end of the run, the torch version and the command line.
``tools/bench_report.py`` turns the records of a folder into one markdown table.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from typing import Any, Optional

from common.io import atomic_write_json
from common.precision import cpu_matrix_isa

RECORD_VERSION = 1


def _cpu_model() -> str:
    """The CPU's marketing name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What a benchmark figure depends on besides the code."""
    import torch

    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_isa": cpu_matrix_isa(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    if hasattr(os, "getloadavg"):
        info["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return info


def add_json_dir_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--json-dir`` option every benchmark command line shares."""
    parser.add_argument("--json-dir", default=None, metavar="DIR",
                        help="also write the figures to DIR/<benchmark>.json with the machine "
                             "they ran on (make bench: outputs/bench)")


def make_record(benchmark: str, figures: dict[str, Any],
                argv: Optional[list[str]] = None) -> dict[str, Any]:
    """The record of one run: benchmark name, figures, machine, command, time (UTC)."""
    if not benchmark or not benchmark.replace("_", "").isalnum():
        raise ValueError(f"benchmark name must be a plain word (letters, digits, _), "
                         f"got {benchmark!r}")
    argv = list(sys.argv) if argv is None else list(argv)
    return {
        "record_version": RECORD_VERSION,
        "benchmark": benchmark,
        "figures": figures,
        "machine": machine_info(),
        "command": " ".join([os.path.basename(argv[0])] + argv[1:]) if argv else "",
        "finished_utc": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_record(benchmark: str, figures: dict[str, Any], json_dir: Optional[str],
                 argv: Optional[list[str]] = None) -> Optional[str]:
    """Write ``json_dir/<benchmark>.json`` atomically (replacing an earlier run's record of the
    same benchmark); returns its path, or None when ``json_dir`` is None."""
    if json_dir is None:
        return None
    record = make_record(benchmark, figures, argv)
    os.makedirs(json_dir, exist_ok=True)
    return atomic_write_json(os.path.join(json_dir, f"{benchmark}.json"), record)
