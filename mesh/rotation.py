"""Novel viewpoints: rotate a body about the vertical axis through its centre, camera fixed.

GCL's structure maps show each person from the original view and rotated by 45, 90, ..., 315
degrees about the vertical (y) axis through the body centre (the centre of the bounding box, or
a given pivot such as the pelvis joint). The weak-perspective camera stays as it is, unless the
rotated silhouette would leave the image: then its scale shrinks (about the image centre of the
body) just enough to keep the whole body in frame.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .body.transforms import rotation_about_axis
from .camera import project_weak_perspective

VIEW_ANGLES: tuple[int, ...] = (0, 45, 90, 135, 180, 225, 270, 315)


def body_centre(vertices: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) -> (B, 3) centre of each body's bounding box."""
    return (vertices.amin(dim=1) + vertices.amax(dim=1)) / 2


def rotate_about_vertical(vertices: torch.Tensor, angles_deg: torch.Tensor | Sequence[float],
                          centre: torch.Tensor | None = None) -> torch.Tensor:
    """Rotate bodies about the y axis through ``centre`` ((B, 3); default: bounding-box centre).

    ``angles_deg``: (A,) angles -> (B, A, V, 3); positive angles turn a body facing +z towards +x
    (right-handed rotation about +y).
    """
    angles = torch.as_tensor(angles_deg, dtype=vertices.dtype, device=vertices.device).reshape(-1)
    centre = body_centre(vertices) if centre is None else centre.to(vertices)
    rot = rotation_about_axis(angles * (math.pi / 180.0), "y")                  # (A, 3, 3)
    local = vertices - centre[:, None]                                        # (B, V, 3)
    rotated = torch.einsum("aij,bvj->bavi", rot, local)
    return rotated + centre[:, None, None]


def keep_in_frame(vertices: torch.Tensor, camera: torch.Tensor, image_size: tuple[int, int],
                  margin: float = 0.02) -> torch.Tensor:
    """Cameras (N, 3) whose scale is reduced, where needed, so every vertex projects inside the
    image (with ``margin`` of the image height to spare). The translation is unchanged, so the
    body stays where it was; cameras that already fit are returned as they are."""
    height, width = image_size
    uv = project_weak_perspective(vertices, camera)                            # (N, V, 2)
    half_u = width / height - margin                                          # u range: +-W/H
    half_v = 1.0 - margin
    need_u = uv[..., 0].abs().amax(dim=1) / half_u
    need_v = uv[..., 1].abs().amax(dim=1) / half_v
    shrink = torch.clamp(torch.maximum(need_u, need_v), min=1.0)
    return torch.cat((camera[:, :1] / shrink[:, None], camera[:, 1:]), dim=1)


def rotate_views(vertices: torch.Tensor, camera: torch.Tensor,
                 angles_deg: Sequence[float] = VIEW_ANGLES, image_size: tuple[int, int] = (256, 128),
                 centre: torch.Tensor | None = None, fit: bool = True
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """All viewpoints of a batch: ``(B, V, 3)`` bodies and ``(B, 3)`` cameras ->
    ``(B, A, V, 3)`` rotated bodies and ``(B, A, 3)`` cameras (refitted if ``fit``)."""
    if vertices.ndim != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"rotate_views: vertices must be (B, V, 3); got {tuple(vertices.shape)}")
    if camera.shape != (vertices.shape[0], 3):
        raise ValueError(f"rotate_views: camera must be (B, 3) [s, tx, ty]; got "
                         f"{tuple(camera.shape)} for {vertices.shape[0]} bodies")
    rotated = rotate_about_vertical(vertices, angles_deg, centre)
    batch, num_angles = rotated.shape[:2]
    cameras = camera[:, None].expand(batch, num_angles, 3).to(rotated.dtype)
    if fit:
        flat = keep_in_frame(rotated.reshape(batch * num_angles, -1, 3),
                             cameras.reshape(-1, 3), image_size)
        cameras = flat.reshape(batch, num_angles, 3)
    return rotated, cameras
