"""A vectorised pure-PyTorch triangle rasteriser with a z-buffer (no compiled extension).

Every face of every mesh in the batch is expanded into the list of pixel centres inside its
screen bounding box with index arithmetic (``repeat_interleave`` + offsets), each candidate is
tested with barycentric coordinates, and the nearest fragment per pixel wins through one
``scatter_reduce(amax)`` over an int64 key that packs the quantised depth (high bits) with the
face index (low bits). The same code runs on CPU and CUDA.

Screen space: ``x`` to the right and ``y`` down in pixels (pixel centres at ``+0.5``), ``z`` the
depth with **larger z nearer** to the camera (the convention of :mod:`mesh.camera`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# Depth is quantised to 2**30 levels per batch item (a power of two, exact in float32, so the
# shifted key stays positive); faces are indexed by the low 32 bits.
_DEPTH_LEVELS = 1 << 30
_FACE_BITS = 32
_FACE_MASK = (1 << _FACE_BITS) - 1
# Barycentric tolerance: pixel centres exactly on an edge belong to the face.
_INSIDE_EPS = 1e-6
# Faces whose pixel-centre box is at most 2**_DENSE_LOG2 pixels wide and high take the dense path.
_DENSE_LOG2 = 4


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
    """Per face, the (x, y, 1) coefficients of w0, w1, w2 and depth.

    ``tri`` (N, 9) screen-space vertices ``x0 y0 z0 x1 y1 z1 x2 y2 z2`` of non-degenerate faces.
    Returns (N, 12): ``w_k = c[3k] x + c[3k+1] y + c[3k+2]`` for k = 0, 1, 2 (barycentrics) and
    k = 3 (depth).
    """
    ax, ay, az, bx, by, bz, cx, cy, cz = tri.unbind(dim=1)
    area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    inv = 1.0 / torch.where(area.abs() > 1e-12, area, torch.ones_like(area))
    out = torch.empty(tri.shape[0], 12, dtype=tri.dtype, device=tri.device)
    # w of the vertex opposite the edge (p, q): signed doubled area of (p, q, x) / area
    for k, (px, py, qx, qy) in enumerate(((bx, by, cx, cy), (cx, cy, ax, ay),
                                           (ax, ay, bx, by))):
        out[:, 3 * k] = (py - qy) * inv
        out[:, 3 * k + 1] = (qx - px) * inv
        out[:, 3 * k + 2] = ((qy - py) * px - (qx - px) * py) * inv
    out[:, 9] = az * out[:, 0] + bz * out[:, 3] + cz * out[:, 6]
    out[:, 10] = az * out[:, 1] + bz * out[:, 4] + cz * out[:, 7]
    out[:, 11] = az * out[:, 2] + bz * out[:, 5] + cz * out[:, 8]
    return out


def rasterize(screen: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int],
              max_fragments: int = 1 << 23, front_sign: torch.Tensor | None = None
              ) -> Fragments:
    """Rasterise a batch of meshes that share one face list.

    Args:
        screen: (B, V, 3) vertices in screen space (pixel x, pixel y, depth; larger = nearer).
        faces: (F, 3) long vertex indices.
        image_size: (H, W).
        max_fragments: candidate pixels processed at once (bounds the memory: ~60 bytes each).
        front_sign: optional (B,) +1 / -1: back-face culling for closed meshes. +1 keeps the
            faces wound counter-clockwise as seen from the camera (outward normals towards it),
            -1 the clockwise ones (inward-wound meshes); None keeps every face.
    """
    height, width = int(image_size[0]), int(image_size[1])
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
    live = (box_w > 0) & (box_h > 0) & (area.abs() > 1e-12)
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
    z_scale = _DEPTH_LEVELS / (z.amax(dim=1) - z_min).clamp_min(1e-12)
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
    cx = (rem % width).to(tri.dtype) + 0.5
    cy = torch.div(rem, width, rounding_mode="floor").to(tri.dtype) + 0.5
    w = torch.stack([win_coef[:, 3 * k] * cx + win_coef[:, 3 * k + 1] * cy + win_coef[:, 3 * k + 2]
                     for k in range(3)], dim=1).clamp_min(0.0)
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

    ``coef`` (L, 12): the (x, y, 1) coefficients of w0, w1, w2 and depth of each face;
    ``face`` (L,) index into the live faces (< 2**32, stored in the key); ``item`` (L,) the
    batch item.
    """
    z_min, z_scale, height, width, zbuf = context
    cx = px.float() + 0.5
    cy = py.float() + 0.5

    def plane(k: int) -> torch.Tensor:
        return torch.addcmul(torch.addcmul(coef[:, 3 * k + 2, None], coef[:, 3 * k, None], cx),
                             coef[:, 3 * k + 1, None], cy)

    inside = plane(0) >= -_INSIDE_EPS
    inside &= plane(1) >= -_INSIDE_EPS
    inside &= plane(2) >= -_INSIDE_EPS
    if valid is not None:
        inside &= valid
    row, col = torch.nonzero(inside, as_tuple=True)
    depth = plane(3)[row, col]
    owner_item = item[row]
    quant = ((depth - z_min[owner_item]) * z_scale[owner_item]).clamp(0, _DEPTH_LEVELS).long()
    key = (quant << _FACE_BITS) | face[row]
    pixel = (owner_item * height + py[row, col]) * width + px[row, col]
    zbuf.scatter_reduce_(0, pixel, key, reduce="amax", include_self=True)
