"""A triangle rasteriser with a z-buffer, in pure PyTorch or as a compiled CPU kernel.

Two implementations give the same fragments (up to float rounding at pixel centres that lie on
an edge):

* ``compiled`` (CPU tensors, when numba is installed; :mod:`mesh.render.kernels`): a loop over
  the faces of each batch item into a per-item z-buffer, batch items split over
  ``torch.get_num_threads()`` threads.
* ``vectorised`` (any device, CUDA included): every face of every mesh in the batch is expanded
  into the list of pixel centres inside its screen bounding box with index arithmetic
  (``repeat_interleave`` + offsets), each candidate is tested with barycentric coordinates, and
  the nearest fragment per pixel wins through one ``scatter_reduce(amax)``.

Both resolve depth with the same int64 key that packs the quantised depth (high bits) with the
face index (low bits): the nearest face wins, and of faces at the same quantised depth the one
listed last. The depth of a fragment is clamped to its face's own depth range and the face
setup runs in float64, so near-degenerate (sliver) faces cannot jump in front of or behind the
faces around them.

Screen space: ``x`` to the right and ``y`` down in pixels (pixel centres at ``+0.5``), ``z`` the
depth with **larger z nearer** to the camera (the convention of :mod:`mesh.camera`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .kernels import (DEPTH_LEVELS as _DEPTH_LEVELS, FACE_BITS as _FACE_BITS,
                      FACE_MASK as _FACE_MASK, INSIDE_EPS as _INSIDE_EPS, MIN_AREA as _MIN_AREA,
                      NUMBA_AVAILABLE)

# Depth is quantised to 2**30 levels per batch item (a power of two, exact in float32, so the
# shifted key stays positive); faces are indexed by the low 32 bits. Barycentric tolerance
# _INSIDE_EPS: pixel centres exactly on an edge belong to the face.
# Faces whose pixel-centre box is at most 2**_DENSE_LOG2 pixels wide and high take the dense path.
_DENSE_LOG2 = 4
METHODS = ("auto", "compiled", "vectorised")


@dataclass
class Fragments:
    """What is visible at each pixel.

    ``face_index`` (B, H, W) long: index into the face list of the winning face, -1 = background.
    ``bary`` (B, H, W, 3) float: barycentric coordinates of the pixel centre in that face
    (zeros on the background).
    """

    face_index: torch.Tensor
    bary: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(B, 1, H, W) float coverage: 1 where a face is visible."""
        return (self.face_index >= 0).unsqueeze(1).to(self.bary.dtype)


def _face_planes(tri: torch.Tensor) -> torch.Tensor:
    """Per face, w0, w1, w2 and depth as planes about the face's first vertex, and its depths.

    ``tri`` (N, 9) screen-space vertices ``x0 y0 z0 x1 y1 z1 x2 y2 z2`` of non-degenerate faces.
    Returns (N, 16) in ``tri``'s dtype: ``w_k = c[3k] dx + c[3k+1] dy + c[3k+2]`` with
    ``(dx, dy) = (x - x0, y - y0)`` for k = 0, 1, 2 (barycentrics) and k = 3 (depth), then the
    face's smallest and largest vertex depth, then ``x0, y0`` (see :func:`_plane`).

    Sliver faces have huge gradients (~ edge / area): the setup runs in float64, and the planes
    are taken about a vertex (not the image origin) so that evaluating them at a pixel centre
    does not cancel huge terms; the depth range lets the caller clamp what rounding is left.
    """
    ax, ay, az, bx, by, bz, cx, cy, cz = tri.double().unbind(dim=1)
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    inv = 1.0 / torch.where(area.abs() > _MIN_AREA, area, torch.ones_like(area))
    out = torch.zeros(tri.shape[0], 16, dtype=torch.float64, device=tri.device)
    # w of the vertex opposite the edge (p, q): signed doubled area of (p, q, x) / area; at
    # the first vertex w = (1, 0, 0) and the depth is z0.
    for k, (px, py, qx, qy) in enumerate(((bx, by, cx, cy), (cx, cy, ax, ay),
                                           (ax, ay, bx, by))):
        out[:, 3 * k] = (py - qy) * inv
        out[:, 3 * k + 1] = (qx - px) * inv
    out[:, 2] = 1.0
    out[:, 9] = (bz - az) * out[:, 3] + (cz - az) * out[:, 6]
    out[:, 10] = (bz - az) * out[:, 4] + (cz - az) * out[:, 7]
    out[:, 11] = az
    depths = torch.stack((az, bz, cz), dim=1)
    out[:, 12] = depths.amin(dim=1)
    out[:, 13] = depths.amax(dim=1)
    out[:, 14] = ax
    out[:, 15] = ay
    return out.to(tri.dtype)


