"""SMPL through ``smplx``, from the user's licensed model files, loaded without chumpy.

Official SMPL pickles hold ``chumpy`` objects, and chumpy does not import on Python 3.11 /
numpy 2. :func:`load_smpl_pickle` unpickles them with every ``chumpy.*`` class mapped to a small
stand-in that keeps the array it was pickled with, then converts everything to plain numpy.

Accepted files in ``MESH.SMPL_DIR`` (from https://smpl.is.tue.mpg.de, under the SMPL licence;
this project neither ships nor downloads them): ``SMPL_NEUTRAL.pkl`` / ``SMPL_MALE.pkl`` /
``SMPL_FEMALE.pkl`` (the smplx naming), or the originals ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``
(SMPLify), ``basicmodel_m_lbs_10_207_0_v1.0.0.pkl`` / ``basicModel_f_lbs_10_207_0_v1.0.0.pkl``.

SMPL's canonical frame is the project's (metres, y up, facing +z). ``pose``: (B, 72) axis-angle
(global orientation + 23 joints), or the same rotations as (B, 24, 3, 3) matrices (as a 6-D
rotation regressor produces them); ``shape``: (B, 10) betas.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickle

import numpy as np
import torch

from common.optional import require

from .base import BodyModel, BodyOutput

SMPL_FILES: dict[str, tuple[str, ...]] = {
    "neutral": ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl",
                "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl"),
    "male": ("SMPL_MALE.pkl", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl",
             "basicModel_m_lbs_10_207_0_v1.0.0.pkl", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl"),
    "female": ("SMPL_FEMALE.pkl", "basicModel_f_lbs_10_207_0_v1.0.0.pkl",
               "basicmodel_f_lbs_10_207_0_v1.0.0.pkl", "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"),
}
_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                  "kintree_table", "f")
NUM_SMPL_VERTICES = 6890


class _ChumpyStandIn:
    """Takes the place of any ``chumpy`` class while unpickling; keeps the pickled state."""

    def __init__(self, *args, **kwargs):
        self._args = args
        self._state = None

    def __setstate__(self, state):
        self._state = state

    def to_numpy(self) -> np.ndarray:
        state = self._state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = {**state[0], **(state[1] or {})}
        if isinstance(state, dict):
            for key in ("x", "_x", "a"):
                if key in state:
                    return _plain(state[key])
            arrays = [v for v in state.values() if isinstance(v, np.ndarray)]
            if len(arrays) == 1:
                return arrays[0]
        if isinstance(state, np.ndarray):
            return state
        raise ValueError(f"cannot recover an array from a chumpy object with state "
                         f"{type(state).__name__} (keys {list(state)[:8] if isinstance(state, dict) else '-'})")


class _ChumpyFreeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        return super().find_class(module, name)


def _plain(value):
    if isinstance(value, _ChumpyStandIn):
        return value.to_numpy()
    if "scipy.sparse" in str(type(value)):
        return value  # smplx densifies sparse regressors itself
    if isinstance(value, np.ndarray):
        return value
    return value


def load_smpl_pickle(path: str) -> dict:
    """An official SMPL pickle as a dict of plain numpy arrays (no chumpy needed)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SMPL model file not found: {path}")
    with open(path, "rb") as handle:
        try:
            data = _ChumpyFreeUnpickler(handle, encoding="latin1").load()
        except Exception as exc:
            raise ValueError(f"cannot read SMPL model file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"SMPL model file {path}: expected a dict, got {type(data).__name__}")
    data = {key: _plain(value) for key, value in data.items()}
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"SMPL model file {path} lacks the keys {missing}")
    data["f"] = np.asarray(data["f"], dtype=np.int64)
    return data


