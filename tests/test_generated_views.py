"""tools/generate_views.py and DATASETS.EXTRA_TRAIN_DIRS on a tiny toy dataset."""
import json
import os

import pytest
import torch
from PIL import Image

from reid.config import load_config
from reid.data import build_dataset, build_dataset_from_cfg, make_toy_reid_folder
from reid.data.datasets.base import DatasetFormatError, DatasetLayoutError
from reid.data.generated_folders import (append_extra_train_dirs, generated_view_name,
                                         read_generated_folder)
from tests.test_video_view import _tiny_checkpoint

GEN_CONFIG = "configs/generators/imaginator_reid_synthetic.yaml"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("toy"))
    make_toy_reid_folder(root, num_ids=4, num_cameras=2, images_per_id_per_camera=1,
                         size=(64, 32), layout="market", seed=1)
    folder = tmp_path_factory.mktemp("gen")
    weights = _tiny_checkpoint(str(folder))
    config = folder / "tiny.yaml"  # the narrow widths of the tiny checkpoint
    config.write_text(f"_BASE_: {os.path.abspath(GEN_CONFIG)}\nMODEL:\n  BASE_CHANNELS: 2\n"
                      "  Z_DIM: 8\n  LATENT_DIM: 4\n")
    return root, weights, str(config)


def _run_tool(root, weights, config, out, *extra):
    from tools.generate_views import main

    main(["--dataset-root", root, "--dataset-name", "market1501", "--generator-config",
          config, "--weights", weights, "--out", out, "--views", "2", "--batch-size", "3",
          "--device", "cpu", "--no-progress", *extra])


def test_generate_views_writes_named_readable_files_and_resumes(toy, tmp_path):
    root, weights, config = toy
    dataset = build_dataset("market1501", root, verbose=False)
    out = str(tmp_path / "views")
    _run_tool(root, weights, config, out)
    folder = os.path.join(out, "bounding_box_train")
    files = sorted(os.listdir(folder))
    assert len(files) == 2 * len(dataset.train)
    expected = sorted(generated_view_name(pid, cam, i, k)
                      for i, ((_, _, cam), pid) in enumerate(zip(dataset.train,
                                                                 dataset.train_original_pids))
                      for k in range(2))
    assert files == expected
    with Image.open(os.path.join(folder, files[0])) as image:
        assert image.size == (64, 128) and image.mode == "RGB"
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert manifest["num_files"] == len(files) and manifest["written"] == len(files)
    assert manifest["files"][0]["source"] == dataset.train[0][0]
    first = open(os.path.join(folder, files[-1]), "rb").read()
    os.remove(os.path.join(folder, files[-1]))  # an interrupted run: only the last batch redone
    _run_tool(root, weights, config, out)
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert 0 < manifest["written"] < len(files) and manifest["skipped"] > 0
    assert open(os.path.join(folder, files[-1]), "rb").read() == first  # same seed, same frame


def test_extra_train_dirs_are_appended_with_source_pids(toy, tmp_path):
    root, weights, config = toy
    out = str(tmp_path / "views")
    _run_tool(root, weights, config, out)
    cfg = load_config(None, ["DATASETS.NAME", "market1501", "DATASETS.ROOT", root,
                             "DATASETS.EXTRA_TRAIN_DIRS", f"('{out}',)"])
    plain = build_dataset("market1501", root, verbose=False)
    merged = build_dataset_from_cfg(cfg, verbose=False)
    assert len(merged.train) == 3 * len(plain.train)
    assert merged.num_extra_train == 2 * len(plain.train)
    assert merged.query == plain.query and merged.gallery == plain.gallery
    assert set(merged.train_original_pids) == set(plain.train_original_pids)
    extra = merged.train[len(plain.train):]
    assert all(path.startswith(out) for path, _, _ in extra)
    # a generated view keeps its source's identity and camera
    assert extra[0][1:] == merged.train[0][1:]


def test_extra_train_dir_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="EXTRA_TRAIN_DIRS.*not a folder"):
        read_generated_folder(str(tmp_path / "missing"))
    empty = tmp_path / "empty" / "bounding_box_train"
    empty.mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match="no usable images"):
        read_generated_folder(str(tmp_path / "empty"))
    (empty / "not_a_market_name.jpg").write_bytes(b"")
    with pytest.raises(DatasetFormatError, match="naming rule"):
        read_generated_folder(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="pid >= 1"):
        generated_view_name(0, 0, 1, 0)
    plain = object()
    assert append_extra_train_dirs(plain, []) is plain


def test_generated_views_use_their_source_images_structure_maps(toy, tmp_path):
    """The silhouette-masked clustering and the generative stages read maps for every training
    image: a generated frame reads its source's (through the manifest), a folder without a
    manifest has none, and a broken manifest is named."""
    import numpy as np

    from reid.views.structure_maps import (MissingStructureMapsError, check_structure_maps,
                                           structure_cache_for)

    root, weights, config = toy
    out = str(tmp_path / "views")
    _run_tool(root, weights, config, out)
    mesh_dir = str(tmp_path / "meshes")
    cfg = load_config(None, ["DATASETS.NAME", "market1501", "DATASETS.ROOT", root,
                             "MESH.DIR", mesh_dir, "DATASETS.EXTRA_TRAIN_DIRS", f"('{out}',)"])
    merged = build_dataset_from_cfg(cfg, verbose=False)
    cache = structure_cache_for(cfg, merged)
    rng = np.random.default_rng(0)
    plain = merged.train[:len(merged.train) - merged.num_extra_train]
    for path, _, _ in plain:
        for angle in cache.angles:
            cache.write("train", path, angle, rng.integers(0, 256, cache.size, dtype=np.uint8))
    check_structure_maps(cache, merged.train)  # every generated frame finds its maps
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    entry = manifest["files"][-1]
    generated = os.path.join(out, entry["file"])
    assert generated in {path for path, _, _ in merged.train}
    for angle in (0, cache.angles[-1]):
        assert np.array_equal(cache.read("train", generated, angle),
                              cache.read("train", entry["source"], angle))

    os.rename(os.path.join(out, "manifest.json"), os.path.join(out, "kept.json"))
    bare = build_dataset_from_cfg(cfg, verbose=False)
    assert bare.structure_map_sources == {}
    # (a toy image name can equal a generated one: that frame finds the toy image's maps)
    real_names = {os.path.basename(path) for path, _, _ in plain}
    orphans = [e for e in manifest["files"] if os.path.basename(e["file"]) not in real_names]
    assert orphans
    with pytest.raises(MissingStructureMapsError, match=f"^{len(orphans) * len(cache.angles)} "
                                                        "structure maps are missing"):
        check_structure_maps(structure_cache_for(cfg, bare), bare.train)
    with open(os.path.join(out, "manifest.json"), "w") as handle:
        json.dump({"files": [{"file": "x.jpg"}]}, handle)
    with pytest.raises(DatasetFormatError, match="manifest.json is not a manifest.*'source'"):
        build_dataset_from_cfg(cfg, verbose=False)
