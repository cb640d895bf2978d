"""Compiled (numba) CPU kernels of the renderer: z-buffer rasterisation, normals, shading.

* :func:`rasterize_items` - the rasteriser of :mod:`mesh.render.rasterizer`: face by face into a
  per-item z-buffer of int64 keys (quantised depth in the high bits, face index in the low bits;
  the larger key wins), exactly the rule of the vectorised path;
* :func:`face_normals_items`, :func:`vertex_normals_items`, :func:`shade_structure_items` - the
  CPU paths of :mod:`mesh.render.shading` (same formulas and summation order as its torch ops).

Every kernel works on a range ``[first, last)`` of batch items and releases the GIL;
:func:`over_items` runs one call per thread on disjoint item ranges, ``torch.get_num_threads()``
threads. No numba threading layer is involved, which keeps the kernels safe to call from several
Python threads and in forked worker processes.

Numerics: the culling, bounding-box and depth-range terms are float32 like the vectorised path;
the edge functions, barycentrics and depth are evaluated in float64 from the vertex differences
(not from expanded plane coefficients), and the depth is clamped to the face's own depth range,
so near-degenerate (sliver) faces can neither invent a depth in front of nor behind their
vertices.

``NUMBA_AVAILABLE`` is False when numba is not installed; the rasteriser then uses its
vectorised torch path on CPU too, which gives the same fragments more slowly.

Every kernel is a :func:`common.numba_kernels.numba_kernel`: compiled on its first call and
saved in numba's on-disk cache (``$NUMBA_CACHE_DIR`` when set, else ``__pycache__/`` beside this
file, numba's per-user cache folder or a private temporary folder; see that module).
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np
import torch

from common.numba_kernels import NUMBA_AVAILABLE, numba_kernel

# Shared with the vectorised path (mesh.render.rasterizer imports them from here).
DEPTH_LEVELS = 1 << 30
FACE_BITS = 32
FACE_MASK = (1 << FACE_BITS) - 1
INSIDE_EPS = 1e-6
MIN_AREA = 1e-12


def over_items(kernel: Callable, batch: int, *args) -> None:
    """``kernel(*args, first, last)`` on near-equal contiguous item ranges covering
    ``range(batch)``, one per thread (``torch.get_num_threads()``, at most one per item); the
    first range runs on the calling thread."""
    parts = max(1, min(torch.get_num_threads(), batch))
    bounds = [batch * p // parts for p in range(parts + 1)]
    workers = [threading.Thread(target=kernel, args=(*args, lo, hi))
               for lo, hi in zip(bounds[1:-1], bounds[2:])]
    for worker in workers:
        worker.start()
    kernel(*args, bounds[0], bounds[1])
    for worker in workers:
        worker.join()


if NUMBA_AVAILABLE:

    @numba_kernel(nogil=True)
    def _edge(px, py, qx, qy, x, y):
        """Doubled signed area of (p, q, (x, y)) in float64: the weight of the vertex opposite
        the edge (p, q), times the face's doubled area."""
        return (qx - px) * (y - py) - (qy - py) * (x - px)

    @numba_kernel(nogil=True)
    def _corners(screen, faces, item, face):
        """The face's three screen vertices as float64 (x0, y0, z0, ..., x2, y2, z2)."""
        i, j, k = faces[face, 0], faces[face, 1], faces[face, 2]
        return (np.float64(screen[item, i, 0]), np.float64(screen[item, i, 1]),
                np.float64(screen[item, i, 2]), np.float64(screen[item, j, 0]),
                np.float64(screen[item, j, 1]), np.float64(screen[item, j, 2]),
                np.float64(screen[item, k, 0]), np.float64(screen[item, k, 1]),
                np.float64(screen[item, k, 2]))

    @numba_kernel(nogil=True)
    def _box(lo, hi, size, limit):
        """First and last pixel index whose centre lies in [lo, hi] (float32, as the vectorised
        path computes it), clipped to the image; last < first when there is none."""
        neg2 = np.float32(-2.0)
        half = np.float32(0.5)
        lo = min(max(lo, neg2), limit)
        hi = min(max(hi, neg2), limit)
        first = max(int(np.ceil(lo - half)), 0)
        last = min(int(np.floor(hi - half)), size - 1)
        return first, last

    @numba_kernel(nogil=True)
    def _fold_face(screen, faces, item, face, sign, height, width, z_min, z_scale, keys):
        """Test the pixel centres of one face's box; keep the larger (depth, face) key."""
        i, j, k = faces[face, 0], faces[face, 1], faces[face, 2]
        ax, ay = screen[item, i, 0], screen[item, i, 1]
        bx, by = screen[item, j, 0], screen[item, j, 1]
        cx, cy = screen[item, k, 0], screen[item, k, 1]
        area32 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area32) <= MIN_AREA or area32 * sign > 0:
            return
        limit = np.float32(max(height, width) + 2)
        x_first, x_last = _box(min(ax, bx, cx), max(ax, bx, cx), width, limit)
        y_first, y_last = _box(min(ay, by, cy), max(ay, by, cy), height, limit)
        if x_last < x_first or y_last < y_first:
            return
        ax, ay, az, bx, by, bz, cx, cy, cz = _corners(screen, faces, item, face)
        inv = 1.0 / ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
        z_lo, z_hi = min(az, bz, cz), max(az, bz, cz)
        for y in range(y_first, y_last + 1):
            py = y + 0.5
            for x in range(x_first, x_last + 1):
                px = x + 0.5
                w0 = _edge(bx, by, cx, cy, px, py) * inv
                w1 = _edge(cx, cy, ax, ay, px, py) * inv
                w2 = _edge(ax, ay, bx, by, px, py) * inv
                if w0 < -INSIDE_EPS or w1 < -INSIDE_EPS or w2 < -INSIDE_EPS:
                    continue
                depth = min(max(w0 * az + w1 * bz + w2 * cz, z_lo), z_hi)
                quant = min(max((depth - z_min) * z_scale, 0.0), np.float64(DEPTH_LEVELS))
                key = (np.int64(quant) << FACE_BITS) | face
                pixel = y * width + x
                if key > keys[pixel]:
                    keys[pixel] = key

    @numba_kernel(nogil=True)
    def _resolve(screen, faces, item, width, keys, face_index, bary):
        """Winning face and its renormalised barycentrics at every covered pixel centre."""
        for pixel in range(keys.size):
            key = keys[pixel]
            if key < 0:
                continue
            face = key & FACE_MASK
            face_index[item, pixel] = face
            ax, ay, _, bx, by, _, cx, cy, _ = _corners(screen, faces, item, face)
            px = pixel % width + 0.5
            py = pixel // width + 0.5
            inv = 1.0 / ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
            w0 = max(_edge(bx, by, cx, cy, px, py) * inv, 0.0)
            w1 = max(_edge(cx, cy, ax, ay, px, py) * inv, 0.0)
            w2 = max(_edge(ax, ay, bx, by, px, py) * inv, 0.0)
            total = max(w0 + w1 + w2, 1e-12)
            bary[item, pixel, 0] = w0 / total
            bary[item, pixel, 1] = w1 / total
            bary[item, pixel, 2] = w2 / total

    @numba_kernel(nogil=True)
    def rasterize_items(screen, faces, signs, height, width, face_index, bary, first, last):
        """Rasterise batch items ``first`` .. ``last - 1`` into ``face_index`` / ``bary``.

        ``screen`` (B, V, 3) float32 pixel x, pixel y, depth (larger = nearer); ``faces`` (F, 3)
        int64; ``signs`` (B,) float32: +1 keeps the faces with negative doubled area (wound
        counter-clockwise on screen), -1 the positive ones, 0 every face. ``face_index``
        (B, H*W) int64 and ``bary`` (B, H*W, 3) float32 come filled with -1 and 0.
        """
        levels = np.float32(DEPTH_LEVELS)
        for item in range(first, last):
            z_min = screen[item, 0, 2]
            z_max = z_min
            for v in range(screen.shape[1]):
                z_min = min(z_min, screen[item, v, 2])
                z_max = max(z_max, screen[item, v, 2])
            z_scale = levels / max(z_max - z_min, np.float32(MIN_AREA))
            keys = np.full(height * width, -1, dtype=np.int64)
            for face in range(faces.shape[0]):
                _fold_face(screen, faces, item, face, signs[item], height, width,
                           np.float64(z_min), np.float64(z_scale), keys)
            _resolve(screen, faces, item, width, keys, face_index, bary)

    @numba_kernel(nogil=True)
    def face_normals_items(vertices, faces, out, first, last):
        """``out[b, f]`` = (v1 - v0) x (v2 - v0) of face f, float32 like ``torch.cross``."""
        for item in range(first, last):
            for face in range(faces.shape[0]):
                a, b, c = faces[face, 0], faces[face, 1], faces[face, 2]
                e1x = vertices[item, b, 0] - vertices[item, a, 0]
                e1y = vertices[item, b, 1] - vertices[item, a, 1]
                e1z = vertices[item, b, 2] - vertices[item, a, 2]
                e2x = vertices[item, c, 0] - vertices[item, a, 0]
                e2y = vertices[item, c, 1] - vertices[item, a, 1]
                e2z = vertices[item, c, 2] - vertices[item, a, 2]
                out[item, face, 0] = e1y * e2z - e1z * e2y
                out[item, face, 1] = e1z * e2x - e1x * e2z
                out[item, face, 2] = e1x * e2y - e1y * e2x

    @numba_kernel(nogil=True)
    def vertex_normals_items(face_normal, faces, eps, out, first, last):
        """Unit vertex normals: the face normals summed per corner (corner 0 of every face,
        then corner 1, then corner 2, the order of the torch path), divided by max(norm, eps).
        ``out`` comes filled with zeros."""
        for item in range(first, last):
            for corner in range(3):
                for face in range(faces.shape[0]):
                    v = faces[face, corner]
                    for axis in range(3):
                        out[item, v, axis] += face_normal[item, face, axis]
            for v in range(out.shape[1]):
                x, y, z = out[item, v, 0], out[item, v, 1], out[item, v, 2]
                norm = max(np.sqrt(x * x + y * y + z * z), eps)
                out[item, v, 0] = x / norm
                out[item, v, 1] = y / norm
                out[item, v, 2] = z / norm

    @numba_kernel(nogil=True)
    def shade_structure_items(vertex_normal, face_normal, faces, face_index, bary, light,
                              ambient, diffuse, eps, image, first, last):
        """Grey Lambertian shading of the covered pixels: the interpolated vertex normal,
        normalised and turned towards the camera when the face's normal points away,
        ``clamp(ambient + diffuse * max(0, n . light), 0, 1)``. ``image`` (B, H*W) comes filled
        with the background (1)."""
        zero = np.float32(0.0)
        one = np.float32(1.0)
        for item in range(first, last):
            lx, ly, lz = light[item, 0], light[item, 1], light[item, 2]
            for pixel in range(face_index.shape[1]):
                face = face_index[item, pixel]
                if face < 0:
                    continue
                nx = zero
                ny = zero
                nz = zero
                for corner in range(3):
                    w = bary[item, pixel, corner]
                    v = faces[face, corner]
                    nx += vertex_normal[item, v, 0] * w
                    ny += vertex_normal[item, v, 1] * w
                    nz += vertex_normal[item, v, 2] * w
                norm = max(np.sqrt(nx * nx + ny * ny + nz * nz), eps)
                if face_normal[item, face, 2] < 0:
                    norm = -norm
                lambert = max((nx / norm) * lx + (ny / norm) * ly + (nz / norm) * lz, zero)
                image[item, pixel] = min(max(ambient + diffuse * lambert, zero), one)