def _plane(coef: torch.Tensor, k: int, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Plane ``k`` of :func:`_face_planes` (k = 0, 1, 2: barycentrics, 3: depth) at offsets
    ``(dx, dy)`` from the faces' first vertices; ``coef`` (L, 16), ``dx`` / ``dy`` (L,) or
    (L, K)."""
    if dx.dim() == 2:
        coef = coef[:, :, None]
    return torch.addcmul(torch.addcmul(coef[:, 3 * k + 2], coef[:, 3 * k], dx),
                         coef[:, 3 * k + 1], dy)


def rasterize(screen: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int],
              max_fragments: int = 1 << 23, front_sign: torch.Tensor | None = None,
              method: str = "auto") -> Fragments:
    """Rasterise a batch of meshes that share one face list.

    Args:
        screen: (B, V, 3) vertices in screen space (pixel x, pixel y, depth; larger = nearer).
        faces: (F, 3) long vertex indices.
        image_size: (H, W).
        max_fragments: candidate pixels processed at once by the vectorised path (bounds its
            memory: ~60 bytes each).
        front_sign: optional (B,) +1 / -1: back-face culling for closed meshes. +1 keeps the
            faces wound counter-clockwise as seen from the camera (outward normals towards it),
            -1 the clockwise ones (inward-wound meshes); None keeps every face.
        method: ``compiled`` (CPU tensors, needs numba), ``vectorised`` (any device) or
            ``auto`` (compiled for CPU tensors when numba is installed, else vectorised).
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    on_cpu = screen.device.type == "cpu"
    if method == "compiled" and not (NUMBA_AVAILABLE and on_cpu):
        raise ValueError(f"method 'compiled' needs numba and CPU tensors (numba installed: "
                         f"{NUMBA_AVAILABLE}, device: {screen.device})")
    size = (int(image_size[0]), int(image_size[1]))
    if method == "compiled" or (method == "auto" and NUMBA_AVAILABLE and on_cpu):
        return _rasterize_compiled(screen, faces, size, front_sign)
    return _rasterize_vectorised(screen, faces, size, max_fragments, front_sign)


def _rasterize_compiled(screen: torch.Tensor, faces: torch.Tensor, size: tuple[int, int],
                        front_sign: torch.Tensor | None) -> Fragments:
    """The numba kernel on CPU tensors, batch items split over ``torch.get_num_threads()``
    threads (the kernel releases the GIL)."""
    from .kernels import over_items, rasterize_items

    height, width = size
    batch = screen.shape[0]
    pts = screen.detach().float().contiguous().numpy()
    tris = faces.detach().long().contiguous().numpy()
    signs = (torch.zeros(batch) if front_sign is None
             else front_sign.detach().float().reshape(batch)).contiguous().numpy()
    face_index = torch.full((batch, height * width), -1, dtype=torch.int64)
    bary = torch.zeros(batch, height * width, 3)
    over_items(rasterize_items, batch, pts, tris, signs, height, width, face_index.numpy(),
               bary.numpy())
    return Fragments(face_index=face_index.view(batch, height, width),
                     bary=bary.view(batch, height, width, 3))


def _rasterize_vectorised(screen: torch.Tensor, faces: torch.Tensor, size: tuple[int, int],
                          max_fragments: int, front_sign: torch.Tensor | None) -> Fragments:
    """The pure-torch path (any device); see :func:`rasterize`."""
    height, width = size
    batch, _, _ = screen.shape
    device = screen.device
    screen = screen.float()
    num_faces = faces.shape[0]
    tri = screen.index_select(1, faces.reshape(-1)).reshape(batch * num_faces, 9)
    xs, ys = tri[:, 0::3], tri[:, 1::3]
    # Doubled signed area in pixel space (y down): < 0 for faces wound counter-clockwise as
    # seen from the camera.
    area = ((xs[:, 1] - xs[:, 0]) * (ys[:, 2] - ys[:, 0])
            - (ys[:, 1] - ys[:, 0]) * (xs[:, 2] - xs[:, 0]))

    # Pixel-index bounding boxes of the pixel centres each face can cover.
    limit = float(max(height, width) + 2)
    x0 = torch.ceil(xs.amin(dim=1).clamp(-2.0, limit) - 0.5).clamp_min(0).long()
    y0 = torch.ceil(ys.amin(dim=1).clamp(-2.0, limit) - 0.5).clamp_min(0).long()
    box_w = (torch.floor(xs.amax(dim=1).clamp(-2.0, limit) - 0.5).clamp_max(width - 1).long()
             - x0 + 1).clamp_min(0)
    box_h = (torch.floor(ys.amax(dim=1).clamp(-2.0, limit) - 0.5).clamp_max(height - 1).long()
             - y0 + 1).clamp_min(0)
    live = (box_w > 0) & (box_h > 0) & (area.abs() > _MIN_AREA)
    if front_sign is not None:
        sign = front_sign.to(device=device, dtype=area.dtype).repeat_interleave(num_faces)
        live &= area * sign < 0

    # Everything below works on the live faces only.
    live_ids = torch.nonzero(live).flatten()
    coef = _face_planes(tri.index_select(0, live_ids))
    x0, y0 = x0.index_select(0, live_ids), y0.index_select(0, live_ids)
    box_w, box_h = box_w.index_select(0, live_ids), box_h.index_select(0, live_ids)
    item_of_face = torch.div(live_ids, num_faces, rounding_mode="floor")
    face_of_item = live_ids - item_of_face * num_faces

    # Per-item depth normalisation so batched and one-by-one renders quantise identically.
    z = screen[..., 2]
    z_min = z.amin(dim=1)
    z_scale = _DEPTH_LEVELS / (z.amax(dim=1) - z_min).clamp_min(_MIN_AREA)
    zbuf = torch.full((batch * height * width,), -1, dtype=torch.int64, device=device)
    context = (z_min, z_scale, height, width, zbuf)

    # Small and medium faces: grouped by the power-of-two size class of their pixel-centre box
    # (kw x kh <= 2**_DENSE_LOG2 each way); each class is tested on a dense (faces, kw*kh)
    # candidate grid: no per-candidate gathers, at most 4x wasted candidates.
    boxes = torch.stack((x0, y0, box_w, box_h), dim=1)
    log_w = torch.ceil(torch.log2(box_w.float())).long()
    log_h = torch.ceil(torch.log2(box_h.float())).long()
    dense = (log_w <= _DENSE_LOG2) & (log_h <= _DENSE_LOG2)
    size_class = torch.where(dense, log_w * (_DENSE_LOG2 + 1) + log_h,
                             torch.full_like(log_w, (_DENSE_LOG2 + 1) ** 2))
    order = torch.argsort(size_class)
    class_counts = torch.bincount(size_class, minlength=(_DENSE_LOG2 + 1) ** 2 + 1).tolist()
    start = 0
    for cls, count in enumerate(class_counts[:-1]):
        if count == 0:
            continue
        idx = order[start:start + count]
        start += count
        kw, kh = 1 << (cls // (_DENSE_LOG2 + 1)), 1 << (cls % (_DENSE_LOG2 + 1))
        dx = torch.arange(kw, device=device).repeat(kh)  # e.g. 0 1 0 1
        dy = torch.arange(kh, device=device).repeat_interleave(kw)  # e.g. 0 0 1 1
        step = max(1, max_fragments // (kw * kh))
        for part in idx.split(step):
            box = boxes.index_select(0, part)
            valid = (dx < box[:, 2:3]) & (dy < box[:, 3:4])
            _fold_candidates(box[:, 0:1] + dx, box[:, 1:2] + dy, valid,
                             coef.index_select(0, part), part,
                             item_of_face.index_select(0, part), context)

    # Large faces: ragged lists of the pixel centres in their boxes, in bounded chunks.
    large = order[start:]
    if large.numel():
        large_counts = (box_w * box_h).index_select(0, large)
        ends = torch.cumsum(large_counts, dim=0)
        total = int(ends[-1])
        num_chunks = max(1, -(-total // max_fragments))
        cuts = torch.searchsorted(ends, torch.arange(1, num_chunks, device=device) * max_fragments)
        bounds = [0] + cuts.tolist() + [large.numel()]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            if hi > lo:
                _fold_ragged(large[lo:hi], large_counts[lo:hi], boxes, item_of_face, coef,
                             context)

    covered = zbuf >= 0
    pix = torch.nonzero(covered).flatten()
    winner = zbuf.index_select(0, pix) & _FACE_MASK  # index into the live faces
    face = face_of_item.index_select(0, winner)
    rem = pix % (height * width)
    # Barycentrics of the winning faces at the covered pixel centres.
    win_coef = coef.index_select(0, winner)
    dx = (rem % width).to(tri.dtype) + 0.5 - win_coef[:, 14]
    dy = torch.div(rem, width, rounding_mode="floor").to(tri.dtype) + 0.5 - win_coef[:, 15]
    w = torch.stack([_plane(win_coef, k, dx, dy) for k in range(3)], dim=1).clamp_min(0.0)
    bary = torch.zeros(batch * height * width, 3, device=device, dtype=tri.dtype)
    bary[pix] = w / w.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    face_index = torch.full_like(zbuf, -1)
    face_index[pix] = face
    return Fragments(face_index=face_index.view(batch, height, width),
                     bary=bary.view(batch, height, width, 3))


def _fold_ragged(face_ids: torch.Tensor, counts: torch.Tensor, boxes: torch.Tensor,
                item_of_face: torch.Tensor, coef: torch.Tensor, context: tuple) -> None:
    """Expand each face into the pixel centres of its box (index arithmetic) and fold them in.

    ``face_ids`` index the live faces; ``boxes`` (N, 4) per live face: x0, y0, width, height.
    """
    device = face_ids.device
    owner = torch.repeat_interleave(torch.arange(face_ids.numel(), device=device), counts)
    starts = torch.cumsum(counts, dim=0) - counts
    local = torch.arange(owner.numel(), device=device) - starts.index_select(0, owner)
    face = face_ids.index_select(0, owner)
    box = boxes.index_select(0, face)
    bw = box[:, 2]
    row = torch.div(local, bw, rounding_mode="floor")
    px = (box[:, 0] + local - row * bw)[:, None]
    py = (box[:, 1] + row)[:, None]
    _fold_candidates(px, py, None, coef.index_select(0, face), face,
                     item_of_face.index_select(0, face), context)


def _fold_candidates(px: torch.Tensor, py: torch.Tensor, valid: torch.Tensor | None,
                     coef: torch.Tensor, face: torch.Tensor, item: torch.Tensor,
                     context: tuple) -> None:
    """Barycentric inside test of (L, K) candidate pixels of L faces; nearest wins in ``zbuf``.

    ``coef`` (L, 16): the planes of each face (:func:`_face_planes`);
    ``face`` (L,) index into the live faces (< 2**32, stored in the key); ``item`` (L,) the
    batch item.
    """
    z_min, z_scale, height, width, zbuf = context
    dx = px.float() + 0.5 - coef[:, 14, None]
    dy = py.float() + 0.5 - coef[:, 15, None]
    inside = _plane(coef, 0, dx, dy) >= -_INSIDE_EPS
    inside &= _plane(coef, 1, dx, dy) >= -_INSIDE_EPS
    inside &= _plane(coef, 2, dx, dy) >= -_INSIDE_EPS
    if valid is not None:
        inside &= valid
    row, col = torch.nonzero(inside, as_tuple=True)
    # Clamped to the face's depth range: the plane may overshoot on sliver faces.
    depth = _plane(coef[row], 3, dx[row, col], dy[row, col])
    depth = torch.minimum(torch.maximum(depth, coef[row, 12]), coef[row, 13])
    owner_item = item[row]
    quant = ((depth - z_min[owner_item]) * z_scale[owner_item]).clamp(0, _DEPTH_LEVELS).long()
    key = (quant << _FACE_BITS) | face[row]
    pixel = (owner_item * height + py[row, col]) * width + px[row, col]
    zbuf.scatter_reduce_(0, pixel, key, reduce="amax", include_self=True)
