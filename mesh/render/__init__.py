"""Mesh rendering: structure maps (grey Lambertian on white) and vertex-coloured people.

Backends (``MESH.RENDERER``):

* ``torch`` - the built-in z-buffer rasteriser: a compiled numba kernel for CPU tensors (when
  numba is installed), a vectorised pure-PyTorch one otherwise (CUDA included); see
  :mod:`mesh.render.rasterizer`.
* ``pytorch3d`` - PyTorch3D's rasteriser, when PyTorch3D is installed (optional), with its raw
  outputs corrected to the built-in rasteriser's semantics (renormalised barycentrics, true
  depth order, no cracks along shared edges; see :mod:`mesh.render.pytorch3d_backend`).
* ``auto`` - PyTorch3D when it is importable **and** the render runs on CUDA, the built-in
  rasteriser otherwise. On CPU the built-in rasteriser is by far the faster one (some 200
  structure maps/s for 16 bodies of ~27k faces at 256x128 on 2 cores, where PyTorch3D's CPU
  path manages about 0.1-0.3 image/s); on GPU PyTorch3D's coarse-to-fine
  CUDA kernels are the proven choice. The device is known only at render time, so the ``auto``
  renderer decides per call.

Closed, consistently wound meshes (body models) are detected once per face tensor and their back
faces culled, which is exact for them and halves the work; open meshes keep every face.

Camera: the weak-perspective convention of :mod:`mesh.camera` (``camera`` (B, 3) ``[s, tx, ty]``,
y up, the body faces +z, larger z is nearer).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .pytorch3d_backend import PyTorch3DRenderer, pytorch3d_available
from .rasterizer import Fragments, rasterize
from .renderer import DEFAULT_IMAGE_SIZE, MeshRenderer, TorchRenderer, to_screen

RENDERER_NAMES = ("auto", "torch", "pytorch3d")


class AutoRenderer(MeshRenderer):
    """Chooses PyTorch3D on CUDA when importable, the built-in rasteriser otherwise, per call."""

    name = "auto"

    def __init__(self):
        self._torch = TorchRenderer()
        self._pytorch3d = PyTorch3DRenderer() if pytorch3d_available() else None

    def backend_for(self, device: torch.device) -> MeshRenderer:
        if self._pytorch3d is not None and torch.device(device).type == "cuda":
            return self._pytorch3d
        return self._torch

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor,
                  image_size: tuple[int, int],
                  front_sign: torch.Tensor | None = None) -> Fragments:
        return self.backend_for(screen.device).rasterize(screen, faces, image_size, front_sign)


def build_renderer(name: str = "auto") -> MeshRenderer:
    """The renderer named ``name`` (``auto`` | ``torch`` | ``pytorch3d``; see the module doc)."""
    key = str(name).lower()
    if key == "torch":
        return TorchRenderer()
    if key == "pytorch3d":
        return PyTorch3DRenderer()
    if key == "auto":
        return AutoRenderer()
    raise ValueError(f"MESH.RENDERER: unknown renderer '{name}'; expected one of "
                     f"{', '.join(RENDERER_NAMES)}")


def render_structure_maps(vertices: torch.Tensor, faces: torch.Tensor, camera: torch.Tensor,
                          image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
                          backend: str = "auto") -> torch.Tensor:
    """Grey Lambertian body renders on white: (B, 1, H, W) float in [0, 1], background 1.0."""
    return build_renderer(backend).render_structure_maps(vertices, faces, camera, image_size)


def render_colored(vertices: torch.Tensor, faces: torch.Tensor, vertex_colors: torch.Tensor,
                   camera: torch.Tensor, image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
                   background=None, backend: str = "auto", **lighting
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex-coloured renders: ``(images (B, 3, H, W), mask (B, 1, H, W))`` in [0, 1].

    ``lighting``: ``light_dir`` (3,) or (B, 3), ``ambient`` and ``diffuse`` (scalars or (B,)).
    """
    return build_renderer(backend).render_colored(vertices, faces, vertex_colors, camera,
                                                  image_size, background, **lighting)


__all__ = [
    "AutoRenderer",
    "Fragments",
    "MeshRenderer",
    "PyTorch3DRenderer",
    "RENDERER_NAMES",
    "TorchRenderer",
    "build_renderer",
    "pytorch3d_available",
    "rasterize",
    "render_colored",
    "render_structure_maps",
    "to_screen",
]
