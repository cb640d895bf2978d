"""Synthetic dataset: determinism, split statistics, file names, structure maps, rebuild logic."""
import os
import re

import numpy as np
import pytest
import torch

from mesh.structure_cache import StructureMapCache
from mesh.synthetic import MARKER, is_complete, make_synthetic_dataset, plan_images, synthetic_dataset_dir
from mesh.synthetic.appearance import hsv_to_rgb, paint, sample_identities
from mesh.rotation import VIEW_ANGLES, rotate_about_vertical
from reid.views.synthetic_dataset import ensure_synthetic_dataset
from tests.file_digest import folder_digest

MARKET_NAME = re.compile(r"^(\d{4})_c(\d)s1_(\d{6})_(\d{2})\.jpg$")
FOLDERS = ("bounding_box_train", "query", "bounding_box_test")
SMALL = (64, 32)
SETTINGS = dict(num_ids=4, num_cameras=2, images_per_camera=2, image_size=SMALL, batch_size=8,
                progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic_a"))
    summary = make_synthetic_dataset(root, seed=3, preview=True, **SETTINGS)
    return root, summary


def _items(root: str):
    items = []
    for folder in FOLDERS:
        for name in sorted(os.listdir(os.path.join(root, folder))):
            match = MARKET_NAME.match(name)
            assert match, f"{folder}/{name} does not follow the Market naming rule"
            items.append((folder, name, int(match.group(1)), int(match.group(2))))
    return items


def test_same_seed_gives_identical_files(dataset, tmp_path):
    root, _ = dataset
    again = str(tmp_path / "again")
    make_synthetic_dataset(again, seed=3, preview=True, **SETTINGS)
    first, second = folder_digest(root), folder_digest(again)
    assert first.keys() == second.keys()
    assert first == second


def test_split_statistics_and_names(dataset):
    root, summary = dataset
    items = _items(root)
    assert len(items) == summary["images"]
    train_ids = {pid for folder, _, pid, _ in items if folder == "bounding_box_train"}
    test_ids = {pid for folder, _, pid, _ in items if folder != "bounding_box_train"}
    assert len(train_ids) == 2 and len(test_ids) == 2 and not train_ids & test_ids
    cams = {}
    for _, _, pid, cam in items:
        assert 1 <= cam <= 2
        cams.setdefault(pid, set()).add(cam)
    assert all(len(c) >= 2 for c in cams.values())
    names = [name for _, name, _, _ in items]
    assert len(set(names)) == len(names)
    query = [(pid, cam) for folder, _, pid, cam in items if folder == "query"]
    gallery = [(pid, cam) for folder, _, pid, cam in items if folder == "bounding_box_test"]
    assert query and gallery
    for pid, cam in query:  # every query has a true match in another camera
        assert any(p == pid and c != cam for p, c in gallery)


def test_structure_maps_exist_for_every_image_and_angle(dataset):
    root, _ = dataset
    cache = StructureMapCache(os.path.join(root, "meshes"), size=SMALL)
    for folder, name, _, _ in _items(root):
        split = "train" if folder == "bounding_box_train" else "test"
        assert cache.complete(split, name, VIEW_ANGLES), f"missing maps of {name}"
    maps = cache.read("train", _items(root)[0][1], 0)
    assert maps.shape == SMALL and maps.dtype == np.uint8
    assert maps.max() >= 250 and maps.min() < 200  # white background, grey body


def test_annotations_marker_and_preview(dataset):
    root, summary = dataset
    ann = np.load(os.path.join(root, "annotations.npz"))
    assert len(ann["filename"]) == summary["images"]
    assert ann["shape"].shape == (summary["images"], 6)
    assert ann["pose"].shape[0] == summary["images"] and np.isfinite(ann["pose"]).all()
    assert set(ann["camera"].tolist()) <= {1, 2}
    assert os.path.isfile(os.path.join(root, "annotations.json"))
    assert os.path.isfile(os.path.join(root, "preview.png"))
    assert is_complete(root, {"num_ids": 4, "seed": 3})
    assert not is_complete(root, {"num_ids": 5})


def test_images_show_a_person_over_the_background(dataset):
    from PIL import Image

    root, _ = dataset
    folder, name, _, _ = _items(root)[0]
    image = np.asarray(Image.open(os.path.join(root, folder, name)))
    assert image.shape == (*SMALL, 3)
    assert image.std() > 10  # not blank


def test_reader_reads_the_layout(dataset):
    reid_data = pytest.importorskip("reid.data")
    root, summary = dataset
    data = reid_data.build_dataset("synthetic", root, verbose=False)
    total = sum(len(getattr(data, s)) for s in ("train", "query", "gallery"))
    assert total == summary["images"]


def test_plan_single_image_per_camera_and_bad_input():
    g = torch.Generator().manual_seed(0)
    plan = plan_images(6, 3, 1, g)
    test = plan.subset != "train"
    for pid in set(plan.pid[test].tolist()):
        q_cams = set(plan.camera[(plan.pid == pid) & (plan.subset == "query")].tolist())
        g_cams = set(plan.camera[(plan.pid == pid) & (plan.subset == "gallery")].tolist())
        assert q_cams and g_cams and not q_cams & g_cams
    with pytest.raises(ValueError, match="cameras"):
        plan_images(4, 1, 2, g)
    with pytest.raises(ValueError, match="cameras"):
        plan_images(4, 10, 2, g)
    with pytest.raises(ValueError, match="identities"):
        plan_images(1, 2, 2, g)


def test_rotation_about_vertical_axis():
    verts = torch.randn(3, 50, 3)
    turned = rotate_about_vertical(verts, torch.tensor([45.0, 90.0, 360.0]), per_body=True)
    assert torch.allclose(turned[..., 1], verts[..., 1])
    assert torch.allclose(turned[2], verts[2], atol=1e-5)
    quarter = rotate_about_vertical(verts, torch.full((3,), 90.0), per_body=True)
    back = rotate_about_vertical(quarter, torch.full((3,), 270.0), per_body=True)
    assert torch.allclose(back, verts, atol=1e-5)


def test_painting_covers_garments_and_skin():
    g = torch.Generator().manual_seed(0)
    ident = sample_identities(5, [(0.0, 1.0)] * 6, g)
    points = torch.tensor([[0.0, 0.3, 0.1], [0.0, -0.6, 0.05], [0.3, 0.05, 0.3], [0.0, -0.95, 0.1]])
    parts = torch.tensor([1, 6, 4, 7])  # torso, lower leg, hand, foot
    rows = ident.gather(torch.zeros(4, dtype=torch.long))
    colors = paint(points, parts, rows)
    assert colors.shape == (4, 3) and colors.min() >= 0 and colors.max() <= 1
    assert torch.allclose(colors[2], ident.skin[0])  # hands are skin
    assert torch.allclose(hsv_to_rgb(torch.tensor([0.0, 1.0, 1.0])), torch.tensor([1.0, 0, 0]))


def test_ensure_rebuilds_an_incomplete_dataset(tmp_path):
    from reid.config import get_cfg_defaults

    cfg = get_cfg_defaults()
    cfg.DATASETS.ROOT = str(tmp_path / "synthetic")
    cfg.DATASETS.SYNTHETIC.IDS = 2
    cfg.DATASETS.SYNTHETIC.CAMERAS = 2
    cfg.DATASETS.SYNTHETIC.IMAGES_PER_ID_PER_CAMERA = 1
    cfg.INPUT.SIZE = SMALL
    cfg.MODEL.DEVICE = "cpu"
    out = synthetic_dataset_dir(cfg.DATASETS.ROOT)
    stray = os.path.join(out, "bounding_box_train", "9999_c1s1_000001_01.jpg")
    os.makedirs(os.path.dirname(stray))
    open(stray, "wb").close()  # a half-written run: its in-progress marker, no completion marker
    open(os.path.join(out, "SYNTHETIC_IN_PROGRESS.json"), "w").close()
    assert ensure_synthetic_dataset(cfg) == out
    assert not os.path.exists(stray)
    marker = os.path.join(out, MARKER)
    stamp = os.path.getmtime(marker)
    assert ensure_synthetic_dataset(cfg) == out
    assert os.path.getmtime(marker) == stamp  # complete: not rebuilt
