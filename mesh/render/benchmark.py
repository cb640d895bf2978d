"""Renderer benchmark: images/s of the built-in rasteriser (and PyTorch3D when importable)
against a straightforward per-face reference rasteriser, on a batch of bodies.

``tools/bench_render.py`` is the command-line entry point.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch

from ..camera import fit_camera
from .pytorch3d_backend import pytorch3d_available
from .rasterizer import Fragments
from .renderer import TorchRenderer, check_mesh_inputs, to_screen
from .shading import shade_structure
from .shapes import icosphere


def reference_rasterize(screen: torch.Tensor, faces: torch.Tensor,
                        image_size: tuple[int, int]) -> Fragments:
    """The textbook rasteriser: a Python loop over faces, a z-buffer, no culling.

    Same pixel-centre and depth conventions as :func:`mesh.render.rasterizer.rasterize`; meant
    as a correctness and speed reference on a few images only.
    """
    height, width = image_size
    pts = screen.detach().cpu().double().numpy()
    tris = faces.cpu().numpy()
    batch = pts.shape[0]
    face_index = np.full((batch, height, width), -1, dtype=np.int64)
    zbuf = np.full((batch, height, width), -np.inf)
    bary = np.zeros((batch, height, width, 3))
    for b in range(batch):
        for f, (i, j, k) in enumerate(tris):
            a, p, c = pts[b, i], pts[b, j], pts[b, k]
            area = (p[0] - a[0]) * (c[1] - a[1]) - (p[1] - a[1]) * (c[0] - a[0])
            if abs(area) < 1e-12:
                continue
            x0 = max(int(math.ceil(min(a[0], p[0], c[0]) - 0.5)), 0)
            x1 = min(int(math.floor(max(a[0], p[0], c[0]) - 0.5)), width - 1)
            y0 = max(int(math.ceil(min(a[1], p[1], c[1]) - 0.5)), 0)
            y1 = min(int(math.floor(max(a[1], p[1], c[1]) - 0.5)), height - 1)
            if x1 < x0 or y1 < y0:
                continue
            ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
            cx, cy = xs + 0.5, ys + 0.5
            w0 = ((c[0] - p[0]) * (cy - p[1]) - (c[1] - p[1]) * (cx - p[0])) / area
            w1 = ((a[0] - c[0]) * (cy - c[1]) - (a[1] - c[1]) * (cx - c[0])) / area
            w2 = 1.0 - w0 - w1
            depth = w0 * a[2] + w1 * p[2] + w2 * c[2]
            inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
            win = inside & (depth > zbuf[b, y0:y1 + 1, x0:x1 + 1])
            if not win.any():
                continue
            zbuf[b, y0:y1 + 1, x0:x1 + 1][win] = depth[win]
            face_index[b, y0:y1 + 1, x0:x1 + 1][win] = f
            bary[b, y0:y1 + 1, x0:x1 + 1][win] = np.stack((w0, w1, w2), -1)[win]
    return Fragments(face_index=torch.from_numpy(face_index),
                     bary=torch.from_numpy(bary).float().clamp_min(0.0))


def benchmark_bodies(batch: int, device: torch.device, seed: int = 0
                     ) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``batch`` posed Anny bodies, or icosphere stand-ins when Anny cannot be built.

    Returns ``(vertices (B, V, 3), faces (F, 3), description)``.
    """
    generator = torch.Generator().manual_seed(seed)
    try:
        from ..body import build_body_model
        from ..body.poses import random_everyday_pose

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
                         log: Callable[[str], None] = print) -> dict:
    """Measure structure-map rendering speed; returns the figures as a dict."""
    dev = torch.device(device)
    vertices, faces, body = benchmark_bodies(batch, dev)
    camera = fit_camera(vertices, image_size)
    log(f"bodies: {body}; {batch} x {vertices.shape[1]} vertices, {faces.shape[0]} faces, "
        f"{image_size[0]}x{image_size[1]}, device {dev}, {torch.get_num_threads()} threads")
    renderer = TorchRenderer()
    seconds, cpu_seconds = _time(
        lambda: renderer.render_structure_maps(vertices, faces, camera, image_size), repeats, dev)
    ours = renderer.render_structure_maps(vertices, faces, camera, image_size)
    result = {"body_model": body.split(" (")[0], "faces": int(faces.shape[0]),
              "vertices": int(vertices.shape[1]), "batch": batch,
              "image_size": list(image_size), "device": str(dev),
              "threads": torch.get_num_threads(), "seconds_per_batch": round(seconds, 4),
              "images_per_s": round(batch / seconds, 2),
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
        from .pytorch3d_backend import PyTorch3DRenderer

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
