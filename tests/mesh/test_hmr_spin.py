"""SPIN-style HMR checkpoints: 6-D rotation head, SPIN's key layout and estimate order, and the
refusal of heads that fit neither representation."""
import math

import pytest
import torch

from mesh.body.smpl_format import write_tiny_smpl_file
from mesh.body.smpl_model import SMPLBody
from mesh.body.transforms import (axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d,
                                  rot6d_to_matrix)
from mesh.hmr import HMRRegressor, detect_pose_representation, mean_parameters


def _spin_state_dict(seed: int = 0) -> dict:
    """A state dict laid out like SPIN's ``hmr``: ResNet keys at the top level, 144-d pose head,
    ``fc1`` over 2048 + 157 inputs, mean parameters with a varied (seeded) 6-D pose."""
    torch.manual_seed(seed)
    own = HMRRegressor(pose_representation="rot6d").state_dict()
    state = {k[len("backbone."):] if k.startswith("backbone.") else k: v.clone()
             for k, v in own.items()}
    state["init_pose"] = torch.randn(1, 144)
    state["init_shape"] = torch.randn(1, 10) * 0.5
    state["init_cam"] = torch.tensor([[0.8, 0.05, -0.1]])
    state["decpose.bias"] = torch.randn(144) * 0.1
    return state


@pytest.fixture(scope="module")
def spin_state():
    return _spin_state_dict()


@pytest.fixture(scope="module")
def spin_checkpoint(tmp_path_factory, spin_state):
    path = tmp_path_factory.mktemp("spin") / "model_checkpoint.pt"
    state = spin_state
    # SPIN's saver: {"model": state_dict, "optimizer": ..., "epoch": ..., ...}
    torch.save({"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 5e-5}]},
                "epoch": 3, "batch_idx": 10, "total_step_count": 100}, path)
    return str(path), state


@pytest.fixture(scope="module")
def spin_model(spin_checkpoint):
    torch.manual_seed(1)
    model = HMRRegressor()                                   # axis-angle until loaded
    report = model.load_checkpoint(spin_checkpoint[0], strict=True)
    assert report.clean and "backbone.layer4.2.conv3.weight" in report.loaded
    return model.eval()


@pytest.fixture(scope="module")
def images():
    torch.manual_seed(2)
    return torch.rand(2, 3, 64, 32) * 2 - 1


def _spin_reference(model: HMRRegressor, state: dict, images: torch.Tensor) -> dict:
    """SPIN's regressor loop restated: estimate fed back as (pose, shape, cam), 6-D -> rotmat by
    Gram-Schmidt on the columns of the (3, 2) view."""
    features = model.backbone(model.preprocess(images))
    batch = features.shape[0]
    pose = state["init_pose"].expand(batch, -1)
    shape = state["init_shape"].expand(batch, -1)
    cam = state["init_cam"].expand(batch, -1)
    for _ in range(3):
        hidden = torch.cat([features, pose, shape, cam], 1) @ state["fc1.weight"].T
        hidden = hidden + state["fc1.bias"]
        hidden = hidden @ state["fc2.weight"].T + state["fc2.bias"]
        pose = pose + hidden @ state["decpose.weight"].T + state["decpose.bias"]
        shape = shape + hidden @ state["decshape.weight"].T + state["decshape.bias"]
        cam = cam + hidden @ state["deccam.weight"].T + state["deccam.bias"]
    x = pose.reshape(-1, 3, 2)
    b1 = torch.nn.functional.normalize(x[:, :, 0])
    b2 = torch.nn.functional.normalize(x[:, :, 1] - (b1 * x[:, :, 1]).sum(1, keepdim=True) * b1)
    rotmat = torch.stack((b1, b2, torch.linalg.cross(b1, b2)), dim=-1).view(batch, 24, 3, 3)
    return {"rotmat": rotmat, "betas": shape, "camera": cam}


def test_spin_checkpoint_loads_and_matches_spins_forward(spin_model, spin_checkpoint, images):
    _, state = spin_checkpoint
    assert spin_model.pose_representation == "rot6d" and spin_model.pose_dim == 144
    assert spin_model.fc1.in_features == 2048 + 157
    assert torch.equal(spin_model.init_pose, state["init_pose"])
    with torch.no_grad():
        out = spin_model(images)
        reference = _spin_reference(spin_model, state, images)
    assert out["raw_pose"].shape == (2, 144) and out["pose"].shape == (2, 72)
    assert out["rotmat"].shape == (2, 24, 3, 3) and out["params"].shape == (2, 85)
    for key in ("rotmat", "betas", "camera"):
        assert torch.allclose(out[key], reference[key], atol=1e-5), key
    assert torch.allclose(axis_angle_to_matrix(out["pose"].reshape(2, 24, 3)), out["rotmat"],
                          atol=1e-5)


