"""Shading of rasterised fragments: smooth vertex normals, Lambertian grey and vertex colours.

Shared by every rasteriser backend: a backend only has to produce :class:`Fragments`.
Lighting happens in camera space of :mod:`mesh.camera` (x right, y up, +z towards the camera).

Face normals, vertex normals and structure shading of float32 CPU tensors run as compiled
kernels (:mod:`mesh.render.kernels`, when numba is installed; the same formulas and summation
order, some ten times faster than the chains of small torch ops); everything else, CUDA
included, runs the torch code below.
"""
from __future__ import annotations

import numpy as np
import torch

from . import kernels
from .rasterizer import Fragments

# Light of the structure maps: roughly from the camera, a little from above and the right.
STRUCTURE_LIGHT = (0.2, 0.35, 1.0)
STRUCTURE_AMBIENT = 0.2
STRUCTURE_DIFFUSE = 0.7


_NORMAL_EPS = 1e-12


def _compiled(*tensors: torch.Tensor) -> bool:
    """True when the compiled kernels can take these tensors: numba installed, all on CPU,
    the floating ones float32, and no autograd graph to build."""
    return kernels.NUMBA_AVAILABLE and all(
        t.device.type == "cpu" and (t.dtype == torch.float32 or not t.is_floating_point())
        and not (t.requires_grad and torch.is_grad_enabled()) for t in tensors)


def _array(t: torch.Tensor) -> np.ndarray:
    """A contiguous numpy view (or copy) of a CPU tensor for the kernels."""
    return t.detach().contiguous().numpy()


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, 3), (F, 3) -> (B, F, 3) area-weighted (unnormalised) face normals."""
    batch, num_faces = vertices.shape[0], faces.shape[0]
    if _compiled(vertices, faces):
        out = torch.empty(batch, num_faces, 3)
        kernels.over_items(kernels.face_normals_items, batch, _array(vertices),
                           _array(faces.long()), out.numpy())
        return out
    tri = vertices.index_select(1, faces.reshape(-1)).view(batch, num_faces, 3, 3)
    return torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor,
                   face_normal: torch.Tensor | None = None) -> torch.Tensor:
    """(B, V, 3) unit vertex normals: the area-weighted mean of the adjacent face normals."""
    fn = face_normals(vertices, faces) if face_normal is None else face_normal
    normals = torch.zeros_like(vertices)
    if _compiled(vertices, fn, faces):
        kernels.over_items(kernels.vertex_normals_items, vertices.shape[0], _array(fn),
                           _array(faces.long()), np.float32(_NORMAL_EPS), normals.numpy())
        return normals
    for corner in range(3):
        normals.index_add_(1, faces[:, corner], fn)
    return torch.nn.functional.normalize(normals, dim=-1, eps=_NORMAL_EPS)


def interpolate_visible(frags: Fragments, attributes: torch.Tensor, faces: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate per-vertex ``attributes`` (B, V, C) at the covered pixels.

    Returns ``(pixels, values)``: the flat indices (into B*H*W) of the covered pixels and their
    (P, C) interpolated values.
    """
    batch, height, width = frags.face_index.shape
    flat_face = frags.face_index.reshape(-1)
    pix = torch.nonzero(flat_face >= 0).flatten()
    item = pix // (height * width)
    num_vertices, channels = attributes.shape[1], attributes.shape[2]
    corner_vertices = faces.index_select(0, flat_face[pix]) + (item * num_vertices)[:, None]
    values = attributes.reshape(-1, channels).index_select(0, corner_vertices.reshape(-1))
    values = values.view(-1, 3, channels)  # (P, 3, C)
    bary = frags.bary.reshape(-1, 3)[pix]
    return pix, (values * bary[:, :, None]).sum(dim=1)


