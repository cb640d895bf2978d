"""Rotation about the vertical axis: invariants and keeping the body in frame."""
import torch

from mesh.camera import fit_camera, project_weak_perspective
from mesh.rotation import (ORIGINAL_VIEW, VIEW_ANGLES, body_centre, keep_in_frame,
                           novel_view_angles, rotate_about_vertical, rotate_views)


def _bodies(batch=2, verts=300):
    g = torch.Generator().manual_seed(0)
    v = torch.rand(batch, verts, 3, generator=g) * torch.tensor([0.5, 1.7, 0.3])
    return v + torch.tensor([0.3, -0.8, 0.1])


def test_height_kept_and_centre_fixed():
    v = _bodies()
    rotated = rotate_about_vertical(v, VIEW_ANGLES)
    assert rotated.shape == (2, 8, 300, 3)
    assert torch.allclose(rotated[..., 1], v[:, None, :, 1].expand_as(rotated[..., 1]))
    centre = body_centre(v)
    mean_xz = (rotated - centre[:, None, None])[..., [0, 2]]
    # distances to the vertical axis through the centre are preserved
    r0 = (v - centre[:, None])[..., [0, 2]].norm(dim=-1)
    assert torch.allclose(mean_xz.norm(dim=-1), r0[:, None].expand(-1, 8, -1), atol=1e-5)
    pelvis = v[:, 0]
    about_pelvis = rotate_about_vertical(v, [90.0], centre=pelvis)
    assert torch.allclose(about_pelvis[:, 0, 0], pelvis, atol=1e-6)


def test_360_identity_and_90_twice_is_180():
    v = _bodies()
    assert torch.allclose(rotate_about_vertical(v, [360.0])[:, 0], v, atol=1e-5)
    assert torch.allclose(rotate_about_vertical(v, [0.0])[:, 0], v)
    twice = rotate_about_vertical(rotate_about_vertical(v, [90.0])[:, 0], [90.0])[:, 0]
    once = rotate_about_vertical(v, [180.0])[:, 0]
    # same centre (a bounding box turned 90 degrees keeps its centre)
    assert torch.allclose(twice, once, atol=1e-5)


def test_direction_of_rotation():
    front = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]])
    turned = rotate_about_vertical(front, [90.0])[0, 0]
    assert torch.allclose(turned[0], torch.tensor([1.0, 0.0, 0.0]), atol=1e-6)


def test_one_angle_per_body_matches_the_angle_list():
    v = _bodies(3)
    degrees = torch.tensor([45.0, 90.0, 315.0])
    each = rotate_about_vertical(v, degrees, per_body=True)
    every = rotate_about_vertical(v, degrees)                                 # (B, A, V, 3)
    assert each.shape == v.shape
    for b in range(3):
        assert torch.allclose(each[b], every[b, b], atol=1e-6)
    assert torch.equal(each[..., 1], v[..., 1])                               # heights copied
    pelvis = v[:, 0]
    about_pelvis = rotate_about_vertical(v, degrees, centre=pelvis, per_body=True)
    assert torch.allclose(about_pelvis[:, 0], pelvis, atol=1e-6)


def test_view_angles_start_with_the_original_view():
    assert VIEW_ANGLES[0] == ORIGINAL_VIEW == 0
    assert novel_view_angles() == VIEW_ANGLES[1:]
    assert novel_view_angles((90, 0, 45)) == (90, 45)


def test_whole_body_stays_in_frame():
    # a wide body (arms out) that fills the height: turned 90 degrees it is deep in z, so fine;
    # a deep body (a bag in front) turned 90 degrees gets wider than the image and must shrink.
    v = _bodies(1) * torch.tensor([0.4, 1.0, 4.0])
    size = (256, 128)
    camera = fit_camera(v, size, fill=0.9)
    rotated, cameras = rotate_views(v, camera, image_size=size)
    assert rotated.shape == (1, 8, 300, 3) and cameras.shape == (1, 8, 3)
    assert torch.allclose(cameras[:, 0], camera)
    uv = project_weak_perspective(rotated.reshape(8, 300, 3), cameras.reshape(8, 3))
    assert (uv[..., 0].abs() <= 0.5 + 1e-5).all() and (uv[..., 1].abs() <= 1 + 1e-5).all()
    assert cameras[0, 2, 0] < camera[0, 0]        # 90 degrees needed a smaller scale
    same = keep_in_frame(v, camera, size)
    assert torch.allclose(same, camera)
