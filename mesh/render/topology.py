"""Mesh topology checks used for exact back-face culling of closed meshes."""
from __future__ import annotations

import weakref

import torch

# Face tensors already checked, by object identity: id -> (version, closed and oriented).
# Entries leave when their tensor is garbage-collected.
_CLOSED_CACHE: dict[int, tuple[int, bool]] = {}


def is_closed_oriented(faces: torch.Tensor) -> bool:
    """True when every edge is shared by exactly two faces that traverse it in opposite
    directions (a closed, consistently wound surface: only its front faces can be seen)."""
    key = id(faces)
    cached = _CLOSED_CACHE.get(key)
    if cached is not None and cached[0] == faces._version:
        return cached[1]
    directed = torch.cat((faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]), dim=0)
    num_vertices = int(faces.max()) + 1
    codes = directed[:, 0] * num_vertices + directed[:, 1]
    reverse = directed[:, 1] * num_vertices + directed[:, 0]
    unique = torch.unique(codes)
    result = bool(unique.numel() == codes.numel()
                  and torch.isin(reverse, unique).all())
    if key not in _CLOSED_CACHE:
        weakref.finalize(faces, _CLOSED_CACHE.pop, key, None)
    _CLOSED_CACHE[key] = (faces._version, result)
    return result


def signed_volume(vertices: torch.Tensor, faces: torch.Tensor,
                  face_normal: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) signed volume of closed meshes: > 0 when the faces are wound outwards.

    ``face_normal``: the (B, F, 3) unnormalised normals (b - a) x (c - a), when already known.
    """
    first = vertices.index_select(1, faces[:, 0])
    if face_normal is None:
        second = vertices.index_select(1, faces[:, 1])
        third = vertices.index_select(1, faces[:, 2])
        face_normal = torch.cross(second - first, third - first, dim=-1)
    # a . ((b - a) x (c - a)) = a . (b x c): six times the signed tetrahedron volume
    return (first * face_normal).sum(dim=(1, 2)) / 6.0


def front_face_sign(vertices: torch.Tensor, faces: torch.Tensor,
                    face_normal: torch.Tensor | None = None) -> torch.Tensor | None:
    """(B,) +1 (outward-wound) / -1 (inward-wound) for closed meshes, None for open ones."""
    if not is_closed_oriented(faces):
        return None
    volume = signed_volume(vertices, faces, face_normal)
    return torch.where(volume >= 0, torch.ones_like(volume), -torch.ones_like(volume))
