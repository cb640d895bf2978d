"""HMR regressor: shapes, preprocessing, checkpoint formats with key reports, convention flip."""
import pytest
import torch

from mesh.camera import project_weak_perspective
from mesh.hmr import HMRRegressor, hmr_to_project, pad_to_square


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return HMRRegressor().eval()


def test_output_shapes(model):
    images = torch.rand(2, 3, 64, 32) * 2 - 1
    with torch.no_grad():
        out = model(images)
    assert out["camera"].shape == (2, 3) and out["pose"].shape == (2, 72)
    assert out["betas"].shape == (2, 10) and out["params"].shape == (2, 85)
    assert out["rotmat"].shape == (2, 24, 3, 3) and torch.equal(out["raw_pose"], out["pose"])
    assert torch.isfinite(out["params"]).all()
    # small random heads: the estimate stays near the mean parameters
    assert torch.allclose(out["camera"][:, 0], torch.full((2,), 0.9), atol=0.2)
    with pytest.raises(ValueError, match="B, 3, H, W"):
        model(torch.zeros(2, 1, 64, 32))


def test_pad_to_square_keeps_the_crop_centred():
    images = torch.ones(1, 3, 256, 128)
    square = pad_to_square(images, 224)
    assert square.shape == (1, 3, 224, 224)
    assert square[0, 0, 112, 112] == 1 and square[0, 0, 112, 2] == 0 and square[0, 0, 112, 221] == 0


def test_checkpoint_formats(model, tmp_path):
    own = tmp_path / "own.pt"
    model.save_checkpoint(str(own))
    torch.manual_seed(1)
    other = HMRRegressor()
    assert not torch.equal(other.fc1.weight, model.fc1.weight)
    report = other.load_checkpoint(str(own))
    assert report.clean
    assert torch.equal(other.fc1.weight, model.fc1.weight)
    # DataParallel prefix
    torch.save({"model": {"module." + k: v for k, v in model.state_dict().items()}},
               tmp_path / "dp.pth")
    assert other.load_checkpoint(str(tmp_path / "dp.pth")).clean
    # ResNet keys at the top level (SPIN's layout) with the 72-d head, plus a stray key
    top_level = {k[len("backbone."):] if k.startswith("backbone.") else k: v
                 for k, v in model.state_dict().items()}
    top_level["extra_head.weight"] = torch.zeros(3)
    torch.save(top_level, tmp_path / "top_level.pt")
    report = other.load_checkpoint(str(tmp_path / "top_level.pt"))
    assert report.unexpected == ["extra_head.weight"] and not report.shape_mismatch
    assert "backbone.conv1.weight" in report.loaded
    with pytest.raises(RuntimeError, match="does not match"):
        other.load_checkpoint(str(tmp_path / "top_level.pt"), strict=True)
    # a 6-D pose head on the 72-d estimate's fc1 fits neither head: refused, not half loaded
    top_level["decpose.weight"] = torch.zeros(144, 1024)
    top_level["decpose.bias"] = torch.zeros(144)
    torch.save(top_level, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match=r"fit neither.*fc1\.weight \[1024, 2133\]"):
        other.load_checkpoint(str(tmp_path / "mixed.pt"))
    with pytest.raises(FileNotFoundError, match="HMR_CHECKPOINT"):
        other.load_checkpoint(str(tmp_path / "missing.pt"))


def test_convention_flip_keeps_the_projection_and_stands_upright():
    vertices = torch.tensor([[[0.1, -0.8, 0.0], [0.1, 0.9, 0.1]]])   # head at y = -0.8 (y down)
    camera = torch.tensor([[0.9, 0.05, 0.1]])
    flipped, cam = hmr_to_project(vertices, camera)
    assert flipped[0, 0, 1] > flipped[0, 1, 1]                       # head above feet now
    uv_down = project_weak_perspective(vertices, camera)
    uv_up = project_weak_perspective(flipped, cam)
    assert torch.allclose(uv_up[..., 0], uv_down[..., 0])
    assert torch.allclose(uv_up[..., 1], -uv_down[..., 1])
