"""SMPL through smplx from an SMPL-format file with chumpy objects, loaded without chumpy."""
import os
import pickle
import sys

import numpy as np
import pytest
import torch

from mesh.body import BodyOutput, build_body_model
from mesh.body.smpl_format import write_tiny_smpl_file
from mesh.body.smpl_model import SMPLBody, find_smpl_file, load_smpl_pickle


@pytest.fixture()
def smpl_dir(tmp_path):
    write_tiny_smpl_file(str(tmp_path / "SMPL_NEUTRAL.pkl"))
    return str(tmp_path)


def test_file_really_needs_chumpy(smpl_dir):
    assert "chumpy" not in sys.modules
    with open(os.path.join(smpl_dir, "SMPL_NEUTRAL.pkl"), "rb") as handle:
        with pytest.raises(ModuleNotFoundError, match="chumpy"):
            pickle.load(handle, encoding="latin1")


def test_load_without_chumpy(smpl_dir):
    data = load_smpl_pickle(os.path.join(smpl_dir, "SMPL_NEUTRAL.pkl"))
    assert isinstance(data["v_template"], np.ndarray) and data["v_template"].shape == (240, 3)
    assert data["shapedirs"].shape == (240, 3, 10) and data["posedirs"].shape == (240, 3, 207)
    assert data["f"].dtype == np.int64
    assert "chumpy" not in sys.modules


def test_interface_contract(smpl_dir):
    body = build_body_model("smpl", smpl_dir=smpl_dir)
    assert isinstance(body, SMPLBody) and body.pose_dim == 72 and body.shape_dim == 10
    pose = torch.randn(3, 72) * 0.2
    shape = torch.randn(3, 10)
    out = body(pose, shape)
    assert isinstance(out, BodyOutput)
    assert out.vertices.shape == (3, 240, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (3, 24, 3)
    assert out.faces.shape == (238, 3) and int(out.faces.max()) < 240
    out.check("smpl")
    rest = body(*body.neutral(1))
    template = torch.from_numpy(load_smpl_pickle(body.path)["v_template"]).float()
    assert torch.allclose(rest.vertices[0], template, atol=1e-5)
    assert not torch.allclose(out.vertices[0], out.vertices[1])
    with pytest.raises(ValueError, match="72"):
        body(torch.zeros(1, 10), shape[:1])


def test_original_file_names_and_missing_files(tmp_path):
    name = "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    write_tiny_smpl_file(str(tmp_path / name))
    assert find_smpl_file(str(tmp_path)).endswith(name)
    with pytest.raises(FileNotFoundError, match="smpl.is.tue.mpg.de") as err:
        build_body_model("smpl", smpl_dir=str(tmp_path / "nowhere"))
    assert "SMPL_NEUTRAL.pkl" in str(err.value)


def test_device_move(smpl_dir):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    body = build_body_model("smpl", smpl_dir=smpl_dir, device="cuda")
    assert body(*body.neutral(2)).vertices.is_cuda
