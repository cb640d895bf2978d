"""Speed and memory of the video GANs: seconds per training iteration (one D and one G update)
and peak memory for any registered model (the style-based ones each in a fresh process, at the
widths of their shipped configs), plus thesis table 3.12 (transposed 3D vs (1+2)D convolutions
in the ImaGINator generator, at equal parameter counts as in the thesis: the 3D generator is
widened until its count matches the (1+2)D one's) and the parameter counts of every model's
generator and discriminators at the widths of its shipped configs.

Peak memory is :class:`common.profiling.PeakMemory` around the timed iterations: the CUDA
allocator's peak on a GPU, the process's resident set size on the CPU (``peak_memory_mb``; what
the iterations added on top of the memory at their start: ``peak_memory_delta_mb``).

``tools/bench_video_gan.py`` is the command-line entry point.
"""
from __future__ import annotations

import os
import tempfile
import time

import torch
from torch.utils.data import Dataset

from common.profiling import PeakMemory
from generators.config import frame_size, get_generator_defaults, load_generator_config
from generators.layers import count_parameters
from generators.registry import get_video_gan
from generators.training import VideoGANTrainer

__all__ = ["RandomClips", "imaginator_parameters", "matched_base_channels", "model_config",
           "parameter_counts", "run_benchmark", "shipped_config", "style_model_config",
           "table_3_12", "time_generator_step", "time_style_iteration",
           "time_style_iteration_isolated", "time_training_iteration"]

MIB = 2 ** 20


class RandomClips(Dataset):
    """Random labelled clips of the right size (the benchmark measures compute only)."""

    def __init__(self, count: int, frames: int, num_classes: int, size=(64, 64)):
        gen = torch.Generator().manual_seed(0)
        self.videos = torch.rand(count, 3, frames, *size, generator=gen) * 2 - 1
        self.labels = torch.randint(0, max(1, num_classes), (count,), generator=gen)

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        return {"video": self.videos[i], "label": int(self.labels[i]), "index": i}


def model_config(name: str, base_channels: int = 64, batch_size: int = 2, conv_type: str = "1+2d",
                 device: str = "auto", output_dir: str | None = None):
    """The defaults with the model's ``default_overrides`` (its discriminators, classes) at
    ``base_channels`` widths."""
    cfg = get_generator_defaults()
    cfg.MODEL.NAME = name
    cfg.MODEL.BASE_CHANNELS = base_channels
    cfg.MODEL.CONV_TYPE = conv_type
    cfg.MODEL.DEVICE = device
    cfg.SOLVER.BATCH_SIZE = batch_size
    cfg.OUTPUT_DIR = output_dir or os.path.join(tempfile.gettempdir(), "video_gan_bench")
    cfg.SOLVER.RESUME = False
    for key, value in get_video_gan(name).default_overrides.items():
        *path, last = key.split(".")
        node = cfg
        for part in path:
            node = node[part]
        node[last] = value
    return cfg


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds_per_call(call, device: torch.device, iterations: int, warmup: int) -> float:
    """Mean wall seconds of ``call()`` over ``iterations`` calls after ``warmup`` untimed ones
    (the device synchronised around the timed ones)."""
    for _ in range(warmup):
        call()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        call()
    _sync(device)
    return (time.perf_counter() - start) / iterations


def _memory(peak: PeakMemory) -> dict[str, float]:
    return {"peak_memory_mb": peak.peak_bytes / MIB, "peak_memory_delta_mb": peak.delta_bytes / MIB}


def time_training_iteration(cfg, iterations: int = 2, warmup: int = 1) -> dict[str, float]:
    """Mean seconds of one full training iteration and the peak memory (GPU allocator or CPU
    process RSS) of the warm-up and timed iterations."""
    frames = get_video_gan(cfg.MODEL.NAME).clip_frames(cfg)
    data = RandomClips(max(2, cfg.SOLVER.BATCH_SIZE), frames, cfg.MODEL.NUM_CLASSES,
                       frame_size(cfg))
    trainer = VideoGANTrainer(cfg, dataset=data)
    device = trainer.device
    batch = {"video": data.videos[:cfg.SOLVER.BATCH_SIZE],
             "label": data.labels[:cfg.SOLVER.BATCH_SIZE]}
    with PeakMemory(device) as peak:
        seconds = _seconds_per_call(lambda: trainer.step(batch), device, iterations, warmup)
    return {"seconds_per_iteration": seconds, **_memory(peak),
            "generator_parameters": count_parameters(trainer.G), "device": device.type}


