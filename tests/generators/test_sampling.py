"""Sampling and manipulation outputs from tiny generators."""
import os

import torch

from generators.g3an import G3ANGenerator, g3an_manipulations
from generators.imaginator import ImaginatorGenerator, imaginator_all_labels
from generators.sampling import write_clip_set


def test_g3an_manipulations_share_the_fixed_code():
    g = G3ANGenerator(base_channels=4, num_classes=2).eval()
    sets = g3an_manipulations(g, appearances=2, motions=2, labels=torch.tensor([1]))
    assert sets["fixed_appearance"].shape == (4, 3, 16, 64, 64)
    a = sets["fixed_appearance"]
    assert not torch.allclose(a[0], a[1])          # same z_a, different z_m
    # the reverse set holds the same (z_a, z_m) pairs in another order
    assert torch.allclose(sets["fixed_motion"][1], a[2], atol=1e-5)


def test_imaginator_every_label_and_files(tmp_path):
    g = ImaginatorGenerator(num_classes=3, base_channels=4, z_dim=8, latent_dim=5).eval()
    videos = imaginator_all_labels(g, torch.zeros(3, 64, 64))
    assert videos.shape == (3, 3, 32, 64, 64)
    paths = write_clip_set(videos[:, :, :4], str(tmp_path), "labels", columns=3)
    assert [os.path.splitext(p)[1] for p in paths] == [".mp4", ".gif", ".png"]
    assert all(os.path.getsize(p) > 0 for p in paths)
