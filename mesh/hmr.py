"""HMR-style mesh regressor: ResNet-50 + iterative error feedback -> SMPL camera, pose, shape.

``HMRRegressor`` maps person crops to a weak-perspective camera ``(s, tx, ty)``, the SMPL pose
(global orientation + 23 joints) and 10 betas. Features (2048, global average pooled) are
concatenated with the current estimate and refined three times by
``fc1 (1024) -> dropout -> fc2 (1024) -> dropout -> residual`` heads, starting from a
mean-parameter vector. The pose head has one of two representations (:data:`POSE_DIMS`):

* ``axis_angle``: 72 numbers (24 x 3), the original HMR; the estimate fed back to ``fc1`` is
  ``(camera, pose, betas)`` (``fc1`` takes 2048 + 85 inputs);
* ``rot6d``: 144 numbers (24 x 6, the continuous 6-D rotations of
  :func:`mesh.body.transforms.rot6d_to_matrix`), SPIN's head; the estimate is fed back as
  ``(pose, betas, camera)``, SPIN's order (``fc1`` takes 2048 + 157 inputs).

Whatever the head, :meth:`HMRRegressor.forward` returns the pose both as 72 axis-angle values
(``pose``, what the body models of :mod:`mesh.body` take) and as (24, 3, 3) rotation matrices
(``rotmat``). :meth:`HMRRegressor.load_checkpoint` reads the representation off the checkpoint
(the shape of ``decpose.weight``) and rebuilds the heads to match.

Input: (B, 3, H, W) images in [-1, 1] (the project's convention), any aspect ratio; they are
padded to a square of side H (as HMR's crops are) and resized to 224 x 224; ImageNet
normalisation happens inside (as in SPIN's ``constants.IMG_NORM_MEAN`` / ``IMG_NORM_STD``).
Nothing is downloaded: the network starts from random weights and
:meth:`HMRRegressor.load_checkpoint` loads the user's weights.

Accepted checkpoint formats (``MESH.HMR_CHECKPOINT``):

* this project's own (:meth:`HMRRegressor.save_checkpoint`): ``{"format": "gcl_reid.hmr",
  "state_dict": ...}``;
* a plain state dict of this module, possibly under ``state_dict`` / ``model`` and with
  ``module.`` / ``model.`` prefixes (DataParallel and common PyTorch ports);
* SPIN's ``hmr`` (github.com/nkolot/SPIN, ``models/hmr.py``): ResNet keys at the top level
  (``conv1``, ``bn1``, ``layer1`` ... ``layer4``), the heads ``fc1`` (1024 x 2205), ``fc2``,
  ``decpose`` (144), ``decshape`` (10), ``deccam`` (3) and the mean parameters ``init_pose``
  (1, 144), ``init_shape`` (1, 10), ``init_cam`` (1, 3). Its released ``data/model_checkpoint.pt``
  stores ``{"model": state_dict, "optimizer": ..., "epoch": ...}`` and loads as it is. VIBE
  (github.com/mkocabas/VIBE) and TCMR (github.com/hongsukchoi/TCMR_RELEASE) copy SPIN's
  ``HMR`` class (same keys, ``fc1`` over ``[features, pose, shape, cam]``, SPIN's
  ``rot6d_to_rotmat``) into ``lib/models/spin.py`` and read its weights from their data
  archives' ``spin_model_checkpoint.pth.tar`` (a ``{"model": ...}`` file): a file of that
  layout loads. Their own video checkpoints (``gen_state_dict``: a GRU encoder plus a
  ``regressor`` on its temporal features) hold no image backbone and are not accepted.
* Not loadable: MandyMo/pytorch_HMR, whose regressor puts ReLUs between its fully connected
  layers and fuses the three heads into one 85-output layer
  (``regressor.fc_blocks.regressor_fc_{0,1,2}``); it is a different network.

The heads must fit one of the two representations exactly: a checkpoint whose ``decpose`` /
``fc1`` / ``decshape`` / ``deccam`` / ``init_*`` tensors fit neither is refused with the keys and
shapes named. Every other mismatch (e.g. backbone keys) is reported by name
(:class:`common.KeyReport`); ``strict=True`` makes it an error.

HMR's image space has y pointing down (SPIN's too); :func:`hmr_to_project` turns its SMPL
meshes and cameras into the project convention (:mod:`mesh.camera`: y up), so rendered bodies
stand upright.
"""
from __future__ import annotations

