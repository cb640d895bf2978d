"""Novel viewpoints: rotate a body about the vertical axis through its centre, camera fixed.

GCL's structure maps show each person from the original view and rotated by 45, 90, ..., 315
degrees about the vertical (y) axis through the body centre (the centre of the bounding box, or
a given pivot such as the pelvis joint). The weak-perspective camera stays as it is, unless the
rotated silhouette would leave the image: then its scale shrinks (about the image centre of the
body) just enough to keep the whole body in frame.

:data:`VIEW_ANGLES` is the one default list of viewpoints of the mesh package (the structure-map
cache, the map preparation and the synthetic dataset take it as their default argument); the
ReID side passes its configured angles (``MESH.ANGLES``) explicitly.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .body.transforms import rotation_about_axis
from .camera import project_weak_perspective

#: The viewpoints of a person, in degrees about the vertical axis: the original view first.
VIEW_ANGLES: tuple[int, ...] = (0, 45, 90, 135, 180, 225, 270, 315)
#: The original (unrotated) viewpoint: the map a dataset image is drawn from.
ORIGINAL_VIEW: int = 0


def novel_view_angles(angles: Sequence[int] = VIEW_ANGLES) -> tuple[int, ...]:
    """The rotated viewpoints of ``angles``: all but :data:`ORIGINAL_VIEW`, in their order."""
    return tuple(int(a) for a in angles if int(a) != ORIGINAL_VIEW)


def body_centre(vertices: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) -> (B, 3) centre of each body's bounding box."""
    return (vertices.amin(dim=1) + vertices.amax(dim=1)) / 2


def rotate_about_vertical(vertices: torch.Tensor, angles_deg: torch.Tensor | Sequence[float],
                          centre: torch.Tensor | None = None,
                          per_body: bool = False) -> torch.Tensor:
    """Rotate (B, V, 3) bodies about the y axis through ``centre`` ((B, 3); default: each body's
    bounding-box centre). Positive angles turn a body facing +z towards +x (right-handed rotation
    about +y); heights are unchanged.

    ``per_body=False``: ``angles_deg`` (A,) turns every body by every angle -> (B, A, V, 3), one
    view per angle. ``per_body=True``: ``angles_deg`` (B,) turns each body by its own angle ->
    (B, V, 3) (e.g. the orientation of a posed body).
    """
    angles = torch.as_tensor(angles_deg, dtype=vertices.dtype, device=vertices.device).reshape(-1)
    centre = body_centre(vertices) if centre is None else centre.to(vertices)
    if per_body:
        return _turn_each(vertices, angles, centre)
    rot = rotation_about_axis(angles * (math.pi / 180.0), "y")                  # (A, 3, 3)
    local = vertices - centre[:, None]                                        # (B, V, 3)
    rotated = torch.einsum("aij,bvj->bavi", rot, local)
    return rotated + centre[:, None, None]


def _turn_each(vertices: torch.Tensor, degrees: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Body b of (B, V, 3) turned by ``degrees[b]`` about the vertical through ``centre[b]``;
    the y coordinates are copied, not recomputed."""
    rad = torch.deg2rad(degrees)
    cos, sin = torch.cos(rad)[:, None], torch.sin(rad)[:, None]
    x = vertices[..., 0] - centre[:, 0:1]
    z = vertices[..., 2] - centre[:, 2:3]
    return torch.stack((cos * x + sin * z + centre[:, 0:1], vertices[..., 1],
                        -sin * x + cos * z + centre[:, 2:3]), dim=-1)


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
