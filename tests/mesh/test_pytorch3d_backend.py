"""PyTorch3D backend: the post-processing of its raw outputs on hand-made values (always run),
and renders against the built-in rasteriser (only where PyTorch3D is installed)."""
import importlib.machinery
import sys
import types

import pytest
import torch
import torch.nn.functional as F

from mesh.render import build_renderer
from mesh.render.pytorch3d_backend import (DEPTH_MARGIN, EDGE_TOLERANCE_PX, PyTorch3DRenderer,
                                           edge_blur_radius, fragments_from_raw, screen_to_ndc,
                                           visible_faces)
from mesh.render.rasterizer import Fragments
from mesh.render.renderer import to_screen
from mesh.render.shading import face_normals, interpolate_visible
from mesh.render.shapes import cube_mesh, icosphere

SIZE = (256, 128)
NONE = [-1.0, -1.0, -1.0]


def _raw(candidates):
    """(1, 1, P, K) raw outputs from per-pixel lists of (packed face, zbuf, bary) candidates."""
    pix_to_face = torch.tensor([[[[c[0] for c in pixel] for pixel in candidates]]])
    zbuf = torch.tensor([[[[float(c[1]) for c in pixel] for pixel in candidates]]])
    bary = torch.tensor([[[[c[2] for c in pixel] for pixel in candidates]]])
    return pix_to_face, zbuf, bary


def test_true_depth_decides_and_barycentrics_sum_to_one():
    sub = 0.945                                      # PyTorch3D's sum on a face of 1.7e-7
    far = [0.3 * sub, 0.3 * sub, 0.4 * sub]
    raw = _raw([
        # a sub-pixel far face (true z 0.52) sorted first by PyTorch3D (0.52 * 0.945 < 0.5)
        [(1, 0.52 * sub, far), (0, 0.5, [0.2, 0.3, 0.5])],
        # a lone sub-pixel face: its weights keep their ratios and sum to one
        [(1, 0.3 * sub, [0.5 * sub, 0.3 * sub, 0.2 * sub]), (-1, -1.0, NONE)],
        # background
        [(-1, -1.0, NONE), (-1, -1.0, NONE)],
        # a pixel centre just outside a face, inside the blur radius: clamped at zero
        [(2, 0.4, [-1e-7, 0.4, 0.6]), (-1, -1.0, NONE)],
        # zero barycentric sum: no division by zero, the face centre's weights
        [(0, 0.2, [0.0, 0.0, 0.0]), (-1, -1.0, NONE)],
        # the placeholder of a mesh without visible faces
        [(3, 0.1, [0.2, 0.3, 0.5]), (-1, -1.0, NONE)],
    ])
    face_ids = torch.tensor([7, 4, 9, -1])           # packed -> face index
    frags = fragments_from_raw(*raw, face_ids)
    assert isinstance(frags, Fragments)
    assert frags.face_index.tolist() == [[[7, 4, -1, 9, 7, -1]]]
    bary = frags.bary[0, 0]
    expected = torch.tensor([[0.2, 0.3, 0.5], [0.5, 0.3, 0.2], [0.0, 0.0, 0.0],
                             [0.0, 0.4, 0.6], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 0.0]])
    assert torch.allclose(bary, expected, atol=1e-6)
    covered = frags.face_index[0, 0] >= 0
    assert torch.allclose(bary[covered].sum(-1), torch.ones(int(covered.sum())), atol=1e-6)


def test_normalised_weights_do_not_darken_colours():
    # one face of constant colour seen at a pixel with PyTorch3D's unnormalised weights
    raw = _raw([[(0, 0.3 * 0.945, [0.2 * 0.945, 0.3 * 0.945, 0.5 * 0.945])]])
    frags = fragments_from_raw(*raw, torch.tensor([0]))
    colour = torch.tensor([[[0.8, 0.6, 0.4]] * 3])
    _, values = interpolate_visible(frags, colour, torch.tensor([[0, 1, 2]]))
    assert torch.allclose(values, colour[0, :1], atol=1e-6)


def test_raw_output_shapes_are_checked():
    pix, zbuf, bary = _raw([[(0, 0.3, [0.2, 0.3, 0.5])]])
    with pytest.raises(ValueError, match="bary_coords"):
        fragments_from_raw(pix, zbuf, bary[..., :2], torch.tensor([0]))


