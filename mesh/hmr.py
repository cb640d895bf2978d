"""HMR-style mesh regressor: ResNet-50 + iterative error feedback -> SMPL camera, pose, shape.

``HMRRegressor`` maps person crops to 85 numbers per image: a weak-perspective camera
``(s, tx, ty)``, 72 axis-angle pose values (global orientation + 23 joints) and 10 betas.
Features (2048, global average pooled) are concatenated with the current estimate and refined
three times by ``fc1 (1024) -> dropout -> fc2 (1024) -> dropout -> residual`` heads, starting
from a mean-parameter vector.

Input: (B, 3, H, W) images in [-1, 1] (the project's convention), any aspect ratio; they are
padded to a square of side H (as HMR's crops are) and resized to 224 x 224; ImageNet
normalisation happens inside. Nothing is downloaded: the network starts from random weights
and :meth:`HMRRegressor.load_checkpoint` loads the user's weights.

Accepted checkpoint formats (``MESH.HMR_CHECKPOINT``):

* this project's own (:meth:`HMRRegressor.save_checkpoint`): ``{"format": "gcl_reid.hmr",
  "state_dict": ...}``;
* a plain state dict of this module, possibly under ``state_dict`` / ``model`` and with
  ``module.`` / ``model.`` prefixes (DataParallel and common PyTorch ports);
* SPIN-style ``hmr`` state dicts: ResNet keys at the top level (``conv1``, ``layer1`` ...) and the
  heads ``fc1``, ``fc2``, ``decpose``, ``decshape``, ``deccam`` (a 6-D rotation ``decpose`` of
  SPIN does not fit the 72-d axis-angle head and is reported as a shape mismatch), plus the mean
  parameters ``init_pose`` / ``init_shape`` / ``init_cam`` when present.

Every mismatch is reported by name (:class:`common.KeyReport`); ``strict=True`` makes it an
error.

HMR's image space has y pointing down; :func:`hmr_to_project` turns its SMPL meshes and cameras
into the project convention (:mod:`mesh.camera`: y up), so rendered bodies stand upright.
"""
from __future__ import annotations

import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from common.io import atomic_save
from common.state_dict import KeyReport, load_state_dict_with_report, read_checkpoint

CHECKPOINT_FORMAT = "gcl_reid.hmr"
NUM_CAMERA, NUM_POSE, NUM_SHAPE = 3, 72, 10
NUM_PARAMS = NUM_CAMERA + NUM_POSE + NUM_SHAPE
INPUT_SIZE = 224
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RESNET_KEY = re.compile(r"^(conv1|bn1|layer[1-4])\.")


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


def mean_parameters() -> torch.Tensor:
    """HMR's starting estimate: camera (0.9, 0, 0), the body upright in image space (global
    rotation pi about x), rest pose, mean shape."""
    params = torch.zeros(NUM_PARAMS)
    params[0] = 0.9
    params[NUM_CAMERA] = math.pi
    return params


class HMRRegressor(nn.Module):
    """ResNet-50 encoder + 3-step iterative error feedback regressor (85 outputs)."""

    def __init__(self, num_iterations: int = 3, dropout: float = 0.5):
        super().__init__()
        import torchvision

        backbone = torchvision.models.resnet50(weights=None)
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.num_iterations = int(num_iterations)
        self.fc1 = nn.Linear(2048 + NUM_PARAMS, 1024)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, 1024)
        self.drop2 = nn.Dropout(dropout)
        self.decpose = nn.Linear(1024, NUM_POSE)
        self.decshape = nn.Linear(1024, NUM_SHAPE)
        self.deccam = nn.Linear(1024, NUM_CAMERA)
        for head in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(head.weight, gain=0.01)
            nn.init.zeros_(head.bias)
        mean = mean_parameters()
        self.register_buffer("init_cam", mean[:NUM_CAMERA].clone()[None])
        self.register_buffer("init_pose", mean[NUM_CAMERA:NUM_CAMERA + NUM_POSE].clone()[None])
        self.register_buffer("init_shape", mean[NUM_CAMERA + NUM_POSE:].clone()[None])
        self.register_buffer("pixel_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] crops of any aspect ratio -> ImageNet-normalised 224 x 224 squares."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"HMRRegressor expects (B, 3, H, W) images in [-1, 1]; got "
                             f"{tuple(images.shape)}")
        unit = (images + 1.0) / 2.0
        square = pad_to_square(unit, INPUT_SIZE, fill=0.0)
        return (square - self.pixel_mean) / self.pixel_std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """-> ``{"camera": (B, 3), "pose": (B, 72), "betas": (B, 10), "params": (B, 85)}``
        in HMR's own image convention (y down; see :func:`hmr_to_project`)."""
        features = self.backbone(self.preprocess(images))
        batch = features.shape[0]
        params = torch.cat((self.init_cam, self.init_pose, self.init_shape), 1).expand(batch, -1)
        for _ in range(self.num_iterations):
            hidden = self.drop1(self.fc1(torch.cat((features, params), 1)))
            hidden = self.drop2(self.fc2(hidden))
            delta = torch.cat((self.deccam(hidden), self.decpose(hidden),
                               self.decshape(hidden)), 1)
            params = params + delta
        return {"camera": params[:, :NUM_CAMERA],
                "pose": params[:, NUM_CAMERA:NUM_CAMERA + NUM_POSE],
                "betas": params[:, NUM_CAMERA + NUM_POSE:],
                "params": params}

    # -- checkpoints -----------------------------------------------------------------------
    def save_checkpoint(self, path: str) -> str:
        """Save in this project's format (atomic)."""
        return atomic_save({"format": CHECKPOINT_FORMAT, "state_dict": self.state_dict()}, path)

    def load_checkpoint(self, path: str, strict: bool = False) -> KeyReport:
        """Load a checkpoint of any accepted format (module doc); returns the key report."""
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(
                f"HMR checkpoint not found: {path!r}. Set MESH.HMR_CHECKPOINT (or --checkpoint) "
                f"to a trained HMR / SPIN regressor (.pt/.pth: this project's format, a plain or "
                f"DataParallel state dict, or a SPIN 'model' checkpoint); nothing is downloaded.")
        state = dict(read_checkpoint(path))
        state = _to_own_keys(state, set(self.state_dict()))
        return load_state_dict_with_report(self, state, strict=strict, source=path)


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