def shipped_config(name: str, size: str = "paper", opts=()):
    """The shipped ``configs/generators/<name>[_synthetic].yaml`` (``size`` paper | synthetic)
    with ``KEY VALUE`` overrides."""
    if size not in ("paper", "synthetic"):
        raise ValueError(f"config size is '{size}'; expected paper or synthetic")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    suffix = "" if size == "paper" else "_synthetic"
    path = os.path.join(root, "configs", "generators", f"{name}{suffix}.yaml")
    return load_generator_config(path, list(opts))


def style_model_config(name: str, size: str = "paper", batch_size: int = 2,
                       device: str = "auto"):
    """The shipped config of a style-based model on ``device`` with ``batch_size``."""
    return shipped_config(name, size, ["MODEL.DEVICE", device, "SOLVER.BATCH_SIZE",
                                       str(batch_size)])


def parameter_counts(name: str, size: str = "paper") -> dict[str, int]:
    """Trainable parameters of the generator and of the discriminator(s) of a model at the widths
    of its shipped config, built on the meta device (no memory, no compute)."""
    cfg = shipped_config(name, size, ["MODEL.DEVICE", "cpu"])
    with torch.device("meta"):
        model = get_video_gan(name).build_trainer(cfg, "meta")
    if get_video_gan(name).family == "style":
        nets = {"generator": model.generator, "discriminator": model.discriminator}
    else:                                                   # BCE: image + video discriminators
        nets = {"generator": model.G, "image_discriminator": model.D_I,
                "video_discriminator": model.D_V}
    counts = {key: count_parameters(net) for key, net in nets.items()}
    if "image_discriminator" in counts:
        counts["discriminator"] = counts["image_discriminator"] + counts["video_discriminator"]
    return counts


def time_style_iteration(name: str, size: str = "paper", batch_size: int = 2,
                         iterations: int = 2, warmup: int = 1, device: str = "auto") -> dict:
    """Seconds per iteration of a style-based model (lazy R1 included at its share: every
    ``R1_INTERVAL``-th iteration) and the peak memory, in this process."""
    from common import resolve_device

    cfg = style_model_config(name, size, batch_size, device)
    dev = resolve_device(cfg.MODEL.DEVICE)
    model = get_video_gan(name).build_trainer(cfg, dev)
    res = cfg.MODEL.IMAGE_SIZE
    real = torch.rand(batch_size, 3, cfg.MODEL.NUM_FRAMES, res, res, device=dev) * 2 - 1
    with PeakMemory(dev) as peak:
        model.iteration = 1  # iteration 1 never runs R1 (it runs when iteration % interval == 0)
        seconds = _seconds_per_call(lambda: model.step(real), dev, iterations, warmup)
        model.iteration = cfg.SOLVER.R1_INTERVAL - 1  # the next step runs R1
        _sync(dev)
        with_r1 = _seconds_per_call(lambda: model.step(real), dev, 1, 0)
    interval = cfg.SOLVER.R1_INTERVAL
    return {"seconds_per_iteration": seconds + (with_r1 - seconds) / interval,
            "seconds_without_r1": seconds, "seconds_with_r1": with_r1, **_memory(peak),
            "resolution": res, "frames": cfg.MODEL.NUM_FRAMES, "widths": size,
            "generator_parameters": count_parameters(model.generator), "device": dev.type}


def _style_worker(queue, *args) -> None:
    queue.put(time_style_iteration(*args))


def time_style_iteration_isolated(*args) -> dict:
    """:func:`time_style_iteration` in a fresh spawned process (per-model CPU memory)."""
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


def _imaginator(cfg, conv_type: str, base_channels: float):
    """The ImaGINator generator of ``cfg`` with ``conv_type`` blocks at width multiplier
    ``base_channels`` (any positive real: every layer has round(table width x base / 64)
    channels, so widths can be tuned finer than the integer MODEL.BASE_CHANNELS)."""
    from generators.imaginator.generator import ImaginatorGenerator

    m = cfg.MODEL
    return ImaginatorGenerator(m.NUM_CLASSES, base_channels, m.Z_DIM, m.LATENT_DIM, conv_type,
                               image_size=frame_size(cfg))


