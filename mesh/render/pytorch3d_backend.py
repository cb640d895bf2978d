"""PyTorch3D rasteriser backend (optional: PyTorch3D has no Linux wheel on the package index).

Install it on GPU machines from source or from the PyTorch3D conda channel; this module imports
it lazily, so the rest of the package works without it. Only the rasterisation step differs from
the built-in backend: projection and shading are shared (:class:`MeshRenderer`).

Convention mapping (:func:`screen_to_ndc`): our screen space is pixel x right, pixel y down,
larger depth nearer. PyTorch3D's NDC space has +X left, +Y up, +Z away from the camera, and for
an H x W image the shorter side spans [-1, 1]. So, with S = min(H, W) and each mesh's depth
range [d_min, d_max]:

    x_ndc = (W - 2 x_px) / S      y_ndc = (H - 2 y_px) / S
    z_ndc = (d_max - depth) / (d_max - d_min) + DEPTH_MARGIN

an orthographic (weak-perspective) view; meshes are passed already in NDC, so no PyTorch3D
camera object is involved. The nearest point of each mesh sits at z = :data:`DEPTH_MARGIN`:
PyTorch3D drops faces with a vertex at z < 1e-8 and points at z < 0.

PyTorch3D's raw outputs need three corrections, made by :func:`fragments_from_raw` (pure
PyTorch, no PyTorch3D needed):

* its barycentrics are divided by the face's area **plus 1e-8** (NDC units squared), so on
  sub-pixel faces they sum to less than one (0.945 for a face of 1.7e-7) and would darken the
  interpolated colours; they are renormalised to sum to one;
* its depth is interpolated with those barycentrics (z-buffer = sum * true depth), so a farther
  sub-pixel face can come out in front of a nearer face. The rasteriser is asked for
  ``faces_per_pixel`` candidates, the true depth of each is recovered as z-buffer / barycentric
  sum, and the nearest wins;
* a pixel centre lying exactly on an edge shared by two faces is inside neither (PyTorch3D's
  inside test is strict), which leaves cracks along shared edges (a 64-pixel diagonal crack in
  an axis-aligned cube). :func:`edge_blur_radius` gives a tiny blur radius that closes them.

Back faces of closed meshes are culled per mesh (``front_sign``) by passing each mesh its own
front-facing faces (:func:`visible_faces`), as the built-in rasteriser does.
"""
from __future__ import annotations

import importlib.util

import torch

from .rasterizer import Fragments
from .renderer import MeshRenderer

#: NDC depth of the nearest point of each mesh (PyTorch3D needs z > 0). Small against the depth
#: range of 1, so that PyTorch3D's own (biased) depth order is rarely wrong before the correction.
DEPTH_MARGIN = 1e-3
#: Pixel centres within this distance of a face, in pixels, count as covered by it: far above the
#: float32 rounding of on-edge points (~1e-5 pixel at 256 pixels) and far below anything visible.
EDGE_TOLERANCE_PX = 1e-3
#: Candidates per pixel asked from PyTorch3D and re-ranked by their true depth.
FACES_PER_PIXEL = 2


def pytorch3d_available() -> bool:
    """True when ``pytorch3d`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("pytorch3d") is not None


def edge_blur_radius(image_size: tuple[int, int], tolerance_px: float = EDGE_TOLERANCE_PX
                     ) -> float:
    """PyTorch3D's ``blur_radius`` for an edge tolerance of ``tolerance_px`` pixels.

    One pixel is 2 / min(H, W) NDC units, and PyTorch3D compares ``blur_radius`` with the
    **squared** NDC distance of the pixel centre to the face (it widens the face boxes by its
    square root), hence the square: (1e-3 * 2 / 128)**2 = 2.4e-10 for a 256 x 128 image.
    """
    pixel = 2.0 / float(min(int(image_size[0]), int(image_size[1])))
    return float((tolerance_px * pixel) ** 2)


def screen_to_ndc(screen: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """(B, V, 3) screen-space vertices (pixels, larger depth nearer) -> PyTorch3D NDC (module
    doc): the nearest vertex of each mesh at z = :data:`DEPTH_MARGIN`, the farthest at 1 + it."""
    height, width = int(image_size[0]), int(image_size[1])
    short = float(min(height, width))
    depth = screen[..., 2]
    nearest = depth.amax(dim=1, keepdim=True)
    span = (nearest - depth.amin(dim=1, keepdim=True)).clamp_min(1e-12)
    return torch.stack(((width - 2.0 * screen[..., 0]) / short,
                        (height - 2.0 * screen[..., 1]) / short,
                        (nearest - depth) / span + DEPTH_MARGIN), dim=-1)


def visible_faces(screen: torch.Tensor, faces: torch.Tensor,
                  front_sign: torch.Tensor | None = None
                  ) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The faces each mesh passes to PyTorch3D, and the face index of every packed face.

    Returns ``(face_lists, face_ids)``: B (F_b, 3) face tensors and the (sum F_b,) long index of
    each into ``faces`` (-1 for a placeholder). With ``front_sign`` (B,) (+1 / -1, see
    :func:`mesh.render.rasterizer.rasterize`) only the front faces are kept, by the built-in
    rasteriser's rule; a mesh left with none gets one degenerate placeholder face, which
    PyTorch3D skips (zero area).
    """
    batch, num_faces = screen.shape[0], faces.shape[0]
    all_ids = torch.arange(num_faces, device=faces.device)
    if front_sign is None:
        return [faces] * batch, all_ids.repeat(batch)
    tri = screen[..., :2].index_select(1, faces.reshape(-1)).view(batch, num_faces, 3, 2)
    edge1, edge2 = tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0]
    area = edge1[..., 0] * edge2[..., 1] - edge1[..., 1] * edge2[..., 0]   # pixel space, y down
    keep = area * front_sign.to(area).view(batch, 1) < 0
    face_lists, face_ids = [], []
    for item in range(batch):
        ids = all_ids[keep[item]]
        if ids.numel() == 0:
            face_lists.append(torch.zeros(1, 3, dtype=faces.dtype, device=faces.device))
            face_ids.append(torch.full((1,), -1, dtype=torch.long, device=faces.device))
        else:
            face_lists.append(faces.index_select(0, ids))
            face_ids.append(ids)
    return face_lists, torch.cat(face_ids)


