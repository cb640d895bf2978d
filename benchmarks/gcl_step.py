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
"""
from __future__ import annotations

import gc
import sys
import time
from typing import Optional

import torch

from common.precision import resolve_precision
from common.profiling import PeakMemory, process_peak_rss_bytes
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
                    channels_last: bool = False) -> dict:
    """Build the networks, run ``warmup`` + ``iters`` joint iterations of the trainer's step
    (``reference=True``: of :class:`ReferenceGCLTrainStep`), return timings and peaks.
    ``monitor`` (an active CPU :class:`~common.profiling.PeakMemory`) is reset before the timed
    iterations and gives ``peak_rss_gb``.

    ``precision`` and ``channels_last`` apply to the trainer's step; the reference step always
    runs in float32 with contiguous tensors.
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
                     train_encoder=True)
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
    terms = {}
    for _ in range(iters):
        _sync(dev)
        start = time.perf_counter()
        terms = step(*batch)
        _sync(dev)
        times.append(time.perf_counter() - start)
        print(f"[{name}] iteration {len(times)}/{iters}: {times[-1]:.2f} s", file=sys.stderr,
              flush=True)
    result = {
        "precision": resolve_precision(config.precision, dev),
        "channels_last": memory_format == torch.channels_last,
        "seconds_per_iter": sum(times) / len(times),
        "iters_per_second": len(times) / sum(times),
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
    del step, encoder, generative, memory, id_opt, gen_opt, dis_opt, batch
    return result


def run_train_benchmark(batch_size: int = 16, iters: int = 1, warmup: int = 1,
                        device: str = "cpu", reference: bool = False,
                        size: tuple[int, int] = (256, 128), num_negatives: int = 8192,
                        precision: str = "fp32", channels_last: bool = False) -> dict:
    """The trainer's step (and, with ``reference``, the straightforward one afterwards) on one
    device."""
    report: dict = {"batch_size": batch_size, "image_size": list(size), "device": device,
                    "iters": iters, "warmup": warmup, "torch_threads": torch.get_num_threads()}
    with PeakMemory() as monitor:
        report["gcl"] = time_joint_step(False, batch_size, iters, warmup, device, size,
                                        num_negatives=num_negatives, monitor=monitor,
                                        precision=precision, channels_last=channels_last)
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
