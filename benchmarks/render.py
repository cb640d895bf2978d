"""Renderer benchmark: images/s of the built-in rasteriser (and PyTorch3D when importable)
against a straightforward per-face reference rasteriser, on a batch of bodies.

``tools/bench_render.py`` is the command-line entry point.
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from benchmarks.reference.render import reference_rasterize
from mesh.camera import fit_camera
from mesh.render.kernels import NUMBA_AVAILABLE
from mesh.render.pytorch3d_backend import pytorch3d_available
from mesh.render.renderer import TorchRenderer, check_mesh_inputs, to_screen
from mesh.render.shading import shade_structure
from mesh.render.shapes import icosphere


def benchmark_bodies(batch: int, device: torch.device, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``batch`` posed Anny bodies, or icosphere stand-ins when Anny cannot be built.

    Returns ``(vertices (B, V, 3), faces (F, 3), description)``.
    """
    generator = torch.Generator().manual_seed(seed)
    try:
        from mesh.body import build_body_model
        from mesh.body.poses import random_everyday_pose

        body = build_body_model("anny", device=str(device))
        pose = random_everyday_pose(body, batch, generator)
        _, shape = body.neutral(batch)
        with torch.no_grad():
            out = body(pose=pose.to(device), shape=shape)
        return out.vertices, out.faces, "anny"
    except Exception as exc:  # noqa: BLE001 - any failure falls back to the stand-in
        verts, faces = icosphere(5)  # 20480 faces
        scale = torch.tensor([0.25, 0.9, 0.18]) * (1 + 0.1 * torch.rand(batch, 1, 3,
                                                                         generator=generator))
        return ((verts[None] * scale).to(device), faces.to(device),
                f"icosphere stand-in ({type(exc).__name__}: {exc})")


def _time(fn: Callable[[], object], repeats: int, device: torch.device
          ) -> tuple[float, float]:
    """Best-of-``repeats`` wall time and process CPU time of ``fn`` (after a warm-up call).

    The CPU time (all threads of this process) tells what the work costs when other jobs share
    the machine and stretch the wall clock.
    """
    fn()
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best, best_cpu


def run_render_benchmark(batch: int = 16, image_size: tuple[int, int] = (256, 128),
                         repeats: int = 3, reference_images: int = 1, device: str = "cpu",
                         log: Callable[[str], None] = print, method: str = "auto") -> dict:
    """Measure structure-map rendering speed; returns the figures as a dict.

    ``method``: the built-in rasteriser's implementation (``auto`` | ``compiled`` |
    ``vectorised``, see :func:`mesh.render.rasterizer.rasterize`). ``images_per_s`` is also
    stored as ``images_per_s_<N>_threads`` for the thread count ``N`` it ran with, so that
    records made with different ``--threads`` can sit side by side.
    """
    dev = torch.device(device)
    vertices, faces, body = benchmark_bodies(batch, dev)
    camera = fit_camera(vertices, image_size)
    threads = torch.get_num_threads()
    if method == "auto":
        method = "compiled" if NUMBA_AVAILABLE and dev.type == "cpu" else "vectorised"
    log(f"bodies: {body}; {batch} x {vertices.shape[1]} vertices, {faces.shape[0]} faces, "
        f"{image_size[0]}x{image_size[1]}, device {dev}, {threads} threads, {method} "
        f"rasteriser")
    renderer = TorchRenderer(method=method)
    seconds, cpu_seconds = _time(
        lambda: renderer.render_structure_maps(vertices, faces, camera, image_size), repeats, dev)
    ours = renderer.render_structure_maps(vertices, faces, camera, image_size)
    result = {"body_model": body.split(" (")[0], "faces": int(faces.shape[0]),
              "vertices": int(vertices.shape[1]), "batch": batch,
              "image_size": list(image_size), "device": str(dev), "rasterizer": method,
              "threads": threads, "seconds_per_batch": round(seconds, 4),
              "images_per_s": round(batch / seconds, 2),
              f"images_per_s_{threads}_threads": round(batch / seconds, 2),
              "cpu_seconds_per_batch": round(cpu_seconds, 4),
              "images_per_cpu_s": round(batch / max(cpu_seconds, 1e-9), 2)}
    log(f"torch rasteriser: {seconds:.3f} s per batch of {batch} = "
        f"{result['images_per_s']:.1f} images/s (CPU time {cpu_seconds:.3f} s = "
        f"{result['images_per_cpu_s']:.1f} images per CPU-second)")

    colors = torch.rand(vertices.shape[1], 3, generator=torch.Generator().manual_seed(1))
    seconds, _ = _time(lambda: renderer.render_colored(vertices, faces, colors.to(dev), camera,
                                                       image_size), repeats, dev)
    result["colored_images_per_s"] = round(batch / seconds, 2)
    log(f"torch rasteriser, vertex colours: {result['colored_images_per_s']:.1f} images/s")

    if reference_images > 0:
        n = min(reference_images, batch)
        v, f, cam, size = check_mesh_inputs(vertices[:n].cpu(), faces.cpu(), camera[:n].cpu(),
                                            image_size)
        start, cpu = time.perf_counter(), time.process_time()
        frags = reference_rasterize(to_screen(v, cam, size), f, size)
        ref_maps = shade_structure(v, f, frags)
        seconds = time.perf_counter() - start
        result["reference_images_per_cpu_s"] = round(n / (time.process_time() - cpu), 3)
        a, b = ours[:n].cpu() < 1, ref_maps < 1
        result["reference_images_per_s"] = round(n / seconds, 3)
        result["speedup_vs_reference"] = round(result["images_per_s"] /
                                               result["reference_images_per_s"], 1)
        result["speedup_vs_reference_cpu"] = round(result["images_per_cpu_s"] /
                                                   result["reference_images_per_cpu_s"], 1)
        result["silhouette_iou_vs_reference"] = round(float((a & b).sum() / (a | b).sum()), 5)
        result["max_abs_diff_vs_reference"] = round(float((ours[:n].cpu() - ref_maps).abs().max()),
                                                    4)
        log(f"per-face loop reference: {result['reference_images_per_s']:.3f} images/s "
            f"({n} image(s)); speed-up x{result['speedup_vs_reference']}, silhouette IoU "
            f"{result['silhouette_iou_vs_reference']}")

    if pytorch3d_available():
        from mesh.render.pytorch3d_backend import PyTorch3DRenderer

        p3d = PyTorch3DRenderer()
        seconds, _ = _time(lambda: p3d.render_structure_maps(vertices, faces, camera,
                                                             image_size), repeats, dev)
        result["pytorch3d_images_per_s"] = round(batch / seconds, 2)
        theirs = p3d.render_structure_maps(vertices, faces, camera, image_size)
        a, b = ours < 1, theirs < 1
        result["silhouette_iou_vs_pytorch3d"] = round(float((a & b).sum() / (a | b).sum()), 5)
        log(f"pytorch3d: {result['pytorch3d_images_per_s']:.1f} images/s, silhouette IoU "
            f"{result['silhouette_iou_vs_pytorch3d']}")
    else:
        result["pytorch3d_images_per_s"] = None
        log("pytorch3d: not installed (skipped)")
    return result