def fragments_from_raw(pix_to_face: torch.Tensor, zbuf: torch.Tensor, bary_coords: torch.Tensor,
                       face_ids: torch.Tensor) -> Fragments:
    """PyTorch3D's raw rasteriser outputs -> :class:`Fragments` (pure PyTorch).

    ``pix_to_face`` (B, H, W, K) packed face indices (-1: none), ``zbuf`` (B, H, W, K) their
    NDC depths (smaller nearer) as PyTorch3D computes them, ``bary_coords`` (B, H, W, K, 3) their
    unnormalised barycentrics, ``face_ids`` (P,) the face index of each packed face
    (:func:`visible_faces`; -1 = placeholder). The fourth output, ``dists``, is not needed.

    Per pixel, the true depth of every candidate is its z-buffer value divided by its
    barycentric sum (PyTorch3D interpolates with the unnormalised weights); the nearest
    candidate wins, and its barycentrics, clamped at zero (pixel centres just outside a face, in
    the blur radius, have small negative ones), are scaled to sum to one; a zero sum gives
    (1/3, 1/3, 1/3).
    """
    if pix_to_face.ndim != 4 or zbuf.shape != pix_to_face.shape or \
            bary_coords.shape != pix_to_face.shape + (3,):
        raise ValueError(f"PyTorch3D raw outputs: expected pix_to_face and zbuf (B, H, W, K) and "
                         f"bary_coords (B, H, W, K, 3); got {tuple(pix_to_face.shape)}, "
                         f"{tuple(zbuf.shape)} and {tuple(bary_coords.shape)}")
    packed = pix_to_face.long()
    face = torch.where(packed >= 0, face_ids.index_select(0, packed.clamp_min(0).flatten())
                       .view(packed.shape), torch.full_like(packed, -1))
    raw_sum = bary_coords.sum(dim=-1)
    safe_sum = torch.where(raw_sum.abs() > 1e-12, raw_sum, torch.ones_like(raw_sum))
    depth = torch.where(face >= 0, zbuf / safe_sum, torch.full_like(zbuf, float("inf")))
    best = depth.argmin(dim=-1, keepdim=True)                                  # (B, H, W, 1)
    face_index = torch.gather(face, -1, best)[..., 0]
    picked = torch.gather(bary_coords, -2, best[..., None].expand(best.shape + (3,)))[..., 0, :]
    picked = picked.float().clamp_min(0.0)
    total = picked.sum(dim=-1, keepdim=True)
    bary = torch.where(total > 1e-12, picked / total.clamp_min(1e-12),
                       torch.full_like(picked, 1.0 / 3.0))
    bary = torch.where((face_index >= 0)[..., None], bary, torch.zeros_like(bary))
    return Fragments(face_index=face_index, bary=bary)


class PyTorch3DRenderer(MeshRenderer):
    """Rasterises with ``pytorch3d.renderer.mesh.rasterize_meshes``, corrected as in the module
    doc (renormalised barycentrics, true-depth order, edge tolerance, per-mesh culling)."""

    name = "pytorch3d"

    def __init__(self, bin_size: int | None = None, max_faces_per_bin: int | None = None,
                 faces_per_pixel: int = FACES_PER_PIXEL):
        if not pytorch3d_available():
            raise ImportError("the 'pytorch3d' renderer needs PyTorch3D, which is not installed; "
                              "install it (see https://github.com/facebookresearch/pytorch3d/blob/"
                              "main/INSTALL.md) or use MESH.RENDERER torch")
        if int(faces_per_pixel) < 1:
            raise ValueError(f"faces_per_pixel must be at least 1; got {faces_per_pixel}")
        self.bin_size = bin_size
        self.max_faces_per_bin = max_faces_per_bin
        self.faces_per_pixel = int(faces_per_pixel)

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor,
                  image_size: tuple[int, int],
                  front_sign: torch.Tensor | None = None) -> Fragments:
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
        from pytorch3d.structures import Meshes

        height, width = int(image_size[0]), int(image_size[1])
        screen = screen.float()
        face_lists, face_ids = visible_faces(screen, faces, front_sign)
        meshes = Meshes(verts=list(screen_to_ndc(screen, (height, width))), faces=face_lists)
        pix_to_face, zbuf, bary, _ = rasterize_meshes(
            meshes, image_size=(height, width), blur_radius=edge_blur_radius((height, width)),
            faces_per_pixel=self.faces_per_pixel, bin_size=self.bin_size,
            max_faces_per_bin=self.max_faces_per_bin, perspective_correct=False,
            clip_barycentric_coords=False, cull_backfaces=False)
        return fragments_from_raw(pix_to_face, zbuf, bary, face_ids)
