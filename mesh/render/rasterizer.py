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

# Depth is quantised to 31 bits per batch item; faces are indexed by the low 32 bits.
_DEPTH_LEVELS = (1 << 31) - 1
_FACE_BITS = 32
_FACE_MASK = (1 << _FACE_BITS) - 1
# Barycentric tolerance: pixel centres exactly on an edge belong to the face.
_INSIDE_EPS = 1e-6
# Faces whose pixel-centre box is at most this many pixels wide and high take the dense path.
_DENSE_SIDES = (2, 3)


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


def _face_planes(tri: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per face, the plane coefficients of (w0, w1, w2, depth) as functions of (x, y, 1).

    ``tri`` (N, 3, 3) screen-space vertices. Returns ``planes`` (N, 4, 3) and the signed doubled
    area (N,). Degenerate faces get zero planes (callers drop them by area).
    """
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    safe = torch.where(area.abs() > 1e-12, area, torch.ones_like(area))

    def edge(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        # signed doubled area of (p, q, x) = A x + B y + C
        coef_x = -(q[:, 1] - p[:, 1])
        coef_y = q[:, 0] - p[:, 0]
        const = (q[:, 1] - p[:, 1]) * p[:, 0] - (q[:, 0] - p[:, 0]) * p[:, 1]
        return torch.stack((coef_x, coef_y, const), dim=-1)

    w = torch.stack((edge(b, c), edge(c, a), edge(a, b)), dim=1) / safe[:, None, None]  # (N,3,3)
    depth = (tri[:, :, 2:3] * w).sum(dim=1, keepdim=True)  # (N,1,3): z = sum_i z_i w_i
    return torch.cat((w, depth), dim=1), area


def rasterize(screen: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int],
              max_fragments: int = 1 << 23) -> Fragments:
    """Rasterise a batch of meshes that share one face list.

    Args:
        screen: (B, V, 3) vertices in screen space (pixel x, pixel y, depth; larger = nearer).
        faces: (F, 3) long vertex indices.
        image_size: (H, W).
        max_fragments: candidate pixels processed at once (bounds the memory: ~60 bytes each).
    """
    height, width = int(image_size[0]), int(image_size[1])
    batch, _, _ = screen.shape
    device = screen.device
    screen = screen.float()
    num_faces = faces.shape[0]
    flat_tri = screen.index_select(1, faces.reshape(-1)).reshape(batch * num_faces, 3, 3)
    planes, area = _face_planes(flat_tri)

    # Pixel-index bounding boxes of the pixel centres each face can cover.
    lo = flat_tri[:, :, :2].amin(dim=1).clamp(-2.0, max(height, width) + 2.0)
    hi = flat_tri[:, :, :2].amax(dim=1).clamp(-2.0, max(height, width) + 2.0)
    x0 = torch.ceil(lo[:, 0] - 0.5).clamp_min(0).long()
    y0 = torch.ceil(lo[:, 1] - 0.5).clamp_min(0).long()
    x1 = torch.floor(hi[:, 0] - 0.5).clamp_max(width - 1).long()
    y1 = torch.floor(hi[:, 1] - 0.5).clamp_max(height - 1).long()
    box_w = (x1 - x0 + 1).clamp_min(0)
    box_h = (y1 - y0 + 1).clamp_min(0)
    counts = box_w * box_h
    counts = torch.where(area.abs() > 1e-12, counts, torch.zeros_like(counts))

    # Per-item depth normalisation so batched and one-by-one renders quantise identically.
    z = screen[..., 2]
    z_min = z.amin(dim=1)
    z_scale = _DEPTH_LEVELS / (z.amax(dim=1) - z_min).clamp_min(1e-12)

    zbuf = torch.full((batch * height * width,), -1, dtype=torch.int64, device=device)
    coef = planes.reshape(-1, 12)
    item_of_face = torch.arange(batch, device=device).repeat_interleave(num_faces)
    context = (z_min, z_scale, num_faces, height, width, zbuf)

    # Small faces (pixel-centre box within 2 x 2 or 3 x 3, nearly all faces of a body at
    # 256 x 128): a dense (faces, K*K) candidate grid, no per-candidate gathers.
    extent = torch.maximum(box_w, box_h)
    live = counts > 0
    boxes = torch.stack((x0, y0, box_w, box_h, item_of_face), dim=1)
    done = torch.zeros_like(live)
    for side in _DENSE_SIDES:
        chosen = live & ~done & (extent <= side)
        done |= chosen
        idx = torch.nonzero(chosen).flatten()
        if idx.numel() == 0:
            continue
        off = torch.arange(side, device=device)
        dx = off.repeat(side)  # e.g. 0 1 0 1
        dy = off.repeat_interleave(side)  # e.g. 0 0 1 1
        box = boxes.index_select(0, idx)
        px = box[:, 0:1] + dx
        py = box[:, 1:2] + dy
        valid = (dx < box[:, 2:3]) & (dy < box[:, 3:4])
        _fold_candidates(px, py, valid, coef.index_select(0, idx), idx, box[:, 4], context)

    # Larger faces: ragged lists of the pixel centres in their boxes, in bounded chunks.
    large = torch.nonzero(live & ~done).flatten()
    if large.numel():
        large_counts = counts[large]
        ends = torch.cumsum(large_counts, dim=0)
        total = int(ends[-1])
        num_chunks = max(1, -(-total // max_fragments))
        cuts = torch.searchsorted(ends, torch.arange(1, num_chunks, device=device) * max_fragments)
        bounds = [0] + cuts.tolist() + [large.numel()]
        for start, stop in zip(bounds[:-1], bounds[1:]):
            if stop > start:
                _fold_ragged(large[start:stop], large_counts[start:stop], x0, y0, box_w, coef,
                             item_of_face, context)

    covered = zbuf >= 0
    face_global = torch.where(covered, zbuf & _FACE_MASK, torch.zeros_like(zbuf))
    # Barycentrics of the winning faces at the covered pixel centres.
    pix = torch.nonzero(covered).flatten()
    bary = torch.zeros(batch * height * width, 3, device=device, dtype=screen.dtype)
    if pix.numel():
        item = pix // (height * width)
        rem = pix % (height * width)
        centre = torch.stack(((rem % width).float() + 0.5, (rem // width).float() + 0.5,
                              torch.ones_like(rem, dtype=torch.float32)), dim=-1)
        w = (planes[item * num_faces + face_global[pix], :3] * centre[:, None, :]).sum(-1)
        w = w.clamp_min(0.0)
        bary[pix] = w / w.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    face_index = torch.where(covered, face_global, torch.full_like(zbuf, -1))
    return Fragments(face_index=face_index.view(batch, height, width),
                     bary=bary.view(batch, height, width, 3))


def _fold_ragged(face_ids: torch.Tensor, counts: torch.Tensor, x0: torch.Tensor,
                y0: torch.Tensor, box_w: torch.Tensor, coef: torch.Tensor,
                item_of_face: torch.Tensor, context: tuple) -> None:
    """Expand each face into the pixel centres of its box (index arithmetic) and fold them in."""
    device = face_ids.device
    owner = torch.repeat_interleave(torch.arange(face_ids.numel(), device=device), counts)
    starts = torch.cumsum(counts, dim=0) - counts
    local = torch.arange(owner.numel(), device=device) - starts[owner]
    face = face_ids.index_select(0, owner)
    bw = box_w.index_select(0, face)
    px = (x0.index_select(0, face) + local % bw)[:, None]
    py = (y0.index_select(0, face) + local // bw)[:, None]
    _fold_candidates(px, py, None, coef.index_select(0, face), face,
                     item_of_face.index_select(0, face), context)


def _fold_candidates(px: torch.Tensor, py: torch.Tensor, valid: torch.Tensor | None,
                     coef: torch.Tensor, face: torch.Tensor, item: torch.Tensor,
                     context: tuple) -> None:
    """Barycentric inside test of (L, K) candidate pixels of L faces; nearest wins in ``zbuf``.

    ``coef`` (L, 12): the (x, y, 1) coefficients of w0, w1, w2 and depth of each face;
    ``face`` (L,) flat (batch * F) face index; ``item`` (L,) its batch item.
    """
    z_min, z_scale, num_faces, height, width, zbuf = context
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
    key = (quant << _FACE_BITS) | (face[row] % num_faces)
    pixel = (owner_item * height + py[row, col]) * width + px[row, col]
    zbuf.scatter_reduce_(0, pixel, key, reduce="amax", include_self=True)
