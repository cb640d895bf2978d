"""Contract of the default Anny body model and its pose / shape / body-part helpers."""
import math

import pytest
import torch

from mesh.body import BodyOutput, build_body_model
from mesh.body.anny_model import PART_NAMES, SHAPE_NAMES, SHAPE_RANGES, AnnyBody
from mesh.body.poses import random_everyday_pose, standing_pose, walking_pose


@pytest.fixture(scope="module")
def body():
    # built once per session; cached under the project cache directory after the first build
    return AnnyBody(resolution="low")


def test_interface_contract(body):
    pose, shape = body.neutral(3)
    assert pose.shape == (3, body.pose_dim) and shape.shape == (3, len(SHAPE_NAMES))
    out = body(pose=pose, shape=shape)
    assert isinstance(out, BodyOutput)
    assert out.vertices.shape == (3, body.num_vertices, 3) and out.vertices.dtype == torch.float32
    assert out.joints.shape == (3, len(body.joint_names), 3)
    assert out.faces.dtype == torch.long and out.faces.shape[1] == 3
    assert int(out.faces.min()) >= 0 and int(out.faces.max()) < body.num_vertices
    out.check("anny")
    assert torch.isfinite(out.joints).all()


def test_frame_units_and_facing(body):
    out = body(*body.neutral(1))
    v, names = out.vertices[0], body.joint_names
    height = float(v[:, 1].max() - v[:, 1].min())
    assert 1.5 < height < 2.0                         # metres, y up
    joint = lambda n: out.joints[0, names.index(n)]
    assert joint("head")[1] > joint("foot.L")[1] + 1.2
    assert joint("toe3-1.L")[2] > joint("foot.L")[2]  # toes point to +z: facing the camera
    assert joint("foot.L")[0] > 0 > joint("foot.R")[0]


def test_shape_controls_and_batching(body):
    shape = body.shape_from_controls(height=torch.tensor([0.1, 0.9]))
    out = body(pose=None, shape=shape)
    heights = out.vertices[..., 1].amax(1) - out.vertices[..., 1].amin(1)
    assert heights[1] > heights[0] + 0.1
    single = body(pose=None, shape=shape[1:])
    assert torch.allclose(single.vertices[0], out.vertices[1], atol=1e-5)
    assert set(SHAPE_RANGES) == set(SHAPE_NAMES)
    with pytest.raises(ValueError, match="unknown Anny shape"):
        body.shape_from_controls(bmi=0.3)
    with pytest.raises(ValueError, match="pose must be"):
        body(pose=torch.zeros(1, 5), shape=shape)


def test_walking_and_standing_poses(body):
    _, shape = body.neutral(1)
    names = body.joint_names
    walk = body(walking_pose(body, torch.tensor([math.pi / 2, -math.pi / 2])), shape)
    z = lambda out, i, n: float(out.joints[i, names.index(n), 2])
    assert z(walk, 0, "foot.L") > z(walk, 0, "foot.R") + 0.3      # left leg forward
    assert z(walk, 1, "foot.R") > z(walk, 1, "foot.L") + 0.3
    assert z(walk, 0, "wrist.R") > z(walk, 0, "wrist.L")          # arms swing the other way
    stand = body(standing_pose(body), shape)
    rest = body(*body.neutral(1))
    shoulder = names.index("upperarm01.L")
    wrist = names.index("wrist.L")
    spread = lambda out: float(out.joints[0, wrist, 0] - out.joints[0, shoulder, 0])
    assert spread(stand) < spread(rest) - 0.1                      # arms hang down
    poses = random_everyday_pose(body, 6, torch.Generator().manual_seed(3))
    again = random_everyday_pose(body, 6, torch.Generator().manual_seed(3))
    assert torch.equal(poses, again)
    body(poses, shape).check("random poses")


def test_vertex_part_labels(body):
    labels = body.part_labels
    assert labels.shape == (body.num_vertices,)
    counts = torch.bincount(labels, minlength=len(PART_NAMES))
    assert (counts > 0).all()
    v = body(*body.neutral(1)).vertices[0]
    mean_y = lambda part: float(v[labels == PART_NAMES.index(part), 1].mean())
    assert mean_y("head") > mean_y("torso") > mean_y("upper_leg") > mean_y("lower_leg") \
        > mean_y("foot")


def test_factory_and_device_move(body):
    model = build_body_model("anny", resolution="low")
    assert isinstance(model, AnnyBody)
    with pytest.raises(ValueError, match="body model"):
        build_body_model("scape")
    if torch.cuda.is_available():
        cuda = AnnyBody(resolution="low").cuda()
        out = cuda(*cuda.neutral(2))
        assert out.vertices.is_cuda
        ref = body(*body.neutral(2))
        assert torch.allclose(out.vertices.cpu(), ref.vertices, atol=1e-4)


@pytest.mark.slow
def test_full_resolution():
    full = AnnyBody(resolution="full")
    out = full(*full.neutral(2))
    assert out.faces.shape[0] > 20000
    out.check("anny full")
