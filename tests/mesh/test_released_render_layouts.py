"""Structure maps in the layouts of the authors' released renders load as they are, new maps are
written in the same layouts, and MESH.DIR follows the located dataset folder."""
import os

import numpy as np
import pytest
from PIL import Image

from reid.config import load_config
from reid.data import build_dataset_from_cfg, make_toy_reid_folder
from reid.views.structure_maps import (check_structure_maps, dataset_splits, mesh_dir_of,
                                       structure_cache_for)

# toy layout -> DATASETS.NAME
LAYOUTS = {"market": "market1501", "duke": "dukemtmc", "msmt17_v1": "msmt17"}
FOLDERS = ["render"] + [f"render_{a}" for a in (45, 90, 135, 180, 225, 270, 315)]


def released_place(path: str, layout: str) -> str:
    """Where the authors' loader looks for the maps of ``path`` below ``<split>/render*/``: it
    swaps the image folder for the render folder, i.e. the file name for Market-1501 and
    DukeMTMC-reID, ``<pid folder>/<file name>`` for MSMT17."""
    parts = os.path.normpath(path).split(os.sep)
    return os.path.join(*parts[-2:]) if layout == "msmt17_v1" else parts[-1]


def write_released_renders(mesh_dir: str, dataset, layout: str) -> set:
    """RGB maps (as some released ones are) of every image, at every released angle; returns
    their paths relative to ``mesh_dir``."""
    written = set()
    for split, items in (("train", dataset.train), ("test", dataset.query + dataset.gallery)):
        for level, (path, _, _) in enumerate(items):
            for folder in FOLDERS:
                rel = os.path.join(split, folder, released_place(path, layout))
                os.makedirs(os.path.dirname(os.path.join(mesh_dir, rel)), exist_ok=True)
                Image.new("RGB", (128, 256), (level, level, level)).save(
                    os.path.join(mesh_dir, rel))
                written.add(rel)
    return written


def _files_below(folder: str) -> set:
    return {os.path.relpath(os.path.join(d, f), folder)
            for d, _, files in os.walk(folder) for f in files}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_released_layouts_load_as_they_are_and_new_maps_follow_them(tmp_path, layout):
    root = make_toy_reid_folder(str(tmp_path / "data"), num_ids=4, num_cameras=2, layout=layout,
                                num_distractors=0, num_junk=0)
    cfg = load_config(None, ["DATASETS.NAME", LAYOUTS[layout], "DATASETS.ROOT", root,
                             "MESH.DIR", str(tmp_path / "released")])
    dataset = build_dataset_from_cfg(cfg, verbose=False)
    released = write_released_renders(str(tmp_path / "released"), dataset, layout)
    cache = structure_cache_for(cfg, dataset)
    check_structure_maps(cache, dataset.train)
    splits = dataset_splits(dataset)
    assert cache.check_splits(splits) == ([], [])       # every image of both splits found
    for level, (path, _, _) in enumerate(dataset.train):
        grey = cache.read("train", path, 90)
        assert grey.shape == (256, 128) and int(grey[0, 0]) == level
    if layout == "msmt17_v1":
        path = dataset.train[0][0]
        assert cache.path("train", path) == os.path.join(
            str(tmp_path / "released"), "train", "render", os.path.basename(os.path.dirname(path)),
            os.path.basename(path))

    # New maps go exactly where the released ones are.
    fresh_cfg = load_config(None, ["DATASETS.NAME", LAYOUTS[layout], "DATASETS.ROOT", root,
                                   "MESH.DIR", str(tmp_path / "fresh")])
    fresh = structure_cache_for(fresh_cfg, dataset)
    for split, paths in splits.items():
        for path in paths:
            fresh.write_views(split, path, np.zeros((len(FOLDERS), 256, 128), np.uint8))
    assert _files_below(str(tmp_path / "fresh")) == released


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A Market-1501 toy set in ``tmp_path/data`` while the working folder is another one."""
    root = make_toy_reid_folder(str(tmp_path / "data"), num_ids=4, num_cameras=2,
                                num_distractors=0, num_junk=0)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return root


@pytest.mark.parametrize("root_as", ["absolute", "relative"])
def test_a_relative_mesh_dir_lies_below_the_located_dataset_folder(elsewhere, root_as):
    root = elsewhere if root_as == "absolute" else os.path.relpath(elsewhere)
    cfg = load_config(None, ["DATASETS.ROOT", root, "MESH.DIR", "renders", "MESH.ANGLES", "(90,)"])
    dataset = build_dataset_from_cfg(cfg, verbose=False)
    located = os.path.join(root, "Market-1501-v15.09.15")
    assert dataset.root == located
    assert os.path.abspath(mesh_dir_of(cfg, dataset)) == os.path.abspath(
        os.path.join(elsewhere, "Market-1501-v15.09.15", "renders"))
    cache = structure_cache_for(cfg, dataset)
    for path, _, _ in dataset.train:
        cache.write_views("train", path, np.zeros((2, 256, 128), np.uint8))
    assert not os.path.exists("renders")                 # nothing below the working folder
    check_structure_maps(structure_cache_for(cfg, dataset), dataset.train)


def test_an_absolute_mesh_dir_stays_as_given(elsewhere, tmp_path):
    given = str(tmp_path / "renders")
    # A folder of the same name below the dataset folder does not divert it.
    os.makedirs(os.path.join(elsewhere, "Market-1501-v15.09.15", "renders"))
    cfg = load_config(None, ["DATASETS.ROOT", elsewhere, "MESH.DIR", given,
                             "MESH.ANGLES", "(90,)"])
    dataset = build_dataset_from_cfg(cfg, verbose=False)
    cache = structure_cache_for(cfg, dataset)
    assert mesh_dir_of(cfg, dataset) == given and cache.mesh_dir == given
    for path, _, _ in dataset.train:
        cache.write_views("train", path, np.zeros((2, 256, 128), np.uint8))
    assert len(os.listdir(os.path.join(given, "train", "render_90"))) == len(dataset.train)
    check_structure_maps(cache, dataset.train)
