"""Reference rasteriser of :mod:`benchmarks.render` (``tools/bench_render.py``): the fragments
the vectorised :func:`mesh.render.rasterizer.rasterize` has to match, computed face by face."""
from __future__ import annotations

import math

import numpy as np
import torch

from mesh.render.rasterizer import Fragments


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