def test_six_d_path_gives_the_vertices_of_the_axis_angle_input(spin_model, images, tmp_path):
    write_tiny_smpl_file(str(tmp_path / "SMPL_NEUTRAL.pkl"))
    body = SMPLBody(str(tmp_path))
    with torch.no_grad():
        out = spin_model(images)
        from_matrices = body(pose=out["rotmat"], shape=out["betas"])      # SPIN: pose2rot=False
        from_axis_angle = body(pose=out["pose"], shape=out["betas"])
    assert from_matrices.vertices.shape == (2, 240, 3)
    assert torch.allclose(from_matrices.vertices, from_axis_angle.vertices, atol=1e-5)
    assert torch.allclose(from_matrices.joints, from_axis_angle.joints, atol=1e-5)
    # the poses are far from the rest pose, so the comparison means something
    rest = body(*body.neutral(2))
    assert (from_matrices.vertices - rest.vertices).abs().amax() > 0.1
    with pytest.raises(ValueError, match=r"\(B, 24, 3, 3\)"):
        body(pose=out["rotmat"][:, :10], shape=out["betas"])


def test_own_format_keeps_the_representation(spin_model, images, tmp_path):
    path = spin_model.save_checkpoint(str(tmp_path / "own.pt"))
    other = HMRRegressor()
    assert other.load_checkpoint(path, strict=True).clean
    assert other.pose_representation == "rot6d"
    with torch.no_grad():
        assert torch.equal(other.eval()(images)["params"], spin_model(images)["params"])


def test_rotation_round_trips():
    torch.manual_seed(3)
    rot6d = torch.randn(500, 6)
    matrix = rot6d_to_matrix(rot6d)
    eye = torch.eye(3).expand(500, 3, 3)
    assert torch.allclose(matrix.transpose(-1, -2) @ matrix, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(matrix), torch.ones(500), atol=1e-5)
    # SPIN's layout: the first column is (r0, r2, r4) normalised
    first = rot6d[:, [0, 2, 4]] / rot6d[:, [0, 2, 4]].norm(dim=1, keepdim=True)
    assert torch.allclose(matrix[:, :, 0], first, atol=1e-6)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(matrix)), matrix, atol=1e-5)
    # rotmat -> axis-angle -> rotmat, including angles at and next to pi
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(matrix)), matrix, atol=1e-5)
    axis = torch.nn.functional.normalize(torch.randn(7, 3), dim=1)
    angles = torch.tensor([0.0, 1e-7, 0.3, 2.0, math.pi - 1e-3, math.pi - 1e-6, math.pi])
    axis_angle = axis * angles[:, None]
    back = matrix_to_axis_angle(axis_angle_to_matrix(axis_angle.double()))
    assert torch.allclose(back[:-1], axis_angle[:-1].double(), atol=1e-9)
    assert torch.allclose(back[-1].abs(), axis_angle[-1].abs().double(), atol=1e-9)  # +-axis at pi
    # float32 near pi (SPIN's global orientation starts at pi about x)
    near_pi = axis_angle_to_matrix(axis_angle[3:])
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(near_pi)), near_pi, atol=2e-6)
    with pytest.raises(ValueError, match="6 numbers"):
        rot6d_to_matrix(torch.zeros(2, 9))


def test_mean_parameters_agree_across_representations():
    axis_angle = mean_parameters("axis_angle")
    rot6d = mean_parameters("rot6d")
    assert axis_angle.shape == (85,) and rot6d.shape == (157,)
    rotations = rot6d_to_matrix(rot6d[3:147].reshape(24, 6))
    assert torch.allclose(rotations, axis_angle_to_matrix(axis_angle[3:75].reshape(24, 3)),
                          atol=1e-6)
    with pytest.raises(ValueError, match="quaternion"):
        mean_parameters("quaternion")


def test_heads_that_fit_neither_representation_are_refused(tmp_path, spin_state):
    state = spin_state
    bad = dict(state, **{"decpose.weight": torch.zeros(100, 1024),
                         "decpose.bias": torch.zeros(100)})
    torch.save(bad, tmp_path / "bad_pose.pt")
    model = HMRRegressor(num_iterations=1)
    with pytest.raises(ValueError, match=r"decpose\.weight \[100, 1024\]") as err:
        model.load_checkpoint(str(tmp_path / "bad_pose.pt"))
    assert "bad_pose.pt" in str(err.value) and "decpose.weight [144, 1024]" in str(err.value)
    # a 6-D pose head on an fc1 sized for the 72-d estimate: refused, fc1 named
    mixed = dict(state, **{"fc1.weight": torch.zeros(1024, 2048 + 85)})
    with pytest.raises(ValueError, match=r"fc1\.weight \[1024, 2133\]"):
        detect_pose_representation(mixed, "mixed.pt")
    # a plain ImageNet ResNet: no heads at all
    resnet = {k: v for k, v in state.items() if k.startswith(("conv1", "bn1", "layer"))}
    with pytest.raises(ValueError, match="no HMR regressor heads.*conv1.weight"):
        detect_pose_representation(resnet, "resnet50.pth")
    assert model.pose_representation == "axis_angle"                   # left as it was
