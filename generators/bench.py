"""Speed and memory of the video GANs: seconds per training iteration (one D and one G update)
and peak memory for ImaGINator and G3AN, plus thesis table 3.12 (transposed 3D vs (1+2)D
convolutions in the ImaGINator generator)."""
from __future__ import annotations

import os
import resource
import tempfile
import time

import torch
from torch.utils.data import Dataset

from .config import get_generator_defaults
from .layers import count_parameters
from .training import VideoGANTrainer, build_generator


class RandomClips(Dataset):
    """Random labelled clips of the right size (the benchmark measures compute only)."""

    def __init__(self, count: int, frames: int, num_classes: int):
        gen = torch.Generator().manual_seed(0)
        self.videos = torch.rand(count, 3, frames, 64, 64, generator=gen) * 2 - 1
        self.labels = torch.randint(0, max(1, num_classes), (count,), generator=gen)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        return {"video": self.videos[i], "label": int(self.labels[i]), "index": i}


def model_config(name: str, base_channels: int = 64, batch_size: int = 2, conv_type: str = "1+2d",
                 device: str = "auto", output_dir: str | None = None):
    cfg = get_generator_defaults()
    cfg.MODEL.NAME = name
    cfg.MODEL.BASE_CHANNELS = base_channels
    cfg.MODEL.CONV_TYPE = conv_type
    cfg.MODEL.DEVICE = device
    cfg.SOLVER.BATCH_SIZE = batch_size
    cfg.OUTPUT_DIR = output_dir or os.path.join(tempfile.gettempdir(), "video_gan_bench")
    cfg.SOLVER.RESUME = False
    if name == "imaginator":
        cfg.MODEL.NUM_CLASSES, cfg.MODEL.VIDEO_D, cfg.MODEL.IMAGE_D_FRAMES = 10, "3d", 16
    else:
        cfg.MODEL.NUM_CLASSES, cfg.MODEL.VIDEO_D, cfg.MODEL.IMAGE_D_FRAMES = 0, "2+1d", 1
    return cfg


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # process peak RSS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training_iteration(cfg, iterations: int = 2, warmup: int = 1) -> dict[str, float]:
    """Mean seconds of one full training iteration and the peak memory (GPU allocator or CPU
    process RSS)."""
    frames = 32 if cfg.MODEL.NAME == "imaginator" else 16
    data = RandomClips(max(2, cfg.SOLVER.BATCH_SIZE), frames, cfg.MODEL.NUM_CLASSES)
    trainer = VideoGANTrainer(cfg, dataset=data)
    device = trainer.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    batch = {"video": data.videos[:cfg.SOLVER.BATCH_SIZE],
             "label": data.labels[:cfg.SOLVER.BATCH_SIZE]}
    for _ in range(warmup):
        trainer.step(batch)
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.step(batch)
    _sync(device)
    seconds = (time.perf_counter() - start) / iterations
    return {"seconds_per_iteration": seconds, "peak_memory_mb": _peak_bytes(device) / 2 ** 20,
            "generator_parameters": count_parameters(trainer.G), "device": device.type}


def time_generator_step(cfg, iterations: int = 2, warmup: int = 1) -> dict[str, float]:
    """Seconds of one generator forward + backward (L1 to a random clip) and its parameters."""
    from reid.utils import resolve_device

    device = resolve_device(cfg.MODEL.DEVICE)
    g = build_generator(cfg).to(device).train()
    batch = cfg.SOLVER.BATCH_SIZE
    image = torch.rand(batch, 3, 64, 64, device=device) * 2 - 1
    labels = torch.arange(batch, device=device) % max(1, cfg.MODEL.NUM_CLASSES)
    target = torch.rand(batch, 3, 32, 64, 64, device=device) * 2 - 1

    def step() -> None:
        g.zero_grad(set_to_none=True)
        (g(image, labels) - target).abs().mean().backward()

    for _ in range(warmup):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    _sync(device)
    return {"seconds_per_step": (time.perf_counter() - start) / iterations,
            "parameters": count_parameters(g)}


def run_benchmark(base_channels: int = 64, batch_size: int = 2, iterations: int = 2,
                  device: str = "auto", models=("imaginator", "g3an")) -> dict:
    """Everything the benchmark reports, as one dictionary."""
    result: dict = {"base_channels": base_channels, "batch_size": batch_size,
                    "iterations": iterations, "torch_threads": torch.get_num_threads()}
    for name in models:
        result[name] = time_training_iteration(
            model_config(name, base_channels, batch_size, device=device), iterations)
    conv3d = time_generator_step(model_config("imaginator", base_channels, batch_size, "3d",
                                              device), iterations)
    conv12 = time_generator_step(model_config("imaginator", base_channels, batch_size, "1+2d",
                                              device), iterations)
    result["table_3_12"] = {
        "transposed_3d": conv3d, "transposed_1plus2d": conv12,
        "time_ratio_3d_over_1plus2d": conv3d["seconds_per_step"] / conv12["seconds_per_step"],
        "paper_time_ratio": 16.7 / 11.9,
    }
    return result