def test_ndc_mapping_matches_pytorch3d_pixel_centres():
    height, width = 4, 2
    # PyTorch3D: image row yi has NDC y of index H - 1 - yi, column xi NDC x of index W - 1 - xi;
    # index i of a side of S pixels (the other side S2) sits at ((2 i + 1) / S - 1) * max(S/S2, 1)
    def centre(i, side, other):
        return ((2 * i + 1) / side - 1) * max(side / other, 1.0)

    rows, cols = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    screen = torch.stack((cols.flatten() + 0.5, rows.flatten() + 0.5,
                          torch.linspace(-2.0, 3.0, height * width)), dim=-1)[None]
    ndc = screen_to_ndc(screen, (height, width))[0]
    for k in range(height * width):
        yi, xi = int(rows.flatten()[k]), int(cols.flatten()[k])
        assert ndc[k, 0].item() == pytest.approx(centre(width - 1 - xi, width, height))
        assert ndc[k, 1].item() == pytest.approx(centre(height - 1 - yi, height, width))
    # larger depth nearer -> smaller NDC z, nearest at the margin, farthest at 1 + margin
    assert ndc[-1, 2].item() == pytest.approx(DEPTH_MARGIN)
    assert ndc[0, 2].item() == pytest.approx(1.0 + DEPTH_MARGIN)
    assert (ndc[1:, 2] < ndc[:-1, 2]).all()


def test_edge_blur_radius_is_a_squared_ndc_distance():
    radius = edge_blur_radius(SIZE)
    pixel_ndc = 2.0 / min(SIZE)
    assert radius ** 0.5 / pixel_ndc == pytest.approx(EDGE_TOLERANCE_PX)
    assert radius == pytest.approx((1e-3 * 2 / 128) ** 2)


def test_visible_faces_cull_like_the_built_in_rasteriser():
    verts, faces = icosphere(2, radius=0.5)
    cam = torch.tensor([[0.9, 0.0, 0.0]] * 3)
    screen = to_screen(verts[None].expand(3, -1, -1), cam, SIZE)
    # item 0: outward-wound, item 1: everything, item 2: squashed flat (no front face left)
    screen[2, :, 1] = 10.0
    lists, ids = visible_faces(screen, faces, torch.tensor([1.0, 1.0, 1.0]))
    normals = face_normals(verts[None], faces)[0]
    towards = normals[:, 2] / normals.norm(dim=1)                    # camera at +z
    kept = torch.zeros(len(faces), dtype=torch.bool)
    kept[ids[:lists[0].shape[0]]] = True
    clear = towards.abs() > 1e-3                                      # not seen edge-on
    assert torch.equal(kept[clear], towards[clear] > 0)
    assert torch.equal(lists[0], faces[kept])
    assert lists[2].shape == (1, 3) and ids[-1].item() == -1          # placeholder
    # inward-wound faces with front_sign -1 keep the same faces
    flipped_lists, flipped_ids = visible_faces(screen[:1], faces.flip(1), torch.tensor([-1.0]))
    assert torch.equal(flipped_ids, torch.nonzero(kept).flatten())
    all_lists, all_ids = visible_faces(screen, faces, None)
    assert len(all_lists) == 3 and torch.equal(all_ids, torch.arange(len(faces)).repeat(3))


# -- against the built-in rasteriser: with PyTorch3D where it is installed, and everywhere with
# a small emulation of its CPU rasteriser (PyTorch3D 0.7.9, rasterize_meshes_cpu.cpp: pixel
# centres of reversed rows and columns, weights divided by area + 1e-8, a strict inside test,
# blur radius against squared edge distances, candidates sorted by the weights' depth)
_EPS = 1e-8


def _pixel_centres(count: int, side: int, other: int) -> torch.Tensor:
    """NDC centres of image indices 0 .. count-1 along a side (PyTorch3D reverses them)."""
    index = torch.arange(count - 1, -1, -1, dtype=torch.float32)
    extent = max(side / other, 1.0)
    return -extent + (2 * index + 1) * extent / side


def _edge(px, py, ax, ay, bx, by):
    return (px - ax) * (by - ay) - (py - ay) * (bx - ax)