def find_smpl_file(smpl_dir: str, gender: str = "neutral") -> str:
    """The SMPL file of ``gender`` in ``smpl_dir`` (a folder or the file itself)."""
    if gender not in SMPL_FILES:
        raise ValueError(f"SMPL gender must be one of {sorted(SMPL_FILES)}; got {gender!r}")
    if smpl_dir and os.path.isfile(smpl_dir):
        return smpl_dir
    names = SMPL_FILES[gender]
    if smpl_dir and os.path.isdir(smpl_dir):
        for name in names:
            for candidate in (os.path.join(smpl_dir, name), os.path.join(smpl_dir, "smpl", name)):
                if os.path.isfile(candidate):
                    return candidate
    raise FileNotFoundError(
        f"no SMPL model file for gender '{gender}' in MESH.SMPL_DIR={smpl_dir!r}: expected one "
        f"of {', '.join(names)}. Download SMPL from https://smpl.is.tue.mpg.de (free registration, "
        f"SMPL licence) and put the .pkl files in that folder; or use the open default body "
        f"model (MESH.BODY_MODEL anny).")


class SMPLBody(BodyModel):
    """SMPL (6890 vertices, 24 joints) behind the :class:`BodyModel` interface."""

    name = "smpl"
    pose_dim = 72
    shape_dim = 10

    def __init__(self, smpl_dir: str, gender: str = "neutral", num_betas: int = 10):
        super().__init__()
        smplx = require("smplx", purpose="the SMPL body model")
        Struct = require("smplx.utils", extra="smpl", purpose="the SMPL body model").Struct

        self.path = find_smpl_file(smpl_dir, gender)
        data = load_smpl_pickle(self.path)
        self.shape_dim = int(num_betas)
        num_vertices = np.asarray(data["v_template"]).shape[0]
        extra = {}
        if num_vertices < NUM_SMPL_VERTICES:  # tiny SMPL-format models: no landmark joints
            extra = dict(vertex_ids={k: 0 for k in ("nose", "reye", "leye", "rear", "lear")},
                         use_hands=False, use_feet_keypoints=False)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a 10-betas notice
            self.smpl = smplx.SMPL(model_path=self.path, data_struct=Struct(**data),
                                   num_betas=num_betas, gender=gender, create_transl=False,
                                   **extra)
        self.num_joints = int(self.smpl.J_regressor.shape[0])
        self.pose_dim = 3 * self.num_joints
        self.register_buffer("faces", self.smpl.faces_tensor.long(), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.smpl.v_template.shape[0])

    def forward(self, pose: torch.Tensor | None = None,
                shape: torch.Tensor | None = None) -> BodyOutput:
        neutral_pose, neutral_shape = self.neutral(1)
        pose = neutral_pose if pose is None else pose
        shape = neutral_shape if shape is None else shape
        device, dtype = self.faces.device, self.smpl.v_template.dtype
        pose = pose.to(device=device, dtype=dtype)
        shape = shape.to(device=device, dtype=dtype)
        matrices = pose.ndim == 4 and tuple(pose.shape[1:]) == (self.num_joints, 3, 3)
        pose = pose if matrices else pose.reshape(pose.shape[0], -1)
        if not matrices and pose.shape[1] != self.pose_dim:
            raise ValueError(f"SMPL pose must be (B, {self.pose_dim}) axis-angle or "
                             f"(B, {self.num_joints}, 3, 3) rotation matrices; "
                             f"got {tuple(pose.shape)}")
        if shape.ndim != 2 or shape.shape[1] != self.shape_dim:
            raise ValueError(f"SMPL shape must be (B, {self.shape_dim}) betas; "
                             f"got {tuple(shape.shape)}")
        batch = max(pose.shape[0], shape.shape[0])
        pose, shape = pose.expand(batch, *pose.shape[1:]), shape.expand(batch, -1)
        if matrices:  # e.g. the rotations of a 6-D (SPIN-style) regressor, used as they are
            out = self.smpl(betas=shape, global_orient=pose[:, :1], body_pose=pose[:, 1:],
                            pose2rot=False)
        else:
            out = self.smpl(betas=shape, global_orient=pose[:, :3], body_pose=pose[:, 3:])
        return BodyOutput(vertices=out.vertices, faces=self.faces,
                          joints=out.joints[:, :self.num_joints])
