"""Everyday poses for :class:`~mesh.body.anny_model.AnnyBody`: the walking and standing family.

Angles are radians, about the project's axes (x = the body's left, y = up, z = forward):
a negative rotation about x swings a hanging limb forward. Every argument may be a float or a
(B,) tensor; the result is a (B, pose_dim) pose for ``body(pose=..., shape=...)``.
"""
from __future__ import annotations

import math

import torch

from .transforms import axis_angle_to_matrix, matrix_to_axis_angle, rotation_about_axis

# Anny's rest pose is an A-pose with the upper arms ~40 degrees from vertical; lowering them by
# this much lets them hang beside the body without touching the hips.
ARMS_DOWN = 0.55

_HIP = ("upperleg01.L", "upperleg01.R")
_KNEE = ("lowerleg01.L", "lowerleg01.R")
_SHOULDER = ("upperarm01.L", "upperarm01.R")
_ELBOW = ("lowerarm01.L", "lowerarm01.R")
_SPINE = "spine03"


def _batch(*values) -> int:
    return max(torch.as_tensor(v).numel() for v in values)


def _vec(value, batch: int, device) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32, device=device).reshape(-1).expand(batch)


def _axis(angle: torch.Tensor, axis: str) -> torch.Tensor:
    """(B,) angle about a coordinate axis -> (B, 3) axis-angle."""
    out = torch.zeros(angle.shape[0], 3, dtype=angle.dtype, device=angle.device)
    out[:, "xyz".index(axis)] = angle
    return out


def _arm(lower: torch.Tensor, swing: torch.Tensor, side: int) -> torch.Tensor:
    """Shoulder rotation: lower the arm towards the body (about z), then swing it (about x)."""
    rot = rotation_about_axis(swing, "x") @ rotation_about_axis(-side * lower, "z")
    return matrix_to_axis_angle(rot)


def _pose(body, rotations: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
    return body.pose_from_rotations(rotations, batch=batch)


def walking_pose(body, phase, amplitude=1.0, arms_down=ARMS_DOWN) -> torch.Tensor:
    """A walking gait at ``phase`` (radians; 0 and pi = legs passing, pi/2 = left leg forward).

    ``amplitude`` scales the swing (0 = standing straight, 1 = a normal stride).
    """
    batch = _batch(phase, amplitude, arms_down)
    device = body.faces.device
    phase, amp, down = (_vec(v, batch, device) for v in (phase, amplitude, arms_down))
    sin, cos = torch.sin(phase), torch.cos(phase)
    hip_swing = 0.45 * amp * sin                      # > 0: left thigh forward
    knee_left = amp * (0.08 + 0.55 * torch.relu(cos))  # bends while the leg swings forward
    knee_right = amp * (0.08 + 0.55 * torch.relu(-cos))
    arm_swing = 0.35 * amp * sin                      # opposite to the legs
    rotations = {
        _HIP[0]: _axis(-hip_swing, "x"), _HIP[1]: _axis(hip_swing, "x"),
        _KNEE[0]: _axis(knee_left, "x"), _KNEE[1]: _axis(knee_right, "x"),
        _SHOULDER[0]: _arm(down, arm_swing, +1), _SHOULDER[1]: _arm(down, -arm_swing, -1),
        _ELBOW[0]: _axis(-(0.15 + 0.2 * amp * torch.relu(-sin)), "x"),
        _ELBOW[1]: _axis(-(0.15 + 0.2 * amp * torch.relu(sin)), "x"),
        _SPINE: _axis(0.08 * amp * sin, "y"),         # counter-rotation of the torso
    }
    return _pose(body, rotations, batch)


def standing_pose(body, arms_down=ARMS_DOWN, arm_forward=0.0, elbow=0.05, leg_spread=0.04,
                  weight_shift=0.0, torso_twist=0.0) -> torch.Tensor:
    """A relaxed standing pose.

    ``arm_forward``: arms raised forward (radians); ``elbow``: elbow bend; ``leg_spread``: each
    leg out to the side; ``weight_shift``: > 0 bends the right knee (weight on the left leg);
    ``torso_twist``: rotation of the chest about the vertical axis.
    """
    batch = _batch(arms_down, arm_forward, elbow, leg_spread, weight_shift, torso_twist)
    device = body.faces.device
    down, forward, bend, spread, shift, twist = (
        _vec(v, batch, device)
        for v in (arms_down, arm_forward, elbow, leg_spread, weight_shift, torso_twist))
    zeros = torch.zeros_like(down)
    knee_l, knee_r = torch.relu(-shift) * 0.3, torch.relu(shift) * 0.3
    rotations = {
        _HIP[0]: _axis(spread, "z"), _HIP[1]: _axis(-spread, "z"),
        _KNEE[0]: _axis(knee_l, "x"), _KNEE[1]: _axis(knee_r, "x"),
        _SHOULDER[0]: _arm(down, -forward, +1), _SHOULDER[1]: _arm(down, -forward, -1),
        _ELBOW[0]: _axis(-bend, "x"), _ELBOW[1]: _axis(-bend, "x"),
        _SPINE: _axis(twist + zeros, "y"),
    }
    return _pose(body, rotations, batch)


def random_everyday_pose(body, batch: int, generator: torch.Generator | None = None,
                         walking_fraction: float = 0.7) -> torch.Tensor:
    """Random poses of the walking / standing family (deterministic for a seeded generator)."""
    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(batch, generator=generator)

    walking = torch.rand(batch, generator=generator) < walking_fraction
    walk = walking_pose(body, uniform(0.0, 2 * math.pi), uniform(0.5, 1.1),
                        uniform(ARMS_DOWN - 0.1, ARMS_DOWN + 0.05))
    stand = standing_pose(body, uniform(ARMS_DOWN - 0.15, ARMS_DOWN + 0.05),
                          uniform(0.0, 0.3), uniform(0.05, 0.6), uniform(0.0, 0.08),
                          uniform(-0.5, 0.5), uniform(-0.2, 0.2))
    return torch.where(walking.to(walk.device)[:, None], walk, stand)


__all__ = ["ARMS_DOWN", "random_everyday_pose", "standing_pose", "walking_pose",
           "axis_angle_to_matrix"]