def _facing_sign(face_normal: torch.Tensor, frags: Fragments, pix: torch.Tensor) -> torch.Tensor:
    """+1 where the visible face's geometric normal points towards the camera, else -1.

    Makes shading independent of the mesh's winding order (a back face seen through a hole, or
    an inward-wound mesh, is lit like a front face).
    """
    batch, height, width = frags.face_index.shape
    fn_z = face_normal[..., 2].reshape(-1)  # (B * F,)
    item = pix // (height * width)
    z = fn_z.index_select(0, item * face_normal.shape[1] + frags.face_index.reshape(-1)[pix])
    return torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def _lambert(normals: torch.Tensor, light_dir: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
    """max(0, n . l) per pixel; ``light_dir`` (B, 3) unit vectors, ``item`` the pixel's batch item."""
    return (normals * light_dir[item]).sum(dim=-1).clamp_min(0.0)


def _per_item(value, batch: int, width: int, device, name: str) -> torch.Tensor:
    """Broadcast a scalar / (C,) / (B, C) light parameter to (B, C)."""
    t = torch.as_tensor(value, dtype=torch.float32, device=device)
    if t.dim() == 0:
        t = t.expand(width) if width > 1 else t.reshape(1)
    if t.dim() == 1:
        if t.shape[0] != width:
            raise ValueError(f"{name}: expected {width} values (or one per batch item as "
                             f"({batch}, {width})), got shape {tuple(t.shape)}")
        t = t.expand(batch, width)
    if t.shape != (batch, width):
        raise ValueError(f"{name}: expected shape ({batch}, {width}), got {tuple(t.shape)}")
    return t


def shade_structure(vertices: torch.Tensor, faces: torch.Tensor, frags: Fragments,
                    light_dir=STRUCTURE_LIGHT, ambient: float = STRUCTURE_AMBIENT,
                    diffuse: float = STRUCTURE_DIFFUSE,
                    face_normal: torch.Tensor | None = None) -> torch.Tensor:
    """Grey Lambertian body on a white background: (B, 1, H, W) in [0, 1], background == 1."""
    batch, height, width = frags.face_index.shape
    light = torch.nn.functional.normalize(
        _per_item(light_dir, batch, 3, vertices.device, "light_dir"), dim=-1)
    fn = face_normals(vertices, faces) if face_normal is None else face_normal
    vn = vertex_normals(vertices, faces, fn)
    if (_compiled(vn, fn, faces, frags.face_index, frags.bary, light)
            and all(isinstance(x, (int, float)) for x in (ambient, diffuse))):
        image = torch.ones(batch, height * width)
        kernels.over_items(kernels.shade_structure_items, batch, _array(vn), _array(fn),
                           _array(faces.long()), _array(frags.face_index.reshape(batch, -1)),
                           _array(frags.bary.reshape(batch, -1, 3)), _array(light),
                           np.float32(ambient), np.float32(diffuse), np.float32(_NORMAL_EPS),
                           image.numpy())
        return image.view(batch, 1, height, width)
    pix, normals = interpolate_visible(frags, vn, faces)
    normals = torch.nn.functional.normalize(normals, dim=-1, eps=_NORMAL_EPS)
    normals = normals * _facing_sign(fn, frags, pix)[:, None]
    item = pix // (height * width)
    grey = (ambient + diffuse * _lambert(normals, light, item)).clamp(0.0, 1.0)
    image = torch.ones(batch * height * width, device=vertices.device, dtype=torch.float32)
    image[pix] = grey
    return image.view(batch, 1, height, width)


def shade_colored(vertices: torch.Tensor, faces: torch.Tensor, frags: Fragments,
                  vertex_colors: torch.Tensor, background: torch.Tensor,
                  light_dir, ambient, diffuse=None,
                  face_normal: torch.Tensor | None = None) -> torch.Tensor:
    """Vertex colours x (ambient + diffuse * Lambert) over ``background`` (B, 3, H, W)."""
    batch, height, width = frags.face_index.shape
    device = vertices.device
    light = torch.nn.functional.normalize(_per_item(light_dir, batch, 3, device, "light_dir"),
                                          dim=-1)
    amb = _per_item(ambient, batch, 1, device, "ambient")[:, 0]
    dif = (1.0 - amb) if diffuse is None else _per_item(diffuse, batch, 1, device, "diffuse")[:, 0]
    fn = face_normals(vertices, faces) if face_normal is None else face_normal
    attrs = torch.cat((vertex_normals(vertices, faces, fn), vertex_colors.float()), dim=-1)
    pix, values = interpolate_visible(frags, attrs, faces)
    normals = torch.nn.functional.normalize(values[:, :3], dim=-1, eps=_NORMAL_EPS)
    normals = normals * _facing_sign(fn, frags, pix)[:, None]
    item = pix // (height * width)
    light_amount = amb[item] + dif[item] * _lambert(normals, light, item)
    rgb = (values[:, 3:] * light_amount[:, None]).clamp(0.0, 1.0)
    image = background.permute(0, 2, 3, 1).reshape(-1, 3).clone()
    image[pix] = rgb
    return image.view(batch, height, width, 3).permute(0, 3, 1, 2).contiguous()