import math
import os
import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from common.io import atomic_save
from common.state_dict import KeyReport, load_state_dict_with_report, read_checkpoint

from .body.transforms import (axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d,
                              rot6d_to_matrix)

CHECKPOINT_FORMAT = "gcl_reid.hmr"
NUM_JOINTS = 24
NUM_CAMERA, NUM_POSE, NUM_SHAPE = 3, 3 * NUM_JOINTS, 10
NUM_FEATURES, NUM_HIDDEN = 2048, 1024
#: Numbers of the pose head per representation.
POSE_DIMS = {"axis_angle": NUM_POSE, "rot6d": 6 * NUM_JOINTS}
#: The order in which each representation feeds its estimate back to ``fc1``.
ESTIMATE_ORDER = {"axis_angle": ("camera", "pose", "shape"),      # HMR
                  "rot6d": ("pose", "shape", "camera")}           # SPIN
INPUT_SIZE = 224
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RESNET_KEY = re.compile(r"^(conv1|bn1|layer[1-4])\.")
_HEAD_LAYERS = ("fc1", "fc2", "decpose", "decshape", "deccam")
_MEAN_BUFFERS = ("init_pose", "init_shape", "init_cam")


def pad_to_square(images: torch.Tensor, size: int = INPUT_SIZE, fill: float = 0.0) -> torch.Tensor:
    """Pad (B, C, H, W) crops left/right (or top/bottom) to a centred square, resize to ``size``."""
    height, width = images.shape[-2:]
    side = max(height, width)
    pad_w, pad_h = side - width, side - height
    padded = F.pad(images, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2),
                   value=fill)
    if side == size:
        return padded
    return F.interpolate(padded, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=side > size)


def _check_representation(pose_representation: str) -> str:
    if pose_representation not in POSE_DIMS:
        raise ValueError(f"HMR pose representation must be one of {sorted(POSE_DIMS)}; got "
                         f"{pose_representation!r}")
    return pose_representation


def mean_parameters(pose_representation: str = "axis_angle") -> torch.Tensor:
    """HMR's starting estimate ``(camera, pose, betas)``: camera (0.9, 0, 0), the body upright in
    image space (global rotation pi about x), rest pose, mean shape; the pose in
    ``pose_representation`` (72 axis-angle or 144 6-D values)."""
    rotations = torch.eye(3).repeat(NUM_JOINTS, 1, 1)
    rotations[0] = torch.diag(torch.tensor([1.0, -1.0, -1.0]))              # pi about x
    if _check_representation(pose_representation) == "rot6d":
        pose = matrix_to_rot6d(rotations).reshape(-1)
    else:
        pose = torch.zeros(NUM_POSE)
        pose[0] = math.pi
    return torch.cat((torch.tensor([0.9, 0.0, 0.0]), pose, torch.zeros(NUM_SHAPE)))


