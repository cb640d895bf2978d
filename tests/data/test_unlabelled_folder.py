"""The ``folder`` dataset: every image below a folder, any names, unknown identities, cameras
from the sub-folders or one camera; its structure maps keep the sub-folders apart."""
import os

import numpy as np
import pytest

from common.config import ConfigError
from reid.config import load_config
from reid.data import (UNKNOWN_PID, DatasetFormatError, DatasetLayoutError, build_dataset,
                       build_dataset_from_cfg, make_toy_reid_folder)
from reid.views.structure_maps import (check_structure_maps, dataset_splits,
                                       structure_cache_for)
from tests.data.toy_folders import LOOSE, SITES, make_unlabelled_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_unlabelled_tree(str(tmp_path_factory.mktemp("unlabelled") / "photos"))


def _cfg(root, *opts):
    return load_config(None, ["DATASETS.NAME", "folder", "DATASETS.ROOT", root, *opts])


def _relative(dataset):
    return [os.path.relpath(path, dataset.root) for path, _, _ in dataset.train]


def test_every_image_below_the_folder_is_an_unlabelled_training_image(tree):
    dataset = build_dataset_from_cfg(_cfg(tree), verbose=False)
    names = _relative(dataset)
    # 8 training identities x 3 cameras x 2 images, plus the loose image in the root.
    assert len(names) == 48 + 1 and names[0] == LOOSE[0]
    assert all(name.split(os.sep)[0] in SITES for name in names[1:])
    assert not any(name.startswith((".thumbs", "meshes")) for name in names)
    assert {pid for _, pid, _ in dataset.train} == {UNKNOWN_PID}
    assert dataset.train_labelled is False and dataset.num_train_pids == 0
    assert dataset.query == [] and dataset.gallery == [] and not dataset.has_test_split
    summary = dataset.summary()
    assert "unknown" in summary and "evaluation is skipped" in summary
    # The same file names sit in several folders.
    assert len({os.path.basename(n) for n in names}) < len(names)


def test_cameras_follow_the_immediate_sub_folders_or_are_one(tree):
    by_folder = build_dataset_from_cfg(_cfg(tree), verbose=False)
    cameras = {}
    for name, (_, _, cam) in zip(_relative(by_folder), by_folder.train):
        cameras.setdefault(name.split(os.sep)[0] if os.sep in name else "", set()).add(cam)
    # The root's own images first, then the sites in name order; morning/evening share one.
    assert cameras == {"": {0}, SITES[0]: {1}, SITES[1]: {2}, SITES[2]: {3}}
    single = build_dataset_from_cfg(_cfg(tree, "DATASETS.CAMERAS", "single"), verbose=False)
    assert {cam for _, _, cam in single.train} == {0}
    assert [p for p, _, _ in single.train] == [p for p, _, _ in by_folder.train]


def test_the_mesh_and_output_folders_below_the_root_are_left_out(tree):
    plain = build_dataset("folder", tree, verbose=False)
    assert sum(n.startswith("meshes") for n in _relative(plain)) == 1   # without the config
    inside = os.path.join(tree, SITES[0])
    cfg = _cfg(tree, "MESH.DIR", "renders", "OUTPUT_DIR", inside)
    names = _relative(build_dataset_from_cfg(cfg, verbose=False))
    assert not any(n.startswith(SITES[0]) for n in names)   # OUTPUT_DIR left out
    assert sum(n.startswith("meshes") for n in names) == 1  # MESH.DIR is renders/ now


def test_structure_maps_of_equal_names_in_different_folders_keep_apart(tree, tmp_path):
    cfg = _cfg(tree, "MESH.DIR", str(tmp_path / "maps"), "MESH.ANGLES", "(90,)")
    dataset = build_dataset_from_cfg(cfg, verbose=False)
    cache = structure_cache_for(cfg, dataset)
    paths = dataset_splits(dataset)["train"]
    assert len(paths) == len(dataset.train)      # no two images share a structure-map place
    for level, path in enumerate(paths):
        cache.write_views("train", path, np.full((2, 256, 128), level, np.uint8))
    check_structure_maps(cache, dataset.train)
    for level, path in enumerate(paths):
        assert int(cache.read("train", path, 90)[0, 0]) == level
    first = next(p for p in paths if os.path.basename(p) == "001.jpg")
    relative = os.path.relpath(first, tree)
    assert cache.path("train", first, 90) == os.path.join(str(tmp_path / "maps"), "train",
                                                          "render_90", relative)


def test_bad_folder_input_is_named_before_any_work(tmp_path):
    with pytest.raises(DatasetLayoutError, match="folder '.*nowhere' does not exist"):
        build_dataset("folder", str(tmp_path / "nowhere"), verbose=False)
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DatasetFormatError, match="no images below '.*empty'"):
        build_dataset("folder", str(tmp_path / "empty"), verbose=False)
    with pytest.raises(ConfigError, match=r"DATASETS\.CAMERAS must be one of folder, single; "
                                          r"got 'per_folder'"):
        _cfg(str(tmp_path), "DATASETS.CAMERAS", "per_folder")
    with pytest.raises(ValueError, match="must be one of folder, single; got 'both'"):
        build_dataset("folder", str(tmp_path), verbose=False, cameras="both")


def test_the_folder_dataset_is_no_source_and_has_nothing_to_evaluate(tree, tmp_path):
    market = make_toy_reid_folder(str(tmp_path / "market"), num_ids=4, num_cameras=2)
    cameras_elsewhere = load_config(None, ["DATASETS.ROOT", market, "DATASETS.CAMERAS", "single"])
    with pytest.raises(ConfigError, match=r"DATASETS\.CAMERAS 'single' applies to the 'folder' "
                                          r"dataset only"):
        build_dataset_from_cfg(cameras_elsewhere, verbose=False)
    source = _cfg(tree, "DATASETS.SOURCE", "unlabelled")
    with pytest.raises(ConfigError, match=r"DATASETS\.SOURCE 'unlabelled'.*has none"):
        build_dataset_from_cfg(source, source=True, verbose=False)
    with pytest.raises(DatasetLayoutError, match="unlabelled training images only"):
        build_dataset_from_cfg(_cfg(tree), test_only=True, verbose=False)
