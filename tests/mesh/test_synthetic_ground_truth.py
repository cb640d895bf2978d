"""Ground-truth novel views of the synthetic set, and its separate train / test identity counts."""
import json
import os

import numpy as np
import pytest
import torch

from mesh.body import build_body_model
from mesh.render import build_renderer
from mesh.rotation import VIEW_ANGLES
from mesh.synthetic import make_synthetic_dataset
from mesh.synthetic.appearance import sample_identities
from mesh.synthetic.ground_truth import (ground_truth_angles, ground_truth_path,
                                         read_ground_truth_views)
from mesh.synthetic.people import SyntheticPersonRenderer
from mesh.synthetic.scene import crop_backgrounds, sample_camera_profiles
from tests.file_digest import folder_digest

SMALL = (64, 32)
SETTINGS = dict(num_ids=7, num_train_ids=2, num_cameras=2, images_per_camera=2,
                image_size=SMALL, batch_size=8, progress=False, seed=5)
ROTATIONS = tuple(a for a in VIEW_ANGLES if a != 0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic_gt"))
    return root, make_synthetic_dataset(root, **SETTINGS)


def _train_names(root):
    return sorted(os.listdir(os.path.join(root, "bounding_box_train")))


def test_separate_train_and_test_identity_counts(dataset):
    root, summary = dataset
    assert summary["train_ids"] == 2 and summary["test_ids"] == 5
    train = {n[:4] for n in _train_names(root)}
    test = {n[:4] for folder in ("query", "bounding_box_test")
            for n in os.listdir(os.path.join(root, folder))}
    assert len(train) == 2 and len(test) == 5 and not train & test
    with open(os.path.join(root, "SYNTHETIC_COMPLETE.json"), encoding="utf-8") as handle:
        marker = json.load(handle)
    assert marker["train_ids"] == 2 and marker["num_ids"] == 7


def test_ground_truth_views_of_every_training_image_and_rotation(dataset):
    root, summary = dataset
    names = _train_names(root)
    assert ground_truth_angles(root) == ROTATIONS
    assert summary["ground_truth_views"] == len(names) * len(ROTATIONS)
    for angle in ROTATIONS:
        views = read_ground_truth_views(root, names, angle)
        assert views.shape == (len(names), *SMALL, 3) and views.std() > 10
    # only training images have them
    query = sorted(os.listdir(os.path.join(root, "query")))[0]
    assert not os.path.exists(ground_truth_path(root, query, 90))
    with pytest.raises(FileNotFoundError, match="ground-truth view"):
        read_ground_truth_views(root, [query], 90)
    with pytest.raises(ValueError, match="training image itself"):
        ground_truth_path(root, names[0], 0)


def test_the_rest_of_the_dataset_is_the_same_without_ground_truth(dataset, tmp_path):
    root, _ = dataset
    plain = str(tmp_path / "plain")
    summary = make_synthetic_dataset(plain, ground_truth_views=False, **SETTINGS)
    assert summary["ground_truth_views"] == 0 and ground_truth_angles(plain) == ()
    assert not os.path.exists(os.path.join(plain, "ground_truth_views"))
    with_truth = {k: v for k, v in folder_digest(root).items()
                  if not k.startswith("ground_truth_views") and "COMPLETE" not in k}
    without = {k: v for k, v in folder_digest(plain).items() if "COMPLETE" not in k}
    assert with_truth == without


def test_ground_truth_silhouettes_match_the_structure_maps():
    """The clothed rotated person covers exactly the pixels of its grey structure map."""
    g = torch.Generator().manual_seed(0)
    size = (128, 64)
    body = build_body_model("anny", resolution="low")
    people = SyntheticPersonRenderer(body, build_renderer("torch"), size)
    from mesh.body.anny_model import SHAPE_NAMES, SHAPE_RANGES
    from mesh.body.poses import random_everyday_pose

    batch = 6
    identities = sample_identities(batch, [SHAPE_RANGES[n] for n in SHAPE_NAMES], g)
    profiles = sample_camera_profiles(2, size, g)
    cams = torch.tensor([0, 1] * (batch // 2))
    vertices = people.pose_bodies(identities.shape, random_everyday_pose(body, batch, g),
                                  torch.rand(batch, generator=g) * 360)
    camera = people.frame(vertices, torch.ones(batch), torch.zeros(batch, 2))
    maps = people.render_structure_views(vertices, camera, ROTATIONS)
    images, masks = people.render_rotated_people(
        vertices, camera, ROTATIONS, identities.gather(torch.arange(batch)),
        crop_backgrounds(profiles, cams, size, g), profiles.light_dir[cams],
        profiles.ambient[cams])
    assert images.shape == (batch, len(ROTATIONS), 3, *size)
    grey = maps < 1.0 - 1e-4  # structure maps: grey bodies on white
    mask = masks > 0.5
    iou = (grey & mask).sum((-1, -2)).float() / (grey | mask).sum((-1, -2)).float()
    assert iou.min() >= 0.99, iou
    # the view itself differs from its neighbour angle (it is a rotation, not a copy)
    assert (images[:, 0] - images[:, 1]).abs().mean() > 0.01


def test_cli_separate_counts_and_bad_input(tmp_path, capsys):
    from tools.make_synthetic import main

    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "a"), "--train-ids", "3"])
    assert "together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "b"), "--train-ids", "0", "--test-ids", "4"])
    assert ">= 1" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")
    summary = main(["--out", str(tmp_path / "c"), "--train-ids", "2", "--test-ids", "3",
                    "--cameras", "2", "--images-per-camera", "1", "--height", "32",
                    "--width", "16", "--no-ground-truth-views"])
    assert summary["train_ids"] == 2 and summary["test_ids"] == 3
    assert summary["ground_truth_views"] == 0


def test_config_counts_are_never_silently_ignored():
    from reid.config import ConfigError, load_config
    from reid.views.synthetic_dataset import synthetic_settings

    cfg = load_config("configs/synthetic.yaml")
    settings = synthetic_settings(cfg)
    assert (settings["num_ids"], settings["train_ids"]) == (300, 50)
    assert settings["ground_truth_angles"] == list(ROTATIONS)
    with pytest.raises(ConfigError, match="IDS 20 with TRAIN_IDS 50"):
        load_config("configs/synthetic.yaml", ["DATASETS.SYNTHETIC.IDS", "20"])
    with pytest.raises(ConfigError, match="give both"):
        load_config("configs/synthetic.yaml", ["DATASETS.SYNTHETIC.TEST_IDS", "0"])
    halves = load_config("configs/synthetic.yaml", [
        "DATASETS.SYNTHETIC.IDS", "20", "DATASETS.SYNTHETIC.TRAIN_IDS", "0",
        "DATASETS.SYNTHETIC.TEST_IDS", "0", "DATASETS.SYNTHETIC.GROUND_TRUTH_VIEWS", "False"])
    assert synthetic_settings(halves) == {"num_ids": 20, "train_ids": 10, "num_cameras": 6,
                                          "images_per_camera": 2, "seed": 0}
