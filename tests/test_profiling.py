"""common.profiling.PeakMemory: CPU resident-memory peaks (sampled and kernel high-water mark),
the CUDA allocator's peak, and the fallbacks."""
import mmap
import time

import numpy as np
import pytest
import torch

from common import profiling
from common.profiling import PeakMemory, current_rss_bytes, process_peak_rss_bytes

MB = 2 ** 20
SIZE = 96 * MB


def _touched_array(nbytes: int) -> np.ndarray:
    """An array on pages of its own, all resident: an anonymous mapping written through (a
    malloc'ed array could reuse memory the process already holds after earlier tests, and
    np.zeros would leave its pages untouched). Freeing the array unmaps them."""
    array = np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.float64)
    array.fill(1.0)
    return array


def test_helpers_report_this_process():
    rss = current_rss_bytes()
    if rss is None:
        pytest.skip("no /proc/self/statm on this platform")
    assert rss > 0
    assert process_peak_rss_bytes() >= rss * 0.5  # lifetime peak, at least of the order of now


def test_array_kept_to_the_end_of_the_block():
    with PeakMemory() as peak:
        array = _touched_array(SIZE)
    assert array.nbytes == SIZE
    assert SIZE * 0.9 <= peak.delta_bytes <= SIZE * 1.5, peak
    assert peak.peak_bytes == peak.start_bytes + peak.delta_bytes
    assert peak.source in ("statm", "getrusage")
    del array


def test_array_freed_inside_the_block_still_counts():
    if current_rss_bytes() is None:
        pytest.skip("no /proc/self/statm on this platform")
    with PeakMemory(interval_s=0.001) as peak:
        array = _touched_array(SIZE)
        time.sleep(0.2)
        del array
    after = current_rss_bytes()
    assert SIZE * 0.9 <= peak.delta_bytes <= SIZE * 1.5, peak
    assert after < peak.peak_bytes - SIZE * 0.5  # the memory was given back before the exit


def test_live_reading_and_reset():
    with PeakMemory() as peak:
        array = _touched_array(SIZE)
        assert peak.delta_bytes >= SIZE * 0.9  # read inside the block
        peak.reset()
        assert peak.delta_bytes < SIZE * 0.5  # measured afresh from here
        del array
    assert peak.delta_bytes < SIZE * 0.5


def test_small_block_adds_little():
    with PeakMemory() as peak:
        sum(range(1000))
    assert 0 <= peak.delta_bytes < 16 * MB


def test_getrusage_fallback_without_proc(monkeypatch):
    """Without /proc only a new lifetime record of the process is seen, and then exactly."""
    lifetime = iter([500 * MB, 620 * MB])  # at entry, at exit
    monkeypatch.setattr(profiling, "current_rss_bytes", lambda: None)
    monkeypatch.setattr(profiling, "process_peak_rss_bytes", lambda: next(lifetime))
    with PeakMemory() as peak:
        assert peak.source == "getrusage"
    assert (peak.start_bytes, peak.peak_bytes, peak.delta_bytes) == (500 * MB, 620 * MB, 120 * MB)

    lifetime = iter([500 * MB, 500 * MB])  # the block stayed below the earlier record
    with PeakMemory() as peak:
        pass
    assert peak.delta_bytes == 0


def test_kernel_high_water_mark_completes_the_samples(monkeypatch):
    """A spike the sampling thread missed still counts when it set a new lifetime record."""
    lifetime = iter([400 * MB, 900 * MB])
    monkeypatch.setattr(profiling, "current_rss_bytes", lambda: 300 * MB)
    monkeypatch.setattr(profiling, "process_peak_rss_bytes", lambda: next(lifetime))
    with PeakMemory(interval_s=3600) as peak:
        assert peak.source == "statm"
    assert (peak.start_bytes, peak.peak_bytes) == (300 * MB, 900 * MB)


def test_cpu_device_names():
    for device in (None, "cpu", torch.device("cpu")):
        assert PeakMemory(device).device.type == "cpu"


def test_block_cannot_be_entered_twice():
    peak = PeakMemory()
    with peak:
        with pytest.raises(RuntimeError, match="already"):
            peak.__enter__()


def test_cuda_path_reads_the_allocator(monkeypatch):
    """The CUDA bookkeeping with the allocator's counters stood in for (runs without a GPU)."""
    calls = []
    counters = {"allocated": 10 * MB, "peak": 50 * MB}

    def reset(device):
        calls.append(("reset", device))
        counters["peak"] = counters["allocated"]

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: counters["allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: counters["peak"])
    with PeakMemory("cuda:0") as peak:
        counters["peak"] = 74 * MB  # a tensor came and went
        counters["allocated"] = 12 * MB
        assert peak.delta_bytes == 64 * MB  # live reading
    assert calls[0] == "sync" and calls[1] == ("reset", torch.device("cuda:0"))
    assert calls[-1] == "sync"  # queued kernels finish before the peak is read
    assert (peak.source, peak.start_bytes, peak.peak_bytes) == ("cuda", 10 * MB, 74 * MB)
    assert peak.delta_bytes == 64 * MB


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_allocator_peak():
    device = torch.device("cuda")
    keep = torch.empty(8 * MB, dtype=torch.uint8, device=device)  # allocated before the block
    with PeakMemory(device) as peak:
        transient = torch.empty(64 * MB, dtype=torch.uint8, device=device)
        del transient
        kept = torch.empty(16 * MB, dtype=torch.uint8, device=device)
    assert peak.source == "cuda"
    assert peak.start_bytes >= keep.numel()
    assert peak.delta_bytes >= 64 * MB  # the freed tensor counts: it was the peak
    assert peak.delta_bytes < 64 * MB + 16 * MB + 4 * MB
    assert peak.peak_bytes == peak.start_bytes + peak.delta_bytes
    del keep, kept
