"""The benchmarks package on tiny sizes: the evaluation benchmark's figures, and the per-face
reference rasteriser against the vectorised one."""
import torch

from benchmarks.evaluation import run_benchmark
from benchmarks.reference.render import reference_rasterize
from benchmarks.synthetic import make_market_like_problem
from mesh.camera import fit_camera
from mesh.render.rasterizer import rasterize
from mesh.render.renderer import to_screen
from mesh.render.shapes import icosphere


def test_evaluation_benchmark_tiny():
    lines = []
    figures = run_benchmark(num_query=40, num_gallery=200, dim=16, log=lines.append)
    assert figures["max_abs_diff"] == 0.0  # the fast metrics equal the per-query loop
    assert 0.0 <= figures["rerank_peak_gb"] < 1.0
    assert 0.0 <= figures["mAP"] <= 1.0 and 0.0 <= figures["rerank_mAP"] <= 1.0
    assert len(lines) == 5 and "peak memory above start" in lines[-2]
    assert lines[-1].startswith("re-ranking in float64 (the check)")
    assert figures["rerank_float64_max_abs_diff"] < 1e-5
    assert figures["rerank_float64_entries_over_1e-5"] == 0


def test_market_like_problem_shapes():
    problem = make_market_like_problem(num_query=30, num_gallery=120, dim=8, num_ids=10)
    assert problem.qf.shape == (30, 8) and problem.gf.shape == (120, 8)
    assert (problem.g_pids == 0).sum() == round(120 * 2793 / 15913)  # Market's distractor share
    assert torch.allclose(problem.qf.norm(dim=1), torch.ones(30))


def test_reference_rasteriser_matches_the_vectorised_one():
    verts, faces = icosphere(1)
    verts = verts.float()[None] * torch.tensor([0.3, 0.9, 0.2])
    size = (24, 12)
    screen = to_screen(verts, fit_camera(verts, size), size)
    ours, ref = rasterize(screen, faces, size), reference_rasterize(screen, faces, size)
    assert torch.equal(ours.face_index >= 0, ref.face_index >= 0)  # same silhouette
    same = ours.face_index == ref.face_index
    assert same.float().mean() > 0.99  # a pixel on a shared edge may go to either face
    assert torch.allclose(ours.bary[same], ref.bary[same], atol=1e-4)
