"""Timing and peak memory of one GCL joint iteration (used by ``tools/bench_train.py``).

The joint iteration: E_id on x, E_str on s_ori / s_new, G for x'_ori and x'_new, E_id on x'_new,
the cycle G pass and E_id on x''_ori, the G/E_id step with L_img, L_feat, L_adv and the three
view-invariant losses against an instance memory, and the D step (LSGAN + R1). E_id is a
randomly initialised ResNet-50 (last stride 1); optimisers as in the paper.
"""
from __future__ import annotations

import os
import resource
import sys
import threading
import time
from typing import Optional

import torch

from ...memory.instance_memory import InstanceMemory
from common.precision import resolve_precision
from .generative_module import GCLGenerativeModule
from .grad import count_parameters
from .train_step import GCLStepConfig, GCLTrainStep


class RSSPeakMonitor:
    """Samples the resident set size of this process in a thread; ``peak_bytes`` since ``reset``."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._page = os.sysconf("SC_PAGE_SIZE")

    def _current(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._current())
            time.sleep(self.interval_s)

    def reset(self) -> None:
        self.peak_bytes = self._current()

    def __enter__(self) -> "RSSPeakMonitor":
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _build(device: torch.device, num_samples: int, seed: int):
    from ..identity_encoder import IdentityEncoder

    torch.manual_seed(seed)
    encoder = IdentityEncoder("resnet50", last_stride=1, num_parts=4, embed_dim=512).to(device)
    generative = GCLGenerativeModule().to(device)
    memory = InstanceMemory(num_samples, 512, momentum=0.2).to(device)
    memory.initialize(torch.randn(num_samples, 512, device=device))
    labels = torch.randint(0, max(1, num_samples // 17), (num_samples,), device=device)
    labels[torch.rand(num_samples, device=device) < 0.1] = -1
    memory.set_labels(labels)
    id_opt = torch.optim.SGD(encoder.parameters(), lr=3.5e-4, momentum=0.9, nesterov=True, weight_decay=5e-4)
    gen_opt = torch.optim.Adam(generative.generator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    dis_opt = torch.optim.Adam(generative.discriminator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    return encoder, generative, memory, id_opt, gen_opt, dis_opt


def _batch(batch_size: int, size: tuple[int, int], num_samples: int, device: torch.device, seed: int,
           memory_format: torch.memory_format = torch.contiguous_format):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    x = torch.rand(batch_size, 3, h, w, generator=g) * 2 - 1
    s_ori = torch.rand(batch_size, 1, h, w, generator=g) * 2 - 1
    s_new = torch.rand(batch_size, 1, h, w, generator=g) * 2 - 1
    idx = torch.randperm(num_samples, generator=g)[:batch_size]
    images = [t.to(device).contiguous(memory_format=memory_format) for t in (x, s_ori, s_new)]
    return (*images, idx.to(device))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_joint_step(efficient: bool, batch_size: int = 16, iters: int = 1, warmup: int = 1,
                    device: str = "cpu", size: tuple[int, int] = (256, 128),
                    num_samples: int = 12936, num_negatives: int = 8192, seed: int = 0,
                    monitor: Optional[RSSPeakMonitor] = None, precision: str = "fp32",
                    channels_last: bool = False) -> dict:
    """Build the networks, run ``warmup`` + ``iters`` joint iterations, return timings and peaks.

    ``precision`` and ``channels_last`` apply to the efficient step; the reference step always
    runs in float32 with contiguous tensors.
    """
    dev = torch.device(device)
    encoder, generative, memory, id_opt, gen_opt, dis_opt = _build(dev, num_samples, seed)
    memory_format = torch.contiguous_format
    if efficient and channels_last:
        memory_format = torch.channels_last
        encoder.to(memory_format=memory_format)
        generative.to(memory_format=memory_format)
    config = GCLStepConfig(num_negatives=num_negatives, precision=precision if efficient else "fp32")
    step = GCLTrainStep(encoder, generative, id_opt, gen_opt, dis_opt, memory, config,
                        train_encoder=True, efficient=efficient)
    batch = _batch(batch_size, size, num_samples, dev, seed, memory_format)
    name = "gcl" if efficient else "reference"
    for i in range(warmup):
        start = time.perf_counter()
        step(*batch)
        print(f"[{name}] warm-up {i + 1}/{warmup}: {time.perf_counter() - start:.2f} s", file=sys.stderr, flush=True)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    if monitor is not None:
        monitor.reset()
    times = []
    terms = {}
    for _ in range(iters):
        _sync(dev)
        start = time.perf_counter()
        terms = step(*batch)
        _sync(dev)
        times.append(time.perf_counter() - start)
        print(f"[{name}] iteration {len(times)}/{iters}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    result = {
        "precision": resolve_precision(config.precision, dev),
        "channels_last": memory_format == torch.channels_last,
        "seconds_per_iter": sum(times) / len(times),
        "iters_per_second": len(times) / sum(times),
        "loss_terms": {k: round(v, 5) for k, v in terms.items() if isinstance(v, float)},
        "params_M": {
            "E_id": round(count_parameters(encoder) / 1e6, 3),
            "E_str+G": round(count_parameters([generative.structure_encoder, generative.generator]) / 1e6, 3),
            "D": round(count_parameters(generative.discriminator) / 1e6, 3),
        },
    }
    if monitor is not None:
        result["peak_rss_gb"] = round(monitor.peak_bytes / 2 ** 30, 3)
    if dev.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(dev) / 2 ** 30, 3)
    del step, encoder, generative, memory, id_opt, gen_opt, dis_opt, batch
    return result


def run_train_benchmark(batch_size: int = 16, iters: int = 1, warmup: int = 1, device: str = "cpu",
                        reference: bool = False, size: tuple[int, int] = (256, 128),
                        num_negatives: int = 8192, precision: str = "fp32",
                        channels_last: bool = False) -> dict:
    """Efficient step (and, with ``reference``, the straightforward one afterwards) on one device."""
    report: dict = {"batch_size": batch_size, "image_size": list(size), "device": device,
                    "iters": iters, "warmup": warmup, "torch_threads": torch.get_num_threads()}
    with RSSPeakMonitor() as monitor:
        report["gcl"] = time_joint_step(True, batch_size, iters, warmup, device, size,
                                        num_negatives=num_negatives, monitor=monitor,
                                        precision=precision, channels_last=channels_last)
        if reference:
            import gc

            gc.collect()
            report["reference"] = time_joint_step(False, batch_size, iters, warmup, device, size,
                                                  num_negatives=num_negatives, monitor=monitor)
    report["max_rss_gb_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 3)
    if reference:
        report["speedup_vs_reference"] = round(
            report["reference"]["seconds_per_iter"] / report["gcl"]["seconds_per_iter"], 3)
        if "peak_rss_gb" in report["reference"]:
            report["memory_ratio_vs_reference"] = round(
                report["gcl"]["peak_rss_gb"] / max(report["reference"]["peak_rss_gb"], 1e-9), 3)
    return report
