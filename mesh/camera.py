"""The one camera convention shared by the mesh regressor, the renderers and the synthetic data.

World / body coordinates: metres, **y up**, the body faces **+z**; the camera sits on the +z side
looking towards -z, so a larger z is nearer to the camera.

Weak-perspective camera (HMR's, with ``s, tx, ty``): a 3D point X projects to normalised image
coordinates

    u = s * (X_x + tx)          v = s * (X_y + ty)

where (u, v) = (0, 0) is the image centre, v grows upwards, and one unit spans half the image
*height* on both axes (so a 256 x 128 image covers u in [-0.5, 0.5], v in [-1, 1]). Pixel
coordinates (x to the right, y down, pixel centres at +0.5):

    px = W / 2 + u * H / 2      py = H / 2 - v * H / 2

HMR regresses its camera in a square crop whose side equals the image height, so this mapping
holds for person crops of any aspect ratio.
"""
from __future__ import annotations

import torch


def project_weak_perspective(vertices: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) points and (B, 3) cameras ``[s, tx, ty]`` -> (B, V, 2) normalised ``(u, v)``."""
    s = camera[:, 0:1, None]
    t = camera[:, None, 1:3]
    return s * (vertices[..., :2] + t)


def normalised_to_pixels(uv: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Normalised ``(u, v)`` -> pixel ``(x, y)`` for an image of ``(H, W)``."""
    height, width = image_size
    x = width / 2.0 + uv[..., 0] * (height / 2.0)
    y = height / 2.0 - uv[..., 1] * (height / 2.0)
    return torch.stack((x, y), dim=-1)


def fit_camera(vertices: torch.Tensor, image_size: tuple[int, int],
               fill: float = 0.9) -> torch.Tensor:
    """A weak-perspective camera that centres each body and fits it in the frame.

    ``fill`` is the fraction of the image height (or width, whichever binds) the body spans.
    Returns (B, 3) ``[s, tx, ty]``.
    """
    height, width = image_size
    lo = vertices[..., :2].amin(dim=1)
    hi = vertices[..., :2].amax(dim=1)
    centre = (lo + hi) / 2
    extent = (hi - lo).clamp_min(1e-6)
    # one unit = H/2 pixels: the body height spans 2*fill units, its width at most fill*W/H*2.
    scale_h = 2.0 * fill / extent[:, 1]
    scale_w = 2.0 * fill * (width / height) / extent[:, 0]
    s = torch.minimum(scale_h, scale_w)
    return torch.cat((s[:, None], -centre), dim=1)