def _segment_distance2(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = (((px - ax) * dx + (py - ay) * dy) / length2.clamp_min(_EPS)).clamp(0.0, 1.0)
    t = torch.where(length2 <= _EPS, torch.ones_like(t), t)
    ex, ey = px - (ax + t * dx), py - (ay + t * dy)
    return ex * ex + ey * ey


def _rasterize_chunk(tri, px, py, blur_radius, faces_per_pixel):
    """(P, K) face indices, z-buffer and (P, K, 3) weights of P pixel centres over the faces."""
    (x0, x1, x2), (y0, y1, y2), (z0, z1, z2) = tri.permute(2, 1, 0)
    area = _edge(x2, y2, x0, y0, x1, y1)
    usable = (area.abs() > _EPS) & (tri[:, :, 2].amin(1) >= _EPS)
    w = torch.stack((_edge(px, py, x1, y1, x2, y2), _edge(px, py, x2, y2, x0, y0),
                     _edge(px, py, x0, y0, x1, y1)), dim=-1) / (area + _EPS)[:, None]
    pz = (w * torch.stack((z0, z1, z2), -1)).sum(-1)
    dist = torch.minimum(torch.minimum(_segment_distance2(px, py, x0, y0, x1, y1),
                                       _segment_distance2(px, py, x0, y0, x2, y2)),
                         _segment_distance2(px, py, x1, y1, x2, y2))
    keep = usable & (pz >= 0) & ((w > 0).all(-1) | (dist < blur_radius))
    order_z = torch.where(keep, pz, torch.full_like(pz, float("inf")))
    k = min(faces_per_pixel, tri.shape[0])
    top_z, top_f = order_z.topk(k, dim=1, largest=False)
    hit = torch.isfinite(top_z)
    idx = torch.where(hit, top_f, torch.full_like(top_f, -1))
    bary = torch.gather(w, 1, top_f[..., None].expand(-1, -1, 3))
    bary = torch.where(hit[..., None], bary, torch.full_like(bary, -1.0))
    zbuf = torch.where(hit, top_z, torch.full_like(top_z, -1.0))
    pad = faces_per_pixel - k
    return (F.pad(idx, (0, pad), value=-1), F.pad(zbuf, (0, pad), value=-1.0),
            F.pad(bary, (0, 0, 0, pad), value=-1.0))


class _Meshes:
    def __init__(self, verts, faces):
        self.verts, self.faces = list(verts), list(faces)


class _Emulated(PyTorch3DRenderer):
    """The PyTorch3D backend running on the emulated rasteriser."""


def _emulated_rasterize_meshes(meshes, image_size, blur_radius=0.0, faces_per_pixel=1,
                               **unused):
    height, width = image_size
    ys, xs = torch.meshgrid(_pixel_centres(height, height, width),
                            _pixel_centres(width, width, height), indexing="ij")
    py, px = ys.reshape(-1, 1), xs.reshape(-1, 1)
    results, offset = [], 0
    for verts, faces in zip(meshes.verts, meshes.faces):
        tri = verts.float().cpu()[faces.cpu()]                                 # (F, 3, 3)
        chunks = [_rasterize_chunk(tri, px[start:start + 2048], py[start:start + 2048],
                                   blur_radius, faces_per_pixel)
                  for start in range(0, px.shape[0], 2048)]
        idx, zbuf, bary = (torch.cat(t) for t in zip(*chunks))
        idx = torch.where(idx >= 0, idx + offset, idx)
        results.append((idx.view(height, width, -1), zbuf.view(height, width, -1),
                        bary.view(height, width, -1, 3)))
        offset += faces.shape[0]
    device = meshes.verts[0].device
    pix_to_face, zbuf, bary = (torch.stack(t).to(device) for t in zip(*results))
    return pix_to_face, zbuf, bary, torch.zeros_like(zbuf)


@pytest.fixture(params=["pytorch3d", "emulated"])
def backend(request, monkeypatch):
    """The PyTorch3D renderer, on PyTorch3D itself or on the emulation above."""
    if request.param == "pytorch3d":
        pytest.importorskip("pytorch3d")
        return build_renderer("pytorch3d")
    package = types.ModuleType("pytorch3d")
    package.__spec__ = importlib.machinery.ModuleSpec("pytorch3d", None)
    structures = types.ModuleType("pytorch3d.structures")
    structures.Meshes = _Meshes
    raster = types.ModuleType("pytorch3d.renderer.mesh.rasterize_meshes")
    raster.rasterize_meshes = _emulated_rasterize_meshes
    for name, module in (("pytorch3d", package), ("pytorch3d.structures", structures),
                         ("pytorch3d.renderer", types.ModuleType("pytorch3d.renderer")),
                         ("pytorch3d.renderer.mesh", types.ModuleType("pytorch3d.renderer.mesh")),
                         ("pytorch3d.renderer.mesh.rasterize_meshes", raster)):
        monkeypatch.setitem(sys.modules, name, module)
    return _Emulated()


def _device(renderer) -> str:
    return "cuda" if torch.cuda.is_available() and not isinstance(renderer, _Emulated) else "cpu"


def _masks(renderer, verts, faces, cam, size=SIZE):
    dev = _device(renderer)
    ours = build_renderer("torch").fragments(verts, faces, cam, size).face_index >= 0
    theirs = renderer.fragments(verts.to(dev), faces.to(dev), cam.to(dev), size).face_index
    return ours, theirs.cpu() >= 0


def _iou(a, b):
    return ((a & b).sum() / (a | b).sum()).item()


def test_axis_aligned_cube_has_no_crack(backend):
    verts, faces = cube_mesh(1.0)
    ours, theirs = _masks(backend, verts[None], faces, torch.tensor([[0.5, 0.0, 0.0]]))
    assert int(ours.sum()) == 64 * 64
    assert _iou(ours, theirs) > 0.9999
    assert int((ours & ~theirs).sum()) == 0                           # no pixel left uncovered


def test_silhouettes_agree_batched_and_culled(backend):
    verts, faces = icosphere(2, radius=0.5)
    bodies = torch.stack((verts * torch.tensor([0.5, 1.0, 0.4]),
                          verts * torch.tensor([0.3, 0.9, 0.3]) + torch.tensor([0.2, 0.1, 0.0]),
                          verts * torch.tensor([0.6, 0.6, 0.6])))
    cam = torch.tensor([[0.9, 0.05, -0.1], [1.1, 0.0, 0.0], [0.7, -0.1, 0.1]])
    size = (96, 48)                     # small: the emulation is brute force
    ours, theirs = _masks(backend, bodies, faces, cam, size)
    for item in range(3):
        assert _iou(ours[item], theirs[item]) > 0.995
    _, one = _masks(backend, bodies[1:2], faces, cam[1:2], size)
    assert torch.equal(one, theirs[1:2])
    # an inward-wound copy culls the other half and shows the same silhouette
    _, inward = _masks(backend, bodies[:1], faces.flip(1), cam[:1], size)
    assert torch.equal(inward, theirs[:1])


def _sliver_scene():
    """Screen-space faces (pixels, larger depth nearer) on a 256 x 128 image: a big square at
    depth 0.5 over the left half of row 128, a sliver (7.3e-4 pixel^2, 1.8e-7 in NDC, wound
    like a front face) along that row at depth 0.49 just behind it, a far backdrop at -1 and a
    near speck at 1 that set the depth range. PyTorch3D's weights on the sliver sum to 0.973,
    which puts it 2% nearer: in front of the square."""
    eps = 2.0 ** -16                   # one float32 step at 128
    screen = torch.tensor([[[30.0, 100.0, 0.5], [64.0, 100.0, 0.5], [64.0, 160.0, 0.5],
                            [30.0, 160.0, 0.5],                                   # square
                            [40.0, 128.5 - eps, 0.49], [88.0, 128.5, 0.49],
                            [40.0, 128.5 + eps, 0.49],                            # sliver
                            [0.0, 0.0, -1.0], [128.0, 0.0, -1.0], [0.0, 30.0, -1.0],  # backdrop
                            [120.0, 250.0, 1.0], [121.0, 250.0, 1.0], [120.0, 251.0, 1.0]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [4, 6, 5], [7, 8, 9], [10, 11, 12]])
    return screen, faces


def test_tiny_faces_keep_their_weights_and_lie_behind_nearer_faces(backend):
    screen, faces = _sliver_scene()
    dev = _device(backend)
    frags = backend.rasterize(screen.to(dev), faces.to(dev), SIZE)
    face_index, bary = frags.face_index[0, 128].cpu(), frags.bary[0, 128].cpu()
    # the square (faces 0, 1) over columns 30 .. 63, the sliver (2) beyond it
    assert set(face_index[30:64].tolist()) <= {0, 1}
    assert (face_index[64:87] == 2).all()
    assert torch.allclose(bary[40:87].sum(-1), torch.ones(47), atol=1e-6)
    if isinstance(backend, _Emulated):
        # the scene does trip PyTorch3D's raw outputs: unnormalised weights, wrong first face
        raw = _emulated_rasterize_meshes(
            _Meshes(screen_to_ndc(screen, SIZE), [faces]), SIZE, edge_blur_radius(SIZE), 1)
        assert raw[2][0, 128, 70, 0].sum() < 0.98
        assert (raw[0][0, 128, 40:64, 0] == 2).any()
