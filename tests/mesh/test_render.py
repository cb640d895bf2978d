"""Renderer correctness on analytic shapes: areas, depth order, background, batching, shading."""
import math

import pytest
import torch

from mesh.render import (TorchRenderer, build_renderer, pytorch3d_available, render_colored,
                         render_structure_maps)
from mesh.render.shapes import box_mesh, cube_mesh, icosphere

SIZE = (256, 128)


def _rot_y(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0],
                         [-math.sin(a), 0.0, math.cos(a)]])


def _coverage(img: torch.Tensor) -> torch.Tensor:
    return (img < 1.0).flatten(1).sum(dim=1).float()


def test_cube_projected_area_matches_formula():
    verts, faces = cube_mesh(1.0)
    s = 0.5  # 1 unit = H/2 = 128 px, so the cube spans s * 128 = 64 px
    side_px = s * SIZE[0] / 2
    rotated = verts @ _rot_y(30.0).T
    batch = torch.stack((verts, rotated))
    img = render_structure_maps(batch, faces, torch.tensor([[s, 0.0, 0.0]] * 2), SIZE,
                                backend="torch")
    area = _coverage(img)
    expected_front = side_px ** 2
    # rotated by 30 degrees about y: the silhouette width is cos30 + sin30 edges
    expected_rot = side_px * side_px * (math.cos(math.radians(30)) + math.sin(math.radians(30)))
    assert abs(area[0] - expected_front) / expected_front < 0.01
    assert abs(area[1] - expected_rot) / expected_rot < 0.02


def test_sphere_projected_area_matches_formula():
    verts, faces = icosphere(4, radius=1.0)
    s = 0.45  # radius 57.6 px: inside the 128 px wide image
    img = render_structure_maps(verts[None], faces, torch.tensor([[s, 0.0, 0.0]]), SIZE,
                                backend="torch")
    radius_px = s * SIZE[0] / 2
    expected = math.pi * radius_px ** 2
    assert abs(_coverage(img)[0] - expected) / expected < 0.02


def test_structure_map_range_and_untouched_background():
    verts, faces = icosphere(3, radius=0.5)
    img = render_structure_maps(verts[None], faces, torch.tensor([[0.5, 0.0, 0.0]]), SIZE)
    assert img.shape == (1, 1, *SIZE) and img.dtype == torch.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    frags = TorchRenderer().fragments(verts[None], faces, torch.tensor([[0.5, 0.0, 0.0]]), SIZE)
    body = frags.face_index[0] >= 0
    assert torch.equal(img[0, 0][~body], torch.ones(int((~body).sum())))
    assert (img[0, 0][body] < 1.0).all()


def test_camera_convention_y_up_x_right():
    verts, faces = box_mesh((0.2, 0.2, 0.2), centre=(0.5, 0.5, 0.0))  # upper right
    img = render_structure_maps(verts[None], faces, torch.tensor([[1.0, 0.0, 0.0]]), SIZE)[0, 0]
    rows, cols = torch.nonzero(img < 1.0, as_tuple=True)
    assert rows.float().mean() < SIZE[0] / 2  # y up: above the centre row
    assert cols.float().mean() > SIZE[1] / 2  # x right
    # v = s * 0.5 -> 0.5 * 128 px above the centre
    assert abs(rows.float().mean() - (SIZE[0] / 2 - 0.5 * SIZE[0] / 2)) < 1.0


def _two_triangles(near_first: bool):
    far = torch.tensor([[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.5, 0.0]])
    near = far * 0.6 + torch.tensor([0.0, 0.0, 0.3])
    verts = torch.cat((far, near))
    colors = torch.tensor([[1.0, 0.0, 0.0]] * 3 + [[0.0, 0.0, 1.0]] * 3)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    if near_first:
        faces = faces.flip(0)
    return verts, faces, colors