def imaginator_parameters(cfg, conv_type: str, base_channels: float) -> int:
    """Parameters of :func:`_imaginator` (built on the meta device)."""
    with torch.device("meta"):
        return count_parameters(_imaginator(cfg, conv_type, base_channels))


def matched_base_channels(cfg, target: int, conv_type: str = "3d", steps: int = 30) -> float:
    """The width multiplier at which the ``conv_type`` generator's parameter count is nearest to
    ``target``: bisection on the count, which never falls as the width grows."""
    def count(base: float) -> int:
        return imaginator_parameters(cfg, conv_type, base)

    low, high = 0.5, float(cfg.MODEL.BASE_CHANNELS)
    while count(high) < target:
        high *= 2
    for _ in range(steps):
        middle = (low + high) / 2
        if count(middle) >= target:
            high = middle
        else:
            low = middle
    return min((low, high), key=lambda base: abs(count(base) - target))


def time_generator_step(cfg, iterations: int = 2, warmup: int = 1,
                        base_channels: float | None = None) -> dict[str, float]:
    """Seconds of one ImaGINator generator forward + backward (L1 to a random clip), its
    parameters and width multiplier (``base_channels``; default MODEL.BASE_CHANNELS)."""
    from common import resolve_device

    device = resolve_device(cfg.MODEL.DEVICE)
    base = float(base_channels or cfg.MODEL.BASE_CHANNELS)
    g = _imaginator(cfg, cfg.MODEL.CONV_TYPE, base).to(device).train()
    batch = cfg.SOLVER.BATCH_SIZE
    size = frame_size(cfg)
    image = torch.rand(batch, 3, *size, device=device) * 2 - 1
    labels = torch.arange(batch, device=device) % max(1, cfg.MODEL.NUM_CLASSES)
    target = torch.rand(batch, 3, g.num_frames, *size, device=device) * 2 - 1

    def step() -> None:
        g.zero_grad(set_to_none=True)
        (g(image, labels) - target).abs().mean().backward()

    return {"seconds_per_step": _seconds_per_call(step, device, iterations, warmup),
            "parameters": count_parameters(g), "base_channels": base}


def table_3_12(base_channels: int = 64, batch_size: int = 2, iterations: int = 2,
               device: str = "auto") -> dict:
    """Thesis table 3.12: the ImaGINator generator with transposed (1+2)D blocks (table 3.1 at
    ``base_channels``) against one with transposed 3D blocks widened to the same parameter
    count, seconds per generator step and their ratio."""
    conv12_cfg = model_config("imaginator", base_channels, batch_size, "1+2d", device)
    conv3d_cfg = model_config("imaginator", base_channels, batch_size, "3d", device)
    target = imaginator_parameters(conv12_cfg, "1+2d", base_channels)
    matched = matched_base_channels(conv3d_cfg, target, "3d")
    conv12 = time_generator_step(conv12_cfg, iterations)
    conv3d = time_generator_step(conv3d_cfg, iterations, base_channels=matched)
    return {
        "transposed_3d": conv3d, "transposed_1plus2d": conv12,
        "transposed_3d_same_widths_parameters": imaginator_parameters(conv3d_cfg, "3d",
                                                                      base_channels),
        "parameter_ratio_3d_over_1plus2d": conv3d["parameters"] / conv12["parameters"],
        "time_ratio_3d_over_1plus2d": conv3d["seconds_per_step"] / conv12["seconds_per_step"],
        "paper_time_ratio": 16.7 / 11.9,
    }


def run_benchmark(base_channels: int = 64, batch_size: int = 2, iterations: int = 2,
                  device: str = "auto", models=("imaginator", "g3an"),
                  style_size: str = "paper") -> dict:
    """Everything the benchmark reports, as one dictionary. ``style_size``: the style-based
    models at the widths of their ``paper`` or ``synthetic`` configs; the others at
    ``base_channels``."""
    result: dict = {"base_channels": base_channels, "batch_size": batch_size,
                    "iterations": iterations, "torch_threads": torch.get_num_threads()}
    for name in models:
        if get_video_gan(name).family == "style":
            result[name] = time_style_iteration_isolated(name, style_size, batch_size,
                                                         iterations, 1, device)
            continue
        result[name] = time_training_iteration(
            model_config(name, base_channels, batch_size, device=device), iterations)
    result["table_3_12"] = table_3_12(base_channels, batch_size, iterations, device)
    return result
