"""The two rasteriser implementations (compiled CPU kernel, vectorised torch) and the compiled
shading kernels: agreement with each other and with the per-face reference, sliver faces."""
import math

import pytest
import torch

from benchmarks.reference.render import reference_rasterize
from mesh.render import kernels, shading
from mesh.render.rasterizer import rasterize
from mesh.render.renderer import TorchRenderer, to_screen
from mesh.render.shapes import icosphere
from mesh.render.topology import front_face_sign

SIZE = (256, 128)
METHODS = [pytest.param("compiled", marks=pytest.mark.skipif(
    not kernels.NUMBA_AVAILABLE, reason="numba is not installed")), "vectorised"]
needs_numba = pytest.mark.skipif(not kernels.NUMBA_AVAILABLE, reason="numba is not installed")


def _sliver_scene() -> tuple[torch.Tensor, torch.Tensor]:
    """A sliver face (2**-15 px high, 28 px long, depth 2 to 9) in front of a large face at
    depth 1; an unused vertex at depth 0 widens the item's depth range. With its plane
    coefficients set up through a float32 1 / area, the sliver's depth came out below 1 at two
    of its 15 pixel centres and the large face behind it won there."""
    e = 2.0 ** -16
    sliver = [[11.1, 245.5 - e, 2.0], [39.4, 245.5 - e, 9.0], [25.7, 245.5 + e, 2.5]]
    far = [[-10.0, -10.0, 1.0], [300.0, -10.0, 1.0], [-10.0, 300.0, 1.0]]
    screen = torch.tensor([sliver + far + [[0.0, 0.0, 0.0]]])
    return screen, torch.tensor([[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("method", METHODS)
def test_sliver_face_in_front_of_large_face_wins(method):
    screen, faces = _sliver_scene()
    expected = reference_rasterize(screen, faces, SIZE).face_index
    assert int((expected == 0).sum()) == 15  # the sliver covers 15 pixel centres of row 245
    alone = rasterize(screen, faces[:1], SIZE, method=method).face_index
    both = rasterize(screen, faces, SIZE, method=method).face_index
    assert torch.equal(alone == 0, expected == 0)
    assert torch.equal(both, expected)


def _posed_spheres(batch: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per item two rotated ellipsoids, a smaller one poking out of a larger one, in screen
    space; their faces and culling signs."""
    verts, faces = icosphere(3, radius=0.5)
    gen = torch.Generator().manual_seed(0)
    scales = torch.rand(batch, 1, 3, generator=gen) * 0.6 + 0.4
    angles = torch.rand(batch, generator=gen) * 2 * math.pi
    cos, sin, zero, one = angles.cos(), angles.sin(), torch.zeros(batch), torch.ones(batch)
    rot = torch.stack((cos, zero, sin, zero, one, zero, -sin, zero, cos), 1).view(batch, 3, 3)
    world = (verts[None] * scales) @ rot.transpose(1, 2)
    world = torch.cat((world, world * 0.7 + torch.tensor([0.1, 0.1, 0.3])), dim=1)
    faces = torch.cat((faces, faces + verts.shape[0]))
    cam = torch.tensor([[0.9, 0.0, 0.0]]).expand(batch, 3)
    return to_screen(world, cam, SIZE), faces, front_face_sign(world, faces)


@needs_numba
@pytest.mark.parametrize("culled", [False, True])
def test_compiled_matches_vectorised(culled):
    screen, faces, sign = _posed_spheres()
    sign = sign if culled else None
    ours = rasterize(screen, faces, SIZE, front_sign=sign, method="compiled")
    theirs = rasterize(screen, faces, SIZE, front_sign=sign, method="vectorised")
    assert torch.equal(ours.face_index >= 0, theirs.face_index >= 0)
    same = ours.face_index == theirs.face_index
    assert same.float().mean() > 0.9999
    assert (ours.bary - theirs.bary)[same].abs().max() < 1e-4
    assert torch.equal(ours.bary[~(ours.face_index >= 0)],
                       torch.zeros(int((ours.face_index < 0).sum()), 3))


@pytest.mark.parametrize("method", METHODS)
def test_matches_per_face_reference(method):
    screen, faces, _ = _posed_spheres(batch=1)
    ours = rasterize(screen, faces, SIZE, method=method)
    ref = reference_rasterize(screen, faces, SIZE)
    assert torch.equal(ours.face_index >= 0, ref.face_index >= 0)
    assert (ours.face_index == ref.face_index).float().mean() > 0.9999


@needs_numba
def test_compiled_rasteriser_is_independent_of_threads():
    screen, faces, sign = _posed_spheres(batch=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = rasterize(screen, faces, SIZE, front_sign=sign, method="compiled")
        torch.set_num_threads(2)
        two = rasterize(screen, faces, SIZE, front_sign=sign, method="compiled")
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one.face_index, two.face_index) and torch.equal(one.bary, two.bary)


@needs_numba
def test_compiled_shading_matches_torch(monkeypatch):
    verts, faces = icosphere(3, radius=0.5)
    batch = torch.stack((verts * torch.tensor([0.6, 1.0, 0.8]), verts.flip(1)))
    cam = torch.tensor([[0.9, 0.0, 0.0], [0.7, 0.1, -0.1]])
    renderer = TorchRenderer()
    fn = shading.face_normals(batch, faces)
    vn = shading.vertex_normals(batch, faces, fn)
    maps = renderer.render_structure_maps(batch, faces, cam, SIZE)
    monkeypatch.setattr(kernels, "NUMBA_AVAILABLE", False)
    assert torch.allclose(fn, shading.face_normals(batch, faces), atol=1e-6)
    assert torch.allclose(vn, shading.vertex_normals(batch, faces, fn), atol=1e-6)
    torch_maps = renderer.render_structure_maps(batch, faces, cam, SIZE)
    assert torch.equal(maps == 1, torch_maps == 1)
    assert (maps - torch_maps).abs().max() < 1e-5


def test_bad_method_is_named():
    screen, faces = _sliver_scene()
    with pytest.raises(ValueError, match="method.*'opengl'"):
        rasterize(screen, faces, SIZE, method="opengl")
