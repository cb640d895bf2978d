"""Timing and peak memory of one GCL joint iteration (``tools/bench_train.py``), and the
straightforward formulation of the step it is compared with.

The joint iteration: E_id on x, E_str on s_ori / s_new, G for x'_ori and x'_new, E_id on x'_new,
the cycle G pass and E_id on x''_ori, the G/E_id step with L_img, L_feat, L_adv and the three
view-invariant losses against an instance memory, and the D step (LSGAN + R1). E_id is a
randomly initialised ResNet-50 (last stride 1); optimisers as in the paper.

:class:`ReferenceGCLTrainStep` optimises the same objective as the trainer's
:class:`~reid.engine.gcl_step.GCLTrainStep` without any of its savings: every pass separate, the
D step first while the generator graph is alive, D re-scored on the real batch for each
generated view with its own penalty, D weight gradients built in the G step; always float32.

:func:`profile_step` breaks one step of the trainer down by pass (E_id x3, E_str, G x2, D x2, R1,
memory loss and update, the three optimiser steps), forward and backward, with
:mod:`torch.profiler`: each pass runs inside a ``record_function`` label and the autograd nodes
of the backward passes are matched to the pass that recorded them.
"""
from __future__ import annotations

import contextlib
import gc
import itertools
import sys
import time
from typing import Optional

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from common.precision import grad_scaler, resolve_precision
from common.profiling import PeakMemory, process_peak_rss_bytes
from reid.engine import gcl_step as gcl_step_module
from reid.engine.gcl_step import GCLStepConfig, GCLTrainStep
from reid.losses.gan import lsgan_discriminator_loss, lsgan_generator_loss, r1_gradient_penalty
from reid.memory.instance_memory import InstanceMemory
from reid.models.gcl import GCLGenerativeModule, count_parameters


class ReferenceGCLTrainStep(GCLTrainStep):
    """The generative step without memory or compute savings (same objective, float32)."""

    def _step_with_gan(self, x, s_ori, s_new, indices, labels) -> dict:
        gen = self.generative
        disc = gen.discriminator
        views = gen.generate_views(self.encoder, x, s_ori, s_new, self.train_encoder, batched=False,
                                   generated_bn_stats=self.config.generated_bn_stats)
        # D step first, one real pass and penalty per generated view.
        d_total = 0.0
        gp_total = 0.0
        for fake in (views.x_ori, views.x_new, views.x_cycle):
            real = x.detach().clone().requires_grad_(True)
            real_out = disc(real)
            gp = r1_gradient_penalty(real_out, real)
            d_total = (d_total + lsgan_discriminator_loss(real_out, disc(fake.detach()))
                       + self.config.gp_weight * gp)
            gp_total = gp_total + gp.detach()
        if self.dis_optimizer is not None:
            self.dis_optimizer.zero_grad(set_to_none=False)
        d_total.backward()
        if self.dis_optimizer is not None:
            self.dis_optimizer.step()
        # G / E_id step with D's weight gradients built and thrown away.
        l_adv = sum(lsgan_generator_loss(disc(fake))
                    for fake in (views.x_ori, views.x_new, views.x_cycle))
        gan, contrast, terms = self._generator_losses(x, views, indices, labels, l_adv)
        optimizers = [self.gen_optimizer, self.id_optimizer if self.train_encoder else None]
        for opt in optimizers:
            if opt is not None:
                opt.zero_grad(set_to_none=False)
        self._generator_backward(gan, contrast)
        for opt in optimizers:
            if opt is not None:
                opt.step()
        self._update_memory(views, indices)
        terms.update({"dis_adv": float(d_total.detach()), "gp": float(gp_total / 3)})
        return terms


