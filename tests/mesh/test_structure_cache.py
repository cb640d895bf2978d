"""Structure-map cache: layout, round trip, authors' RGB files, atomic writes, audits."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from mesh.rotation import VIEW_ANGLES
from mesh.structure_cache import StructureMapCache, folder_name, resolve_mesh_dir, to_uint8_maps

NAME = "0002_c1s1_000451_03.jpg"


def _map(seed=0, size=(256, 128)):
    rng = np.random.default_rng(seed)
    grad = np.linspace(0, 255, size[1], dtype=np.float32)[None, :].repeat(size[0], 0)
    return np.clip(grad + rng.normal(0, 2, size), 0, 255).astype(np.uint8)


def test_folder_names_and_layout(tmp_path):
    assert VIEW_ANGLES == (0, 45, 90, 135, 180, 225, 270, 315)
    assert folder_name(0) == "render" and folder_name(45) == "render_45"
    cache = StructureMapCache(str(tmp_path))
    assert cache.path("train", NAME, 0) == os.path.join(str(tmp_path), "train", "render", NAME)
    assert cache.path("test", "/data/x/" + NAME, 315) == os.path.join(
        str(tmp_path), "test", "render_315", NAME)
    with pytest.raises(ValueError, match="angle"):
        cache.path("train", NAME, 30)
    with pytest.raises(ValueError, match="split"):
        cache.path("query", NAME, 0)
    assert resolve_mesh_dir("", "/data/market") == os.path.join("/data/market", "meshes")
    assert resolve_mesh_dir("/renders", "/data/market") == "/renders"


def test_a_cache_holds_its_own_angles(tmp_path):
    cache = StructureMapCache(str(tmp_path), angles=(0, 90))
    assert cache.angles == (0, 90) and StructureMapCache(str(tmp_path)).angles == VIEW_ANGLES
    assert cache.path("train", NAME, 90).endswith(os.path.join("render_90", NAME))
    with pytest.raises(ValueError, match=r"one of \(0, 90\); got 45"):
        cache.path("train", NAME, 45)
    cache.write_views("train", NAME, torch.rand(2, 1, 256, 128))
    assert cache.complete("train", NAME) and cache.missing("train", [NAME]) == []
    other = "0003_c2s1_000100_01.jpg"
    missing, bad = cache.check_splits({"train": [NAME], "test": [other]})
    assert missing == [os.path.join("test", "render", other),
                       os.path.join("test", "render_90", other)] and bad == []


@pytest.mark.parametrize("name", [NAME, "0002_c1s1_000451_03.png"])
def test_round_trip(tmp_path, name):
    cache = StructureMapCache(str(tmp_path))
    array = _map()
    path = cache.write("train", name, 90, array)
    assert os.path.isfile(path)
    with Image.open(path) as image:
        assert image.mode == "L"
        assert image.format == ("PNG" if name.endswith(".png") else "JPEG")
    back = cache.read("train", name, 90)
    assert back.dtype == np.uint8 and back.shape == (256, 128)
    tol = 0 if name.endswith(".png") else 6
    assert np.abs(back.astype(int) - array.astype(int)).mean() <= tol
    tensor = cache.read_tensor("train", name, 90)
    assert tensor.shape == (1, 256, 128) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    assert torch.allclose(tensor[0], torch.from_numpy(back).float() / 127.5 - 1)


def test_authors_rgb_files_of_other_size_load_as_grey(tmp_path):
    cache = StructureMapCache(str(tmp_path))
    path = cache.path("test", NAME, 0)
    os.makedirs(os.path.dirname(path))
    rgb = np.full((128, 64, 3), 200, np.uint8)
    Image.fromarray(rgb, "RGB").save(path)
    grey = cache.read("test", NAME, 0)
    assert grey.shape == (256, 128) and abs(int(grey.mean()) - 200) <= 2


def test_write_views_and_missing_and_check(tmp_path):
    cache = StructureMapCache(str(tmp_path))
    maps = torch.rand(8, 1, 256, 128)
    cache.write_views("train", NAME, maps)
    assert cache.complete("train", NAME)
    assert cache.missing("train", [NAME]) == []
    other = "0003_c2s1_000100_01.jpg"
    missing = cache.missing("train", [NAME, other])
    assert len(missing) == 8 and missing[0] == os.path.join("train", "render", other)
    # corrupt one file: check() names it as unreadable
    with open(cache.path("train", NAME, 45), "wb") as handle:
        handle.write(b"not an image")
    miss, bad = cache.check("train", [NAME, other])
    assert len(miss) == 8 and bad == [os.path.join("train", "render_45", NAME)]
    with pytest.raises(OSError, match="unreadable"):
        cache.read("train", NAME, 45)
    with pytest.raises(FileNotFoundError, match="missing"):
        cache.read("train", other, 0)
    with pytest.raises(ValueError, match="4 maps for 8 angles"):
        cache.write_views("train", NAME, maps[:4])


def test_write_is_atomic(tmp_path, monkeypatch):
    cache = StructureMapCache(str(tmp_path))
    cache.write("train", NAME, 0, _map(1))
    before = open(cache.path("train", NAME, 0), "rb").read()

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        cache.write("train", NAME, 0, _map(2))
    monkeypatch.undo()
    assert open(cache.path("train", NAME, 0), "rb").read() == before
    assert sorted(os.listdir(os.path.dirname(cache.path("train", NAME, 0)))) == [NAME]


def test_bad_arrays_are_rejected(tmp_path):
    cache = StructureMapCache(str(tmp_path))
    with pytest.raises(ValueError, match="uint8"):
        cache.write("train", NAME, 0, np.zeros((256, 128), np.float32))
    with pytest.raises(ValueError, match="shape"):
        cache.write("train", NAME, 0, np.zeros((256, 128, 3), np.uint8))
    with pytest.raises(ValueError, match="extension"):
        cache.write("train", "x.gif2", 0, _map())
    assert to_uint8_maps(np.ones((2, 4, 4), np.float32)).max() == 255
