"""Foreground-masked images for pseudo-labelling (CLUSTER.FOREGROUND_MASK)."""
import os

import numpy as np
import pytest
import torch

from mesh.structure_cache import StructureMapCache
from reid.data import build_dataset
from reid.views.foreground import (ForegroundMaskedDataset, build_foreground_loader,
                                   silhouette_from_map)
from tests.toy_gcl import make_toy_gcl_root


def test_silhouette_marks_the_grey_body_and_resizes():
    structure_map = np.full((8, 4), 255, np.uint8)
    structure_map[2:6, 1:3] = 100
    mask = silhouette_from_map(structure_map, (8, 4))
    assert mask.shape == (1, 8, 4)
    assert mask[0, 2:6, 1:3].eq(1).all() and mask.sum() == 8
    larger = silhouette_from_map(structure_map, (16, 8))[0]
    assert larger[5:11, 3:5].eq(1).all() and larger[:3].sum() == 0 and larger[13:].sum() == 0


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("fg")), num_ids=4)


def test_masked_images_keep_the_body_and_grey_the_background(toy_root):
    items = build_dataset("generic", toy_root, verbose=False).train
    cache = StructureMapCache(os.path.join(toy_root, "meshes"))
    sample = ForegroundMaskedDataset(items, cache, (128, 64))[0]
    img = sample["img"]
    assert img.shape == (3, 128, 64)
    mask = silhouette_from_map(cache.read("train", os.path.basename(items[0][0]), 0), (128, 64))
    assert torch.all(img[:, mask[0] == 0] == 0)
    assert img[:, mask[0] == 1].abs().sum() > 0
    batch = next(iter(build_foreground_loader(items, cache, (128, 64), batch_size=3, num_workers=0)))
    assert batch["img"].shape == (3, 3, 128, 64) and torch.equal(batch["img"][0], img)


def test_missing_structure_map_names_the_file(toy_root, tmp_path):
    items = build_dataset("generic", toy_root, verbose=False).train
    empty = StructureMapCache(str(tmp_path / "no_meshes"))
    with pytest.raises(FileNotFoundError, match=os.path.basename(items[0][0])):
        ForegroundMaskedDataset(items, empty, (128, 64))[0]