def _build(device: torch.device, num_samples: int, seed: int):
    from reid.models.identity_encoder import IdentityEncoder

    torch.manual_seed(seed)
    encoder = IdentityEncoder("resnet50", last_stride=1, num_parts=4, embed_dim=512).to(device)
    generative = GCLGenerativeModule().to(device)
    memory = InstanceMemory(num_samples, 512, momentum=0.2).to(device)
    memory.initialize(torch.randn(num_samples, 512, device=device))
    labels = torch.randint(0, max(1, num_samples // 17), (num_samples,), device=device)
    labels[torch.rand(num_samples, device=device) < 0.1] = -1
    memory.set_labels(labels)
    id_opt = torch.optim.SGD(encoder.parameters(), lr=3.5e-4, momentum=0.9, nesterov=True,
                             weight_decay=5e-4)
    gen_opt = torch.optim.Adam(generative.generator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    dis_opt = torch.optim.Adam(generative.discriminator_parameters(), lr=1e-4, betas=(0.0, 0.999))
    return encoder, generative, memory, id_opt, gen_opt, dis_opt


def _batch(batch_size: int, size: tuple[int, int], num_samples: int, device: torch.device,
           seed: int, memory_format: torch.memory_format = torch.contiguous_format):
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


def time_joint_step(reference: bool = False, batch_size: int = 16, iters: int = 1,
                    warmup: int = 1, device: str = "cpu", size: tuple[int, int] = (256, 128),
                    num_samples: int = 12936, num_negatives: int = 8192, seed: int = 0,
                    monitor: Optional[PeakMemory] = None, precision: str = "fp32",
                    channels_last: bool = False, profile_pass: bool = False) -> dict:
    """Build the networks, run ``warmup`` + ``iters`` joint iterations of the trainer's step
    (``reference=True``: of :class:`ReferenceGCLTrainStep`), return timings and peaks.
    ``monitor`` (an active CPU :class:`~common.profiling.PeakMemory`) is reset before the timed
    iterations and gives ``peak_rss_gb``.

    ``precision`` and ``channels_last`` apply to the trainer's step; the reference step always
    runs in float32 with contiguous tensors. ``profile_pass``: one more iteration of the
    trainer's step, after the timed ones, under :func:`profile_step` (``result["profile"]``).
    """
    dev = torch.device(device)
    encoder, generative, memory, id_opt, gen_opt, dis_opt = _build(dev, num_samples, seed)
    memory_format = torch.contiguous_format
    if not reference and channels_last:
        memory_format = torch.channels_last
        encoder.to(memory_format=memory_format)
        generative.to(memory_format=memory_format)
    config = GCLStepConfig(num_negatives=num_negatives,
                           precision="fp32" if reference else precision)
    step_type = ReferenceGCLTrainStep if reference else GCLTrainStep
    step = step_type(encoder, generative, id_opt, gen_opt, dis_opt, memory, config,
                     train_encoder=True, scaler=grad_scaler(config.precision, dev),
                     dis_scaler=grad_scaler(config.precision, dev))
    batch = _batch(batch_size, size, num_samples, dev, seed, memory_format)
    name = "reference" if reference else "gcl"
    for i in range(warmup):
        start = time.perf_counter()
        step(*batch)
        print(f"[{name}] warm-up {i + 1}/{warmup}: {time.perf_counter() - start:.2f} s",
              file=sys.stderr, flush=True)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    if monitor is not None:
        monitor.reset()
    times = []
    cpu_times = []
    terms = {}
    for _ in range(iters):
        _sync(dev)
        start, cpu_start = time.perf_counter(), time.process_time()
        terms = step(*batch)
        _sync(dev)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        print(f"[{name}] iteration {len(times)}/{iters}: {times[-1]:.2f} s", file=sys.stderr,
              flush=True)
    result = {
        "precision": resolve_precision(config.precision, dev),
        "channels_last": memory_format == torch.channels_last,
        "seconds_per_iter": sum(times) / len(times),
        "iters_per_second": len(times) / sum(times),
        # CPU seconds of the whole process (all threads): on a shared machine less sensitive to
        # the other jobs than the wall time.
        "cpu_seconds_per_iter": sum(cpu_times) / len(cpu_times),
        "loss_terms": {k: round(v, 5) for k, v in terms.items() if isinstance(v, float)},
        "params_M": {
            "E_id": round(count_parameters(encoder) / 1e6, 3),
            "E_str+G": round(count_parameters([generative.structure_encoder,
                                               generative.generator]) / 1e6, 3),
            "D": round(count_parameters(generative.discriminator) / 1e6, 3),
        },
    }
    if monitor is not None:
        result["peak_rss_gb"] = round(monitor.peak_bytes / 2 ** 30, 3)
    if dev.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(dev) / 2 ** 30, 3)
    if profile_pass and not reference:
        result["profile"] = profile_step(step, batch)
    del step, encoder, generative, memory, id_opt, gen_opt, dis_opt, batch
    return result


def run_train_benchmark(batch_size: int = 16, iters: int = 1, warmup: int = 1,
                        device: str = "cpu", reference: bool = False,
                        size: tuple[int, int] = (256, 128), num_negatives: int = 8192,
                        precision: str = "fp32", channels_last: bool = False,
                        profile_pass: bool = False) -> dict:
    """The trainer's step (and, with ``reference``, the straightforward one afterwards) on one
    device; ``profile_pass`` adds the trainer's per-pass breakdown (``report["gcl"]["profile"]``)."""
    report: dict = {"batch_size": batch_size, "image_size": list(size), "device": device,
                    "iters": iters, "warmup": warmup, "torch_threads": torch.get_num_threads()}
    with PeakMemory() as monitor:
        report["gcl"] = time_joint_step(False, batch_size, iters, warmup, device, size,
                                        num_negatives=num_negatives, monitor=monitor,
                                        precision=precision, channels_last=channels_last,
                                        profile_pass=profile_pass)
        if reference:
            gc.collect()
            report["reference"] = time_joint_step(True, batch_size, iters, warmup, device, size,
                                                  num_negatives=num_negatives, monitor=monitor)
    report["max_rss_gb_process"] = round(process_peak_rss_bytes() / 2 ** 30, 3)
    if reference:
        report["speedup_vs_reference"] = round(
            report["reference"]["seconds_per_iter"] / report["gcl"]["seconds_per_iter"], 3)
        if "peak_rss_gb" in report["reference"]:
            report["memory_ratio_vs_reference"] = round(
                report["gcl"]["peak_rss_gb"] / max(report["reference"]["peak_rss_gb"], 1e-9), 3)
    return report


# ---------------------------------------------------------------------------------- profile
PASS_PREFIX = "gcl::"
_EVALUATE = "autograd::engine::evaluate_function:"
# The passes of one joint step, in the order of the table (name -> what it covers).
PASSES = {
    "E_id(x)": "encoder on the real batch",
    "E_id(x'_new)": "encoder on the novel views",
    "E_id(x''_ori)": "encoder on the cycle reconstructions",
    "E_str": "structure encoder on s_ori and s_new",
    "G(x'_new, x'_ori)": "decoder, novel views and reconstructions",
    "G(x''_ori)": "decoder, the cycle",
    "D(fakes)": "discriminator on the generated batches",
    "D(real)": "discriminator on the real batch",
    "R1": "gradient penalty: dD/dx forward, its double backward in the D step",
    "memory loss": "view-invariant losses against the memory bank",
    "memory update": "momentum update of the memory rows",
    "opt E_id": "SGD step",
    "opt E_str+G": "Adam step",
    "opt D": "Adam step",
}


def _pass_names(names: list, index: int) -> str:
    return names[index] if index < len(names) else f"{names[-1]}#{index}"


class _SavedBytes:
    """Bytes of the tensors each labelled pass saves for its backward pass (its activations:
    what its graph keeps alive until then, the pass's share of the step's peak). Every storage
    counts once, for the first pass that saves it; ``exclude`` (the parameters) never counts.
    The reflection-padded convolutions (:mod:`reid.models.gcl.reflect_conv`) set hooks of their
    own inside these and hand them what they keep, the unpadded input, so it is counted."""

    def __init__(self, exclude):
        self.seen = {t.untyped_storage().data_ptr() for t in exclude}
        self.bytes: dict = {}

    def hooks(self, name: str):
        def pack(tensor: torch.Tensor) -> torch.Tensor:
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in self.seen:
                self.seen.add(storage.data_ptr())
                self.bytes[name] = self.bytes.get(name, 0) + storage.nbytes()
            return tensor.detach()  # the same storage, no reference back to the graph

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)


@contextlib.contextmanager
def _labelled(owner, attr: str, names: list, saved: _SavedBytes):
    """Within the block, the ``index``-th call of ``owner.attr`` runs inside
    ``record_function("gcl::" + names[index])`` with its saved tensors counted in ``saved``;
    the attribute is restored afterwards."""
    original = getattr(owner, attr)
    own = attr in vars(owner)
    calls = itertools.count()

    def labelled(*args, **kwargs):
        name = _pass_names(names, next(calls))
        with record_function(PASS_PREFIX + name), saved.hooks(name):
            return original(*args, **kwargs)

    setattr(owner, attr, labelled)
    try:
        yield
    finally:
        if own:
            setattr(owner, attr, original)
        else:
            delattr(owner, attr)


def _labelled_passes(step: GCLTrainStep, saved: _SavedBytes) -> contextlib.ExitStack:
    """Labels every pass of ``step`` (see :data:`PASSES`) for the profiler, without changing
    what the step computes; ``saved`` counts the activations each pass keeps."""
    gen = step.generative
    targets = [
        (step.encoder, "forward_all", ["E_id(x)", "E_id(x'_new)", "E_id(x''_ori)"]),
        (gen.structure_encoder, "forward", ["E_str"]),
        (gen.generator, "forward", ["G(x'_new, x'_ori)", "G(x''_ori)"]),
        (gen.discriminator, "forward", ["D(fakes)", "D(real)"]),
        (gcl_step_module, "r1_gradient_penalty", ["R1"]),
        (gcl_step_module, "view_invariant_losses", ["memory loss"]),
    ]
    if step.memory is not None:
        targets.append((step.memory, "update", ["memory update"]))
    for opt, name in ((step.id_optimizer, "opt E_id"), (step.gen_optimizer, "opt E_str+G"),
                      (step.dis_optimizer, "opt D")):
        if opt is not None:
            targets.append((opt, "step", [name]))
    stack = contextlib.ExitStack()
    for owner, attr, names in targets:
        stack.enter_context(_labelled(owner, attr, names, saved))
    return stack


def _is_node(event) -> bool:
    """True for the profiler's record of one autograd node evaluation."""
    return event.name.startswith(_EVALUATE)


def _pass_ranges(events) -> tuple[np.ndarray, np.ndarray, list]:
    """Start / end times (us, sorted) and names of the labelled passes."""
    ranges = sorted((e.time_range.start, e.time_range.end, e.name[len(PASS_PREFIX):])
                    for e in events if e.name.startswith(PASS_PREFIX))
    starts = np.array([r[0] for r in ranges], dtype=np.float64)
    ends = np.array([r[1] for r in ranges], dtype=np.float64)
    return starts, ends, [r[2] for r in ranges]


def _enclosing(times: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the labelled pass each time lies in (the passes do not overlap), -1 for none."""
    idx = np.searchsorted(starts, times, side="right") - 1
    inside = (idx >= 0) & (times < ends[np.maximum(idx, 0)])
    return np.where(inside, idx, -1)


def _start_times(events: list) -> np.ndarray:
    return np.array([e.time_range.start for e in events], dtype=np.float64)


def _backward_seconds(events: list, starts: np.ndarray, ends: np.ndarray, names: list) -> dict:
    """Seconds of the autograd node evaluations per pass: each node belongs to the pass whose
    call recorded it (same sequence number). Nodes evaluated inside a labelled call (R1's
    first-order gradient) are that call's forward time and are left out here."""
    # Ops that recorded a node (not the node evaluations, which repeat its number).
    recorded = [e for e in events if e.sequence_nr >= 0 and not _is_node(e)
                and not (e.cpu_parent is not None and _is_node(e.cpu_parent))]
    where = _enclosing(_start_times(recorded), starts, ends)
    owner = {e.sequence_nr: names[i] for e, i in zip(recorded, where) if i >= 0}
    nodes = [e for e in events if _is_node(e)
             and (e.cpu_parent is None or not _is_node(e.cpu_parent))]
    inside = _enclosing(_start_times(nodes), starts, ends)
    seconds = dict.fromkeys(names, 0.0)
    for e, i in zip(nodes, inside):
        if i < 0 and e.sequence_nr in owner:
            seconds[owner[e.sequence_nr]] += e.time_range.elapsed_us() / 1e6
    return seconds


def breakdown(events, step_seconds: float, saved_bytes: Optional[dict] = None) -> dict:
    """Per-pass seconds (and memory) of one profiled step from its profiler ``events``.

    ``forward_s``: the wall time of the labelled call; ``backward_s``: its autograd nodes
    (:func:`_backward_seconds`); ``saved_gb`` (from ``saved_bytes``, bytes per pass): the
    activations it keeps for its backward pass. ``unattributed_s`` is what no pass accounts
    for (loss arithmetic, gradient accumulation, zero_grad, glue).
    """
    events = list(events)
    starts, ends, names = _pass_ranges(events)
    saved_bytes = saved_bytes or {}
    backward = _backward_seconds(events, starts, ends, names)
    forward = dict.fromkeys(names, 0.0)
    for start, end, name in zip(starts, ends, names):
        forward[name] += (end - start) / 1e6
    order = [name for name in PASSES if name in forward]
    order += [name for name in dict.fromkeys(names) if name not in PASSES]
    passes = {name: {"forward_s": round(forward[name], 4), "backward_s": round(backward[name], 4),
                     "total_s": round(forward[name] + backward[name], 4),
                     "saved_gb": round(saved_bytes.get(name, 0) / 2 ** 30, 4)} for name in order}
    total = sum(p["total_s"] for p in passes.values())
    return {"step_s": round(step_seconds, 4), "passes": passes, "sum_s": round(total, 4),
            "saved_gb": round(sum(p["saved_gb"] for p in passes.values()), 4),
            "unattributed_s": round(step_seconds - total, 4),
            "coverage": round(total / max(step_seconds, 1e-12), 4)}


def profile_step(step: GCLTrainStep, batch: tuple) -> dict:
    """Run ``step(*batch)`` once under :mod:`torch.profiler` with every pass labelled and return
    its :func:`breakdown`. The step computes exactly what it would unprofiled."""
    device = batch[0].device
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    modules = [step.encoder, step.generative]
    saved = _SavedBytes([p for m in modules for p in m.parameters()]
                        + [b for m in modules for b in m.buffers()])
    with _labelled_passes(step, saved), profile(activities=activities) as prof:
        _sync(device)
        start = time.perf_counter()
        step(*batch)
        _sync(device)
        seconds = time.perf_counter() - start
    return breakdown(prof.events(), seconds, saved.bytes)


def format_profile(profile_report: dict) -> str:
    """The breakdown as a text table (seconds per pass, share of the step, saved activations)."""
    step_s = max(profile_report["step_s"], 1e-12)
    lines = [f"{'pass':20s} {'fwd s':>8s} {'bwd s':>8s} {'total s':>8s} {'share':>6s} "
             f"{'saved GB':>8s}"]
    for name, p in profile_report["passes"].items():
        lines.append(f"{name:20s} {p['forward_s']:8.3f} {p['backward_s']:8.3f} "
                     f"{p['total_s']:8.3f} {p['total_s'] / step_s:6.1%} {p['saved_gb']:8.3f}")
    lines.append(f"{'sum of passes':20s} {'':8s} {'':8s} {profile_report['sum_s']:8.3f} "
                 f"{profile_report['coverage']:6.1%} {profile_report['saved_gb']:8.3f}")
    lines.append(f"{'unattributed':20s} {'':8s} {'':8s} {profile_report['unattributed_s']:8.3f}")
    lines.append(f"{'step (profiled)':20s} {'':8s} {'':8s} {profile_report['step_s']:8.3f}")
    return "\n".join(lines)
