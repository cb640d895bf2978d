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
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle vectors (angles in [0, pi])."""
    trace = matrix.diagonal(dim1=-2, dim2=-1).sum(-1)
    cos = ((trace - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    vec = torch.stack((matrix[..., 2, 1] - matrix[..., 1, 2],
                       matrix[..., 0, 2] - matrix[..., 2, 0],
                       matrix[..., 1, 0] - matrix[..., 0, 1]), dim=-1)
    sin = torch.sin(angle)
    small = sin.abs() < 1e-4
    axis = vec / (2 * sin.clamp_min(1e-8))[..., None]
    # near pi: the axis is the column of (R + I) / 2 with the largest norm
    sym = (matrix + torch.eye(3, dtype=matrix.dtype, device=matrix.device)) / 2
    col = sym.diagonal(dim1=-2, dim2=-1).argmax(-1)
    near_pi_axis = torch.gather(sym, -1, col[..., None, None].expand(sym.shape[:-1] + (1,)))[..., 0]
    near_pi_axis = near_pi_axis / near_pi_axis.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    near_pi_axis = near_pi_axis * torch.where(
        (near_pi_axis * vec).sum(-1, keepdim=True) < 0, -1.0, 1.0)
    axis = torch.where((small & (cos < 0))[..., None], near_pi_axis, axis)
    result = axis * angle[..., None]
    return torch.where((small & (cos >= 0))[..., None], vec / 2, result)


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