class HMRRegressor(nn.Module):
    """ResNet-50 encoder + 3-step iterative error feedback regressor (module doc)."""

    def __init__(self, num_iterations: int = 3, dropout: float = 0.5,
                 pose_representation: str = "axis_angle"):
        super().__init__()
        import torchvision

        backbone = torchvision.models.resnet50(weights=None)
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.num_iterations = int(num_iterations)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.register_buffer("pixel_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)
        self.build_heads(pose_representation)

    @property
    def pose_dim(self) -> int:
        """Numbers of the pose head (72 or 144)."""
        return POSE_DIMS[self.pose_representation]

    def build_heads(self, pose_representation: str) -> None:
        """(Re)create the regressor heads and mean parameters for ``pose_representation``,
        freshly initialised, on the device of the backbone."""
        self.pose_representation = _check_representation(pose_representation)
        pose_dim = self.pose_dim
        reference = self.backbone.conv1.weight
        self.fc1 = nn.Linear(NUM_FEATURES + pose_dim + NUM_SHAPE + NUM_CAMERA, NUM_HIDDEN)
        self.fc2 = nn.Linear(NUM_HIDDEN, NUM_HIDDEN)
        self.decpose = nn.Linear(NUM_HIDDEN, pose_dim)
        self.decshape = nn.Linear(NUM_HIDDEN, NUM_SHAPE)
        self.deccam = nn.Linear(NUM_HIDDEN, NUM_CAMERA)
        for head in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(head.weight, gain=0.01)
            nn.init.zeros_(head.bias)
        mean = mean_parameters(pose_representation)
        self.register_buffer("init_cam", mean[:NUM_CAMERA].clone()[None])
        self.register_buffer("init_pose", mean[NUM_CAMERA:NUM_CAMERA + pose_dim].clone()[None])
        self.register_buffer("init_shape", mean[NUM_CAMERA + pose_dim:].clone()[None])
        for name in _HEAD_LAYERS + _MEAN_BUFFERS:
            setattr(self, name, getattr(self, name).to(device=reference.device,
                                                         dtype=reference.dtype))

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] crops of any aspect ratio -> ImageNet-normalised 224 x 224 squares."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"HMRRegressor expects (B, 3, H, W) images in [-1, 1]; got "
                             f"{tuple(images.shape)}")
        unit = (images + 1.0) / 2.0
        square = pad_to_square(unit, INPUT_SIZE, fill=0.0)
        return (square - self.pixel_mean) / self.pixel_std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """-> ``{"camera": (B, 3), "pose": (B, 72) axis-angle, "rotmat": (B, 24, 3, 3),
        "betas": (B, 10), "params": (B, 85) (camera, pose, betas), "raw_pose": (B, 72 | 144)
        the pose head's own numbers}`` in HMR's image convention (y down; see
        :func:`hmr_to_project`)."""
        features = self.backbone(self.preprocess(images))
        batch = features.shape[0]
        estimate = {"camera": self.init_cam.expand(batch, -1),
                    "pose": self.init_pose.expand(batch, -1),
                    "shape": self.init_shape.expand(batch, -1)}
        order = ESTIMATE_ORDER[self.pose_representation]
        for _ in range(self.num_iterations):
            hidden = self.drop1(self.fc1(torch.cat([features] + [estimate[k] for k in order], 1)))
            hidden = self.drop2(self.fc2(hidden))
            estimate = {"camera": estimate["camera"] + self.deccam(hidden),
                        "pose": estimate["pose"] + self.decpose(hidden),
                        "shape": estimate["shape"] + self.decshape(hidden)}
        raw_pose = estimate["pose"]
        if self.pose_representation == "rot6d":
            rotmat = rot6d_to_matrix(raw_pose.reshape(batch, NUM_JOINTS, 6))
            pose = matrix_to_axis_angle(rotmat).reshape(batch, NUM_POSE)
        else:
            pose = raw_pose
            rotmat = axis_angle_to_matrix(raw_pose.reshape(batch, NUM_JOINTS, 3))
        camera, betas = estimate["camera"], estimate["shape"]
        return {"camera": camera, "pose": pose, "rotmat": rotmat, "betas": betas,
                "params": torch.cat((camera, pose, betas), 1), "raw_pose": raw_pose}

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, path: str) -> str:
        """Save in this project's format (atomic); the pose representation is read back off
        the head shapes."""
        return atomic_save({"format": CHECKPOINT_FORMAT, "state_dict": self.state_dict()}, path)

    def load_checkpoint(self, path: str, strict: bool = False) -> KeyReport:
        """Load a checkpoint of any accepted format (module doc), switching the heads to the
        checkpoint's pose representation; returns the key report. Heads that fit neither
        representation raise ``ValueError`` naming the keys and shapes."""
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(
                f"HMR checkpoint not found: {path!r}. Set MESH.HMR_CHECKPOINT (or --checkpoint) "
                f"to a trained HMR / SPIN regressor (.pt/.pth: this project's format, a plain or "
                f"DataParallel state dict, or a SPIN 'model' checkpoint); nothing is downloaded.")
        state = dict(read_checkpoint(path))
        state = _to_own_keys(state, set(self.state_dict()))
        representation = detect_pose_representation(state, path)
        if representation != self.pose_representation:
            self.build_heads(representation)
        return load_state_dict_with_report(self, state, strict=strict, source=path)


