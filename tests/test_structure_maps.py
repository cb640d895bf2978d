"""Mesh views on the ReID side: MESH.ANGLES is checked, reaches the cache, and sets the views."""
import ast
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from mesh.rotation import VIEW_ANGLES
from reid.config import ConfigError, load_config
from reid.data import build_dataset
from reid.views import (MissingStructureMapsError, ViewPairDataset, check_structure_maps,
                        structure_cache_for, view_angles_of)
from tests.toy_gcl import make_toy_gcl_root


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = make_toy_gcl_root(str(tmp_path_factory.mktemp("views")), num_ids=4)
    return root, build_dataset("generic", root, verbose=False)


def test_the_default_angles_are_the_mesh_viewpoints():
    assert view_angles_of(load_config(None)) == VIEW_ANGLES


@pytest.mark.parametrize("value", ["(0, 45)", "(45, 45)", "(360,)", "(-45,)", "(22.5,)",
                                   "('90',)", "()"])
def test_bad_angles_are_refused_naming_key_and_value(value):
    with pytest.raises(ConfigError, match=r"MESH\.ANGLES must be one or more distinct integer degrees") as err:
        load_config(None, ["MESH.ANGLES", value])
    assert str(err.value).endswith(f"got {ast.literal_eval(value)!r}")


def test_the_cache_of_a_config_holds_its_angles(toy):
    root, dataset = toy
    cfg = load_config(None, ["MESH.DIR", os.path.join(root, "meshes"),
                             "MESH.ANGLES", "(90, 270)"])
    cache = structure_cache_for(cfg, dataset)
    assert cache.angles == (0, 90, 270)
    views = ViewPairDataset(dataset.train, cache, size=(64, 32), padding=0)
    assert views.angles == (90, 270)
    torch.manual_seed(0)
    assert {int(views[i]["angle"]) for i in range(len(views))} <= {90, 270}


def test_default_views_draw_the_seven_rotations(toy):
    root, dataset = toy
    cfg = load_config(None, ["MESH.DIR", os.path.join(root, "meshes")])
    views = ViewPairDataset(dataset.train, structure_cache_for(cfg, dataset), size=(64, 32))
    assert views.angles == (45, 90, 135, 180, 225, 270, 315)


def test_the_check_covers_the_cache_angles_and_names_the_missing(toy, tmp_path):
    root, dataset = toy
    cfg = load_config(None, ["MESH.DIR", os.path.join(root, "meshes"), "MESH.ANGLES", "(45,)"])
    check_structure_maps(structure_cache_for(cfg, dataset), dataset.train)
    empty = load_config(None, ["MESH.DIR", str(tmp_path / "none"), "MESH.ANGLES", "(45,)"])
    cache = structure_cache_for(empty, SimpleNamespace(root=root))
    with pytest.raises(MissingStructureMapsError, match=f"{2 * len(dataset.train)} structure maps"):
        check_structure_maps(cache, dataset.train)
    with pytest.raises(MissingStructureMapsError, match=f"{len(dataset.train)} structure maps") \
            as err:
        check_structure_maps(cache, dataset.train, angles=(0,))
    assert os.path.join("render", os.path.basename(dataset.train[0][0])) in str(err.value)
    assert np.asarray(structure_cache_for(cfg, dataset).read(
        "train", dataset.train[0][0], 45)).shape == (256, 128)
