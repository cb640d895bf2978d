"""Peak memory of a block of code: the CUDA allocator's peak on a GPU, the resident set size of
the process on the CPU.

>>> with PeakMemory() as peak:                 # CPU: resident memory of this process
...     work()
>>> peak.peak_bytes, peak.delta_bytes          # highest value during the block, and above entry

>>> with PeakMemory("cuda") as peak:           # GPU: bytes held by torch's caching allocator
...     work_on_gpu()

On the CPU a thread samples ``/proc/self/statm`` every few milliseconds; the kernel's high-water
mark (``getrusage``) completes the samples whenever the process set a new lifetime record inside
the block, so a short spike between two samples is not lost then. Without ``/proc`` (macOS, BSD)
only ``getrusage`` is left: the block's peak is seen when it raised the process's lifetime peak,
and ``delta_bytes`` is the rise of that lifetime peak.

On CUDA the block resets the device's peak statistics on entry (blocks on the same device should
not be nested: the inner one resets the outer one's peak).
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Optional, Union

import torch

try:
    import resource
except ImportError:  # not on Windows
    resource = None

_STATM = "/proc/self/statm"

__all__ = ["PeakMemory", "current_rss_bytes", "process_peak_rss_bytes"]


def current_rss_bytes() -> Optional[int]:
    """Resident set size of this process now, in bytes; ``None`` without ``/proc``."""
    try:
        with open(_STATM, "r", encoding="ascii") as handle:
            resident_pages = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def process_peak_rss_bytes() -> int:
    """Highest resident set size this process has had since it started, in bytes (0 when the
    platform does not report it)."""
    if resource is None:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # bytes there, KiB here


class PeakMemory:
    """Context manager measuring the peak memory of its block.

    Args:
        device: a CUDA device (``"cuda"``, ``"cuda:1"``, ``torch.device``) measures the torch
            allocator on it; ``None`` or a CPU device measures the process's resident memory.
        interval_s: sampling period of the resident-memory thread (CPU only).

    Attributes (after the block; ``peak_bytes`` and ``delta_bytes`` also read live inside it):
        peak_bytes: the highest value during the block (allocated CUDA bytes, or process RSS).
        start_bytes: the value at entry (or at the last :meth:`reset`).
        delta_bytes: ``peak_bytes - start_bytes``, what the block added at its peak.
        source: ``"cuda"``, ``"statm"`` (sampled RSS) or ``"getrusage"`` (lifetime peak only).
    """

    def __init__(self, device: Union[str, torch.device, None] = None,
                 interval_s: float = 0.005) -> None:
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.interval_s = interval_s
        self.start_bytes = 0
        self._peak = 0
        self._lifetime_peak_at_start = 0
        self._active = False
        self._lock = threading.Lock()  # the sampling thread and live readings both raise the peak
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        if self.device.type == "cuda":
            self.source = "cuda"
        elif current_rss_bytes() is not None:
            self.source = "statm"
        else:
            self.source = "getrusage"

    # -- measurement -------------------------------------------------------------------------
    def _sample(self) -> None:
        rss = current_rss_bytes()
        if rss is not None:
            with self._lock:
                self._peak = max(self._peak, rss)

    def _sampling_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _lifetime_peak_in_block(self) -> int:
        """The process's lifetime peak if the block raised it (then it is the block's peak)."""
        lifetime = process_peak_rss_bytes()
        return lifetime if lifetime > self._lifetime_peak_at_start else 0

    def reset(self) -> None:
        """Start measuring afresh from now (the block goes on)."""
        if self.source == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_bytes = self._peak = torch.cuda.memory_allocated(self.device)
            return
        self._lifetime_peak_at_start = process_peak_rss_bytes()
        if self.source == "statm":
            with self._lock:
                self.start_bytes = self._peak = current_rss_bytes() or 0
        else:
            self.start_bytes = self._peak = self._lifetime_peak_at_start

    def _read_peak(self) -> int:
        if self.source == "cuda":
            return max(self._peak, torch.cuda.max_memory_allocated(self.device))
        if self.source == "statm":
            self._sample()
        return max(self._peak, self._lifetime_peak_in_block())

    @property
    def peak_bytes(self) -> int:
        return self._read_peak() if self._active else self._peak

    @property
    def delta_bytes(self) -> int:
        return max(self.peak_bytes - self.start_bytes, 0)

    # -- context manager ---------------------------------------------------------------------
    def __enter__(self) -> "PeakMemory":
        if self._active:
            raise RuntimeError("PeakMemory: this block is already being measured")
        self.reset()
        self._active = True
        if self.source == "statm":
            self._stop.clear()
            self._thread = threading.Thread(target=self._sampling_loop, name="peak-memory",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self.source == "cuda":
            torch.cuda.synchronize(self.device)
        self._peak = self._read_peak()
        self._active = False

    def __repr__(self) -> str:
        return (f"PeakMemory(device={str(self.device)!r}, source={self.source!r}, "
                f"peak_bytes={self.peak_bytes}, delta_bytes={self.delta_bytes})")
