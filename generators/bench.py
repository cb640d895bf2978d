"""Speed and memory of the video GANs: seconds per training iteration (one D and one G update)
and peak memory for ImaGINator, G3AN, InMoDeGAN and MoStGAN-V (the style-based models each in a
fresh process so that the CPU peak RSS is per model; the GPU peak is reset per model), plus thesis table 3.12 (transposed 3D vs (1+2)D
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


def style_model_config(name: str, size: str = "paper", batch_size: int = 2,
                       device: str = "auto"):
    """The shipped ``configs/generators/<name>[_synthetic].yaml`` (``size`` paper | synthetic)."""
    from .config import load_generator_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    suffix = "" if size == "paper" else "_synthetic"
    path = os.path.join(root, "configs", "generators", f"{name}{suffix}.yaml")
    return load_generator_config(path, ["MODEL.DEVICE", device, "SOLVER.BATCH_SIZE",
                                        str(batch_size)])


def time_style_iteration(name: str, size: str = "paper", batch_size: int = 2,
                         iterations: int = 2, warmup: int = 1, device: str = "auto") -> dict:
    """Seconds per InMoDeGAN / MoStGAN-V iteration (lazy R1 included at its share: every
    ``R1_INTERVAL``-th iteration) and the peak memory, in this process."""
    from common import resolve_device

    from .style_training import build_style_model

    cfg = style_model_config(name, size, batch_size, device)
    dev = resolve_device(cfg.MODEL.DEVICE)
    model = build_style_model(cfg, dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    res = cfg.MODEL.IMAGE_SIZE
    real = torch.rand(batch_size, 3, cfg.MODEL.NUM_FRAMES, res, res, device=dev) * 2 - 1
    model.iteration = 1  # iteration 1 never runs R1 (it runs when iteration % interval == 0)
    for _ in range(warmup):
        model.step(real)
    _sync(dev)
    start = time.perf_counter()
    for _ in range(iterations):
        model.step(real)
    _sync(dev)
    seconds = (time.perf_counter() - start) / iterations
    model.iteration = cfg.SOLVER.R1_INTERVAL - 1  # the next step runs R1
    _sync(dev)
    start = time.perf_counter()
    model.step(real)
    _sync(dev)
    with_r1 = time.perf_counter() - start
    interval = cfg.SOLVER.R1_INTERVAL
    return {"seconds_per_iteration": seconds + (with_r1 - seconds) / interval,
            "seconds_without_r1": seconds, "seconds_with_r1": with_r1,
            "peak_memory_mb": _peak_bytes(dev) / 2 ** 20, "resolution": res,
            "frames": cfg.MODEL.NUM_FRAMES, "widths": size,
            "generator_parameters": count_parameters(model.generator), "device": dev.type}


def _style_worker(queue, *args) -> None:
    queue.put(time_style_iteration(*args))


def time_style_iteration_isolated(*args) -> dict:
    """:func:`time_style_iteration` in a fresh spawned process (per-model CPU peak RSS)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_style_worker, args=(queue, *args))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"benchmark process for {args[0]} exited with {process.exitcode}")
    return result


def time_generator_step(cfg, iterations: int = 2, warmup: int = 1) -> dict[str, float]:
    """Seconds of one generator forward + backward (L1 to a random clip) and its parameters."""
    from common import resolve_device

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
                  device: str = "auto", models=("imaginator", "g3an"),
                  style_size: str = "paper") -> dict:
    """Everything the benchmark reports, as one dictionary. ``style_size``: InMoDeGAN /
    MoStGAN-V at the widths of their ``paper`` or ``synthetic`` configs."""
    result: dict = {"base_channels": base_channels, "batch_size": batch_size,
                    "iterations": iterations, "torch_threads": torch.get_num_threads()}
    for name in models:
        if name in ("inmodegan", "mostganv"):
            result[name] = time_style_iteration_isolated(name, style_size, batch_size,
                                                         iterations, 1, device)
            continue
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