def head_shapes(pose_representation: str) -> dict[str, tuple[int, ...]]:
    """The shape of every head tensor (``fc1`` ... ``deccam``, ``init_*``) of a representation."""
    pose_dim = POSE_DIMS[_check_representation(pose_representation)]
    inputs = NUM_FEATURES + pose_dim + NUM_SHAPE + NUM_CAMERA
    outputs = {"fc1": (NUM_HIDDEN, inputs), "fc2": (NUM_HIDDEN, NUM_HIDDEN),
               "decpose": (pose_dim, NUM_HIDDEN), "decshape": (NUM_SHAPE, NUM_HIDDEN),
               "deccam": (NUM_CAMERA, NUM_HIDDEN)}
    shapes = {}
    for layer, weight in outputs.items():
        shapes[f"{layer}.weight"] = weight
        shapes[f"{layer}.bias"] = weight[:1]
    shapes.update({"init_pose": (1, pose_dim), "init_shape": (1, NUM_SHAPE),
                   "init_cam": (1, NUM_CAMERA)})
    return shapes


def detect_pose_representation(state: Mapping[str, torch.Tensor], source: str = "checkpoint"
                               ) -> str:
    """The pose representation whose heads fit the head tensors of ``state`` (own key names).

    Raises ``ValueError`` naming every head key with its shape, and the shapes each
    representation expects, when the heads are absent or fit neither representation.
    """
    present = {k: tuple(v.shape) for k, v in state.items() if k in _HEAD_KEYS}
    expected = {rep: head_shapes(rep) for rep in POSE_DIMS}
    if not present:
        sample = ", ".join(list(state)[:12]) + (" ..." if len(state) > 12 else "")
        raise ValueError(
            f"{source}: no HMR regressor heads found (expected {', '.join(_HEAD_LAYERS)} and "
            f"{', '.join(_MEAN_BUFFERS)}, as in HMR / SPIN); the checkpoint's keys are: {sample}")
    for rep, shapes in expected.items():
        if all(shape == shapes[key] for key, shape in present.items()):
            return rep
    found = ", ".join(f"{k} {list(s)}" for k, s in present.items())
    wanted = "; ".join(
        f"{rep} ({POSE_DIMS[rep]} pose values): " + ", ".join(
            f"{k} {list(shapes[k])}" for k in present if present[k] != shapes[k])
        for rep, shapes in expected.items())
    raise ValueError(f"{source}: the HMR heads fit neither pose representation. Checkpoint: "
                     f"{found}. Mismatched keys would need {wanted}")


_HEAD_KEYS = frozenset(head_shapes("axis_angle"))


def _to_own_keys(state: dict, own: set[str]) -> dict:
    """Strip wrapper prefixes and move top-level ResNet keys (SPIN) under ``backbone.``."""
    for prefix in ("module.", "model.", "hmr."):
        if state and not (set(state) & own) and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    renamed = {}
    for key, value in state.items():
        if _RESNET_KEY.match(key) and "backbone." + key in own:
            key = "backbone." + key
        elif key == "fc.weight" or key == "fc.bias":  # a classification head: not ours
            key = "backbone." + key
        renamed[key] = value
    return renamed


def hmr_to_project(vertices: torch.Tensor, camera: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """HMR's image-space meshes (y down) and cameras -> the project convention (y up, facing +z).

    A rotation by 180 degrees about the x axis through the origin: ``(x, y, z) -> (x, -y, -z)``,
    and the camera's ``ty`` changes sign, so every vertex projects to the same pixel.
    """
    flip = torch.tensor([1.0, -1.0, -1.0], dtype=vertices.dtype, device=vertices.device)
    camera = camera * torch.tensor([1.0, 1.0, -1.0], dtype=camera.dtype, device=camera.device)
    return vertices * flip, camera
