"""PyTorch3D rasteriser backend (optional: PyTorch3D has no Linux wheel on the package index).

Install it on GPU machines from source or from the PyTorch3D conda channel; this module imports
it lazily, so the rest of the package works without it. Only the rasterisation step differs from
the built-in backend: projection and shading are shared (:class:`MeshRenderer`).

Convention mapping: our screen space is pixel x right, pixel y down, larger depth nearer.
PyTorch3D's NDC space has +X left, +Y up, +Z away from the camera, and for an H x W image the
shorter side spans [-1, 1]. So, with S = min(H, W):

    x_ndc = (W - 2 x_px) / S      y_ndc = (H - 2 y_px) / S      z_ndc = (max depth - depth) + 1

which is an orthographic (weak-perspective) view; meshes are passed already in NDC, so no
PyTorch3D camera object is involved.
"""
from __future__ import annotations

import importlib.util

import torch

from .rasterizer import Fragments
from .renderer import MeshRenderer


def pytorch3d_available() -> bool:
    """True when ``pytorch3d`` can be imported (checked without importing it)."""
    return importlib.util.find_spec("pytorch3d") is not None


class PyTorch3DRenderer(MeshRenderer):
    """Rasterises with ``pytorch3d.renderer.mesh.rasterize_meshes`` (one face per pixel)."""

    name = "pytorch3d"

    def __init__(self, bin_size: int | None = None, max_faces_per_bin: int | None = None):
        if not pytorch3d_available():
            raise ImportError("the 'pytorch3d' renderer needs PyTorch3D, which is not installed; "
                              "install it (see https://github.com/facebookresearch/pytorch3d/blob/"
                              "main/INSTALL.md) or use MESH.RENDERER torch")
        self.bin_size = bin_size
        self.max_faces_per_bin = max_faces_per_bin

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor,
                  image_size: tuple[int, int],
                  front_sign: torch.Tensor | None = None) -> Fragments:
        # front_sign is ignored: PyTorch3D's culling flag is per call, not per mesh, and its
        # CUDA rasteriser is fast enough without it.
        from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
        from pytorch3d.structures import Meshes

        height, width = image_size
        batch, _, _ = screen.shape
        short = float(min(height, width))
        depth = screen[..., 2]
        ndc = torch.stack((
            (width - 2.0 * screen[..., 0]) / short,
            (height - 2.0 * screen[..., 1]) / short,
            depth.amax(dim=1, keepdim=True) - depth + 1.0,
        ), dim=-1)
        meshes = Meshes(verts=list(ndc), faces=[faces] * batch)
        pix_to_face, _, bary, _ = rasterize_meshes(
            meshes, image_size=(height, width), blur_radius=0.0, faces_per_pixel=1,
            bin_size=self.bin_size, max_faces_per_bin=self.max_faces_per_bin,
            perspective_correct=False, cull_backfaces=False)
        packed = pix_to_face[..., 0]
        item = torch.arange(batch, device=screen.device).view(batch, 1, 1)
        face_index = torch.where(packed >= 0, packed - item * faces.shape[0],
                                 torch.full_like(packed, -1))
        bary = torch.where((packed >= 0)[..., None], bary[..., 0, :], torch.zeros_like(bary[..., 0, :]))
        return Fragments(face_index=face_index.long(), bary=bary.float())
