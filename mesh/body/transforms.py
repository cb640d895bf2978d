"""Small rotation helpers shared by the body models and the mesh regressor (batched, any device)."""
from __future__ import annotations

import torch


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle vectors -> (..., 3, 3) rotation matrices."""
    angle = axis_angle.norm(dim=-1, keepdim=True)
    axis = axis_angle / angle.clamp_min(1e-8)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1)
    skew = skew.reshape(axis_angle.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    sin = torch.sin(angle)[..., None]
    cos = torch.cos(angle)[..., None]
    return eye + sin * skew + (1 - cos) * (skew @ skew)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle vectors (angles in [0, pi]).

    Through the unit quaternion (:func:`matrix_to_quaternion`), so rotations near pi (HMR's
    global orientation starts at pi about x) keep full precision.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions ``(w, x, y, z)`` with w >= 0.

    Each of the four components has its own closed form, divided by four times that component;
    the one with the largest magnitude is used, which is always well conditioned (Shepperd).
    """
    m = matrix.reshape(matrix.shape[:-2] + (9,))
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    # 4 q_k^2 for k = w, x, y, z
    squares = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                           1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1)
    wx, wy, wz = m21 - m12, m02 - m20, m10 - m01
    xy, xz, yz = m01 + m10, m02 + m20, m12 + m21
    # row k: 4 q_k * (w, x, y, z)
    scaled = torch.stack((
        torch.stack((squares[..., 0], wx, wy, wz), dim=-1),
        torch.stack((wx, squares[..., 1], xy, xz), dim=-1),
        torch.stack((wy, xy, squares[..., 2], yz), dim=-1),
        torch.stack((wz, xz, yz, squares[..., 3]), dim=-1)), dim=-2)
    best = squares.argmax(dim=-1)
    row = torch.gather(scaled, -2, best[..., None, None].expand(best.shape + (1, 4)))[..., 0, :]
    quat = row / (2 * torch.gather(squares, -1, best[..., None]).clamp_min(1e-12).sqrt())
    quat = quat / quat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(quat[..., :1] < 0, -quat, quat)


def quaternion_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions ``(w, x, y, z)`` -> (..., 3) axis-angle vectors (angles in [0, pi])."""
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    w, xyz = quat[..., 0], quat[..., 1:]
    sin_half = xyz.norm(dim=-1)
    angle = 2 * torch.atan2(sin_half, w)
    # angle / sin(angle / 2), which tends to 2 / w for small angles
    factor = torch.where(sin_half > 1e-6, angle / sin_half.clamp_min(1e-6), 2 / w.clamp_min(1e-6))
    return xyz * factor[..., None]


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) continuous 6-D rotations (Zhou et al., CVPR 2019) -> (..., 3, 3) rotation matrices.

    The layout of SPIN-style regressors: the six numbers are a row-major (3, 2) matrix whose
    columns ``a1 = (r0, r2, r4)`` and ``a2 = (r1, r3, r5)`` are orthonormalised (Gram-Schmidt)
    into the first two columns of the rotation; the third is their cross product.
    """
    if rot6d.shape[-1] != 6:
        raise ValueError(f"6-D rotations must have 6 numbers in the last dimension; got shape "
                         f"{tuple(rot6d.shape)}")
    pairs = rot6d.reshape(rot6d.shape[:-1] + (3, 2))
    a1, a2 = pairs[..., 0], pairs[..., 1]
    b1 = torch.nn.functional.normalize(a1, dim=-1, eps=1e-8)
    b2 = a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1
    b2 = torch.nn.functional.normalize(b2, dim=-1, eps=1e-8)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 6): the first two columns, row-major as (3, 2)
    (the inverse of :func:`rot6d_to_matrix` on rotation matrices)."""
    return matrix[..., :, :2].reshape(matrix.shape[:-2] + (6,))


def rotation_about_axis(angle: torch.Tensor, axis: str) -> torch.Tensor:
    """(...,) angles in radians -> (..., 3, 3) rotations about the ``"x"``, ``"y"`` or ``"z"`` axis."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    if axis == "x":
        rows = (one, zero, zero, zero, cos, -sin, zero, sin, cos)
    elif axis == "y":
        rows = (cos, zero, sin, zero, one, zero, -sin, zero, cos)
    elif axis == "z":
        rows = (cos, -sin, zero, sin, cos, zero, zero, zero, one)
    else:
        raise ValueError(f"rotation axis must be 'x', 'y' or 'z'; got {axis!r}")
    return torch.stack(rows, dim=-1).reshape(angle.shape + (3, 3))