@pytest.mark.parametrize("near_first", [False, True])
def test_near_triangle_occludes_far_one(near_first):
    verts, faces, colors = _two_triangles(near_first)
    img, mask = render_colored(verts[None], faces, colors, torch.tensor([[1.0, 0.0, 0.0]]), SIZE,
                               background=torch.zeros(3), light_dir=(0.0, 0.0, 1.0), ambient=1.0)
    centre = img[0, :, SIZE[0] // 2, SIZE[1] // 2]
    assert centre[2] > 0.99 and centre[0] == 0.0  # the near (blue) triangle wins
    # far triangle visible outside the near one
    corner = img[0, :, int(SIZE[0] / 2 + 0.45 * SIZE[0] / 2), SIZE[1] // 2]
    assert corner[0] > 0.99 and corner[2] == 0.0
    assert mask.shape == (1, 1, *SIZE) and mask[0, 0, SIZE[0] // 2, SIZE[1] // 2] == 1.0


def test_colored_background_untouched_outside_mask():
    verts, faces = icosphere(2, radius=0.4)
    background = torch.rand(2, 3, *SIZE)
    colors = torch.rand(verts.shape[0], 3)
    batch = torch.stack((verts, verts + torch.tensor([0.1, 0.0, 0.0])))
    img, mask = render_colored(batch, faces, colors, torch.tensor([[0.8, 0.0, 0.0]] * 2), SIZE,
                               background=background)
    outside = mask.expand(-1, 3, -1, -1) == 0
    assert torch.equal(img[outside], background[outside])
    assert img.min() >= 0 and img.max() <= 1 and mask.sum() > 0


def test_batched_equals_one_by_one():
    verts, faces = icosphere(3, radius=1.0)
    gen = torch.Generator().manual_seed(3)
    scales = torch.rand(4, 1, 3, generator=gen) * 0.5 + 0.3
    batch = torch.stack([verts @ _rot_y(a).T for a in (0, 40, 90, 200)]) * scales
    cams = torch.tensor([[0.8, 0.0, 0.0], [0.6, 0.1, 0.0], [1.0, 0.0, 0.2], [0.7, -0.1, 0.1]])
    colors = torch.rand(4, verts.shape[0], 3, generator=gen)
    together = render_structure_maps(batch, faces, cams, SIZE)
    col_together, mask_together = render_colored(batch, faces, colors, cams, SIZE)
    for i in range(4):
        alone = render_structure_maps(batch[i:i + 1], faces, cams[i:i + 1], SIZE)
        col_alone, mask_alone = render_colored(batch[i:i + 1], faces, colors[i:i + 1],
                                               cams[i:i + 1], SIZE)
        assert torch.allclose(together[i:i + 1], alone, atol=1e-6)
        assert torch.allclose(col_together[i:i + 1], col_alone, atol=1e-6)
        assert torch.equal(mask_together[i:i + 1], mask_alone)


def test_chunked_rasterisation_matches_single_pass():
    verts, faces = cube_mesh(1.5)
    verts = verts @ _rot_y(20).T
    cam = torch.tensor([[0.5, 0.0, 0.0]])
    one = TorchRenderer(method="vectorised").render_structure_maps(verts[None], faces, cam, SIZE)
    chunked = TorchRenderer(max_fragments=1000, method="vectorised").render_structure_maps(
        verts[None], faces, cam, SIZE)
    assert torch.equal(one, chunked)


def test_faces_facing_the_light_are_brighter():
    # Two quads side by side: one facing the camera (and the light), one tilted 60 degrees away.
    front, front_faces = box_mesh((0.4, 0.4, 0.0), centre=(-0.3, 0.0, 0.0))
    tilted, _ = box_mesh((0.4, 0.4, 0.0))
    tilted = tilted @ _rot_y(60).T + torch.tensor([0.3, 0.0, 0.0])
    verts = torch.cat((front, tilted))
    faces = torch.cat((front_faces, front_faces + 8))
    img = render_structure_maps(verts[None], faces, torch.tensor([[1.0, 0.0, 0.0]]), SIZE)[0, 0]
    row = SIZE[0] // 2
    left = img[row, int(SIZE[1] / 2 - 0.3 * SIZE[0] / 2)]
    right = img[row, int(SIZE[1] / 2 + 0.3 * SIZE[0] / 2)]
    assert left < 1.0 and right < 1.0
    assert left > right + 0.1
    # smooth shading on a sphere: the centre (facing the light) is brighter than the rim
    sv, sf = icosphere(3, radius=0.5)
    sphere = render_structure_maps(sv[None], sf, torch.tensor([[1.0, 0.0, 0.0]]), SIZE)[0, 0]
    rim_col = int(SIZE[1] / 2 + 0.48 * SIZE[0] / 2)
    assert sphere[row, SIZE[1] // 2] > sphere[row, rim_col] + 0.2


def test_bad_input_is_named():
    verts, faces = cube_mesh()
    cam = torch.tensor([[0.5, 0.0, 0.0]])
    bad = verts[None].repeat(2, 1, 1)
    bad[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"non-finite .*\[1\]"):
        render_structure_maps(bad, faces, cam.repeat(2, 1), SIZE)
    with pytest.raises(ValueError, match="faces"):
        render_structure_maps(verts[None], faces + 100, cam, SIZE)
    with pytest.raises(ValueError, match="camera"):
        render_structure_maps(verts[None], faces, torch.zeros(2, 3), SIZE)
    with pytest.raises(ValueError, match="vertex_colors"):
        render_colored(verts[None], faces, torch.zeros(3, 3), cam, SIZE)
    with pytest.raises(ValueError, match="unknown renderer"):
        build_renderer("opengl")


def test_auto_renderer_uses_torch_on_cpu():
    renderer = build_renderer("auto")
    assert renderer.backend_for(torch.device("cpu")).name == "torch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    verts, faces = icosphere(3, radius=0.5)
    cam = torch.tensor([[0.9, 0.0, 0.0]])
    cpu = render_structure_maps(verts[None], faces, cam, SIZE, backend="torch")
    gpu = render_structure_maps(verts[None].cuda(), faces.cuda(), cam.cuda(), SIZE,
                                backend="torch")
    assert ((cpu < 1) == (gpu.cpu() < 1)).float().mean() > 0.999


@pytest.mark.skipif(not pytorch3d_available(), reason="PyTorch3D is not installed")
@pytest.mark.parametrize("shape", ["ellipsoid", "cube"])
def test_pytorch3d_silhouettes_agree(shape):
    if shape == "ellipsoid":
        verts, faces = icosphere(3, radius=0.5)
        verts = verts * torch.tensor([0.5, 1.0, 0.4]) + torch.tensor([0.1, 0.2, 0.0])
    else:
        verts, faces = cube_mesh(0.6)
        verts = verts @ _rot_y(30).T + torch.tensor([-0.1, 0.0, 0.0])
    cam = torch.tensor([[0.9, 0.05, -0.1]])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    ours = build_renderer("torch").render_structure_maps(verts[None], faces, cam, SIZE)
    theirs = build_renderer("pytorch3d").render_structure_maps(
        verts[None].to(device), faces.to(device), cam.to(device), SIZE).cpu()
    a, b = ours[0, 0] < 1, theirs[0, 0] < 1
    iou = (a & b).sum() / (a | b).sum()
    assert iou >= 0.98
    # same orientation (no flip): the centres of mass agree
    ra, ca = torch.nonzero(a, as_tuple=True)
    rb, cb = torch.nonzero(b, as_tuple=True)
    assert abs(ra.float().mean() - rb.float().mean()) < 1.0
    assert abs(ca.float().mean() - cb.float().mean()) < 1.0


def test_backface_culling_of_closed_meshes_is_exact():
    from mesh.render.rasterizer import rasterize
    from mesh.render.renderer import to_screen
    from mesh.render.topology import front_face_sign, is_closed_oriented

    verts, faces = icosphere(3, radius=0.5)
    verts = verts * torch.tensor([0.6, 1.0, 0.8])
    assert is_closed_oriented(faces)
    assert not is_closed_oriented(faces[:-1])  # a hole
    cam = torch.tensor([[0.9, 0.0, 0.0]])
    screen = to_screen(verts[None], cam, SIZE)
    culled = rasterize(screen, faces, SIZE, front_sign=front_face_sign(verts[None], faces))
    full = rasterize(screen, faces, SIZE)
    assert torch.equal(culled.face_index >= 0, full.face_index >= 0)
    assert (culled.face_index == full.face_index).float().mean() > 0.999
    # inward-wound copy: same silhouette and the same shading
    flipped = faces.flip(1)
    assert front_face_sign(verts[None], flipped).item() == -1
    out = render_structure_maps(verts[None], faces, cam, SIZE)
    inv = render_structure_maps(verts[None], flipped, cam, SIZE)
    assert torch.equal(out < 1, inv < 1)
    assert (out - inv).abs().max() < 1e-4
