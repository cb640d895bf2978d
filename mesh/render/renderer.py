"""Mesh renderers: input checks, camera projection and shading around a rasteriser backend.

:class:`MeshRenderer` holds everything that does not depend on the rasteriser;
:class:`TorchRenderer` plugs in the built-in pure-PyTorch rasteriser. The PyTorch3D backend
(:mod:`mesh.render.pytorch3d_backend`) overrides :meth:`MeshRenderer.rasterize` only, so both
backends share the camera convention of :mod:`mesh.camera` and the same shading.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch

from ..camera import normalised_to_pixels, project_weak_perspective
from .rasterizer import Fragments, rasterize
from .topology import front_face_sign
from .shading import STRUCTURE_AMBIENT, STRUCTURE_DIFFUSE, STRUCTURE_LIGHT, face_normals, \
    shade_colored, shade_structure

DEFAULT_IMAGE_SIZE = (256, 128)
# Light of the coloured renders: from the camera side, above and a little to the right.
COLOR_LIGHT = (0.3, 0.5, 1.0)
COLOR_AMBIENT = 0.45


def check_mesh_inputs(vertices: torch.Tensor, faces: torch.Tensor, camera: torch.Tensor,
                      image_size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor,
                                                          torch.Tensor, tuple[int, int]]:
    """Validate shapes and values; return ``(vertices, faces, camera, (H, W))`` on one device."""
    if not isinstance(vertices, torch.Tensor) or vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices: expected a (B, V, 3) tensor, got "
                         f"{getattr(vertices, 'shape', type(vertices).__name__)}")
    if vertices.shape[0] == 0 or vertices.shape[1] == 0:
        raise ValueError(f"vertices: empty mesh batch {tuple(vertices.shape)}")
    faces = torch.as_tensor(faces, device=vertices.device)
    if faces.dim() != 2 or faces.shape[-1] != 3 or faces.shape[0] == 0:
        raise ValueError(f"faces: expected a non-empty (F, 3) tensor, got {tuple(faces.shape)}")
    if faces.is_floating_point():
        raise ValueError("faces: expected integer vertex indices, got a floating-point tensor")
    faces = faces.long()
    if int(faces.min()) < 0 or int(faces.max()) >= vertices.shape[1]:
        raise ValueError(f"faces: vertex indices must lie in [0, {vertices.shape[1] - 1}], got "
                         f"[{int(faces.min())}, {int(faces.max())}]")
    bad = ~torch.isfinite(vertices).flatten(1).all(dim=1)
    if bad.any():
        raise ValueError(f"vertices: non-finite values in batch item(s) "
                         f"{bad.nonzero().flatten().tolist()[:10]}")
    camera = torch.as_tensor(camera, dtype=torch.float32, device=vertices.device)
    if camera.dim() == 1:
        camera = camera.expand(vertices.shape[0], -1)
    if camera.shape != (vertices.shape[0], 3):
        raise ValueError(f"camera: expected ({vertices.shape[0]}, 3) [s, tx, ty], got "
                         f"{tuple(camera.shape)}")
    if not torch.isfinite(camera).all():
        raise ValueError("camera: non-finite values")
    if len(image_size) != 2 or min(int(image_size[0]), int(image_size[1])) <= 0:
        raise ValueError(f"image_size: expected (H, W) with positive sides, got {image_size}")
    return vertices.float(), faces, camera, (int(image_size[0]), int(image_size[1]))


def to_screen(vertices: torch.Tensor, camera: torch.Tensor,
              image_size: tuple[int, int]) -> torch.Tensor:
    """(B, V, 3) world points -> (B, V, 3) pixel x, pixel y and depth (larger = nearer)."""
    xy = normalised_to_pixels(project_weak_perspective(vertices, camera), image_size)
    depth = vertices[..., 2] * camera[:, 0:1].abs()
    return torch.cat((xy, depth[..., None]), dim=-1)


def _background_tensor(background, batch: int, image_size: tuple[int, int],
                       device) -> torch.Tensor:
    """None (white) / (3,) / (B, 3) / (3, H, W) / (B, 3, H, W) -> (B, 3, H, W) float."""
    height, width = image_size
    if background is None:
        return torch.ones(batch, 3, height, width, device=device)
    bg = torch.as_tensor(background, dtype=torch.float32, device=device)
    if bg.dim() == 1 and bg.shape[0] == 3:
        bg = bg.view(1, 3, 1, 1)
    elif bg.dim() == 2 and bg.shape == (batch, 3):
        bg = bg.view(batch, 3, 1, 1)
    elif bg.dim() == 3 and bg.shape == (3, height, width):
        bg = bg.unsqueeze(0)
    elif not (bg.dim() == 4 and bg.shape[1:] == (3, height, width)
              and bg.shape[0] in (1, batch)):
        raise ValueError(f"background: expected (3,), ({batch}, 3), (3, {height}, {width}) or "
                         f"({batch}, 3, {height}, {width}), got {tuple(bg.shape)}")
    return bg.expand(batch, 3, height, width)


class MeshRenderer(ABC):
    """Structure maps and coloured renders under the weak-perspective camera of mesh.camera."""

    name = "base"

    @abstractmethod
    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor,
                  image_size: tuple[int, int],
                  front_sign: torch.Tensor | None = None) -> Fragments:
        """Backend hook: screen-space vertices -> :class:`Fragments`. ``front_sign`` (B,) asks
        for back-face culling (see :func:`mesh.render.rasterizer.rasterize`); may be ignored."""

    def fragments(self, vertices: torch.Tensor, faces: torch.Tensor, camera: torch.Tensor,
                  image_size: Sequence[int] = DEFAULT_IMAGE_SIZE) -> Fragments:
        """Visible face and barycentrics per pixel (after input checks and projection)."""
        vertices, faces, camera, size = check_mesh_inputs(vertices, faces, camera, image_size)
        return self._rasterize_world(vertices, faces, camera, size)[0]

    def _rasterize_world(self, vertices: torch.Tensor, faces: torch.Tensor,
                         camera: torch.Tensor, size: tuple[int, int]
                         ) -> tuple[Fragments, torch.Tensor]:
        """Fragments and the (B, F, 3) face normals (shared with shading)."""
        normals = face_normals(vertices, faces)
        # Closed, consistently wound meshes (bodies) show only front faces: culling the back
        # half is exact and halves the work. Open meshes keep every face.
        sign = front_face_sign(vertices, faces, normals)
        frags = self.rasterize(to_screen(vertices, camera, size), faces, size, front_sign=sign)
        return frags, normals

    def render_structure_maps(self, vertices: torch.Tensor, faces: torch.Tensor,
                              camera: torch.Tensor,
                              image_size: Sequence[int] = DEFAULT_IMAGE_SIZE,
                              light_dir=STRUCTURE_LIGHT, ambient: float = STRUCTURE_AMBIENT,
                              diffuse: float = STRUCTURE_DIFFUSE) -> torch.Tensor:
        """Grey Lambertian bodies on white: (B, 1, H, W) float in [0, 1], background exactly 1."""
        vertices, faces, camera, size = check_mesh_inputs(vertices, faces, camera, image_size)
        frags, normals = self._rasterize_world(vertices, faces, camera, size)
        return shade_structure(vertices, faces, frags, light_dir, ambient, diffuse, normals)

    def render_colored(self, vertices: torch.Tensor, faces: torch.Tensor,
                       vertex_colors: torch.Tensor, camera: torch.Tensor,
                       image_size: Sequence[int] = DEFAULT_IMAGE_SIZE, background=None,
                       light_dir=COLOR_LIGHT, ambient=COLOR_AMBIENT, diffuse=None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-vertex colours with ambient + directional light over a background.

        ``vertex_colors`` (B, V, 3) or (V, 3) in [0, 1]; ``background`` None (white), a colour
        (3,) / (B, 3) or an image (3, H, W) / (B, 3, H, W); ``light_dir`` (3,) or (B, 3);
        ``ambient`` / ``diffuse`` scalars or (B,) (``diffuse`` defaults to ``1 - ambient``).
        Returns ``(images (B, 3, H, W), mask (B, 1, H, W))``, both float in [0, 1].
        """
        vertices, faces, camera, size = check_mesh_inputs(vertices, faces, camera, image_size)
        batch, num_vertices = vertices.shape[:2]
        colors = torch.as_tensor(vertex_colors, dtype=torch.float32, device=vertices.device)
        if colors.dim() == 2:
            colors = colors.unsqueeze(0).expand(batch, -1, -1)
        if colors.shape != (batch, num_vertices, 3):
            raise ValueError(f"vertex_colors: expected ({batch}, {num_vertices}, 3) or "
                             f"({num_vertices}, 3), got {tuple(colors.shape)}")
        bg = _background_tensor(background, batch, size, vertices.device)
        frags, normals = self._rasterize_world(vertices, faces, camera, size)
        amb = ambient if not isinstance(ambient, torch.Tensor) else ambient.reshape(-1, 1)
        dif = diffuse if not isinstance(diffuse, torch.Tensor) else diffuse.reshape(-1, 1)
        images = shade_colored(vertices, faces, frags, colors, bg, light_dir, amb, dif, normals)
        return images, frags.mask


class TorchRenderer(MeshRenderer):
    """The built-in vectorised pure-PyTorch rasteriser (CPU and CUDA, same code path)."""

    name = "torch"

    def __init__(self, max_fragments: int = 1 << 23, method: str = "auto"):
        """``max_fragments`` and ``method`` (``auto`` | ``compiled`` | ``vectorised``): see
        :func:`mesh.render.rasterizer.rasterize`."""
        self.max_fragments = max_fragments
        self.method = method

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor,
                  image_size: tuple[int, int],
                  front_sign: torch.Tensor | None = None) -> Fragments:
        return rasterize(screen, faces, image_size, max_fragments=self.max_fragments,
                         front_sign=front_sign, method=self.method)
