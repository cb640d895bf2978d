"""prepare_meshes end to end on a toy Market folder: random HMR weights, tiny SMPL file."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mesh.body.smpl_format import write_tiny_smpl_file
from mesh.hmr import HMRRegressor
from mesh.rotation import VIEW_ANGLES
from mesh.structure_cache import StructureMapCache
from reid.config import load_config
from reid.data import build_dataset, make_toy_reid_folder
from reid.views.structure_maps import dataset_splits, prepare_structure_maps

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "prepare_meshes.py")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("prep")
    data = make_toy_reid_folder(str(base / "data"), num_ids=4, num_cameras=2, layout="market",
                                num_distractors=0, num_junk=0)
    write_tiny_smpl_file(str(base / "smpl" / "SMPL_NEUTRAL.pkl"), num_vertices=120)
    torch.manual_seed(0)
    heads = {k: v for k, v in HMRRegressor().state_dict().items()
             if not k.startswith("backbone.")}       # a small checkpoint: the heads only
    torch.save({"format": "gcl_reid.hmr", "state_dict": heads}, base / "hmr.pt")
    config = base / "toy.yaml"
    config.write_text(f"DATASETS:\n  NAME: market1501\n  ROOT: {data}\n"
                      f"MESH:\n  DIR: {base / 'meshes'}\n  RENDERER: torch\n  BATCH_SIZE: 8\n"
                      f"MODEL:\n  DEVICE: cpu\n")
    return base, data, config


def _prepare(config, base, opts=(), **kwargs):
    cfg = load_config(str(config), list(opts))
    return prepare_structure_maps(cfg, checkpoint=str(base / "hmr.pt"),
                                  smpl_dir=str(base / "smpl"), progress=False, **kwargs)


def _run(config, *extra, base=None):
    args = [sys.executable, TOOL, "--config", str(config), "--no-progress", *extra]
    if base is not None:
        args += ["--checkpoint", str(base / "hmr.pt"), "--smpl-dir", str(base / "smpl")]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get(
                              "OMP_NUM_THREADS", "2")})


class _MeanRegressor(torch.nn.Module):
    """Stands in for HMR in the fast test: the mean parameters plus a small per-image pose."""

    def forward(self, images):
        batch = images.shape[0]
        pose = torch.zeros(batch, 72)
        pose[:, 0] = 3.1416                                # upright in HMR's y-down image space
        pose[:, 3:] = 0.1 * images.mean(dim=(1, 2, 3))[:, None]
        camera = torch.tensor([[0.9, 0.0, 0.0]]).expand(batch, 3)
        return {"camera": camera, "pose": pose, "betas": torch.zeros(batch, 10)}


def test_pipeline_resume_and_audit_fast(setup, tmp_path):
    base, data, _ = setup
    from mesh.body import build_body_model
    from mesh.prepare import StructureMapPreparer

    splits = dataset_splits(build_dataset("market1501", data))
    body = build_body_model("smpl", smpl_dir=str(base / "smpl"))
    cache = StructureMapCache(str(tmp_path / "meshes"))
    preparer = StructureMapPreparer(_MeanRegressor(), body, cache, renderer="torch",
                                    batch_size=5)
    assert preparer.run("train", splits["train"], progress=False) == {
        "done": len(splits["train"]), "skipped": 0}
    assert preparer.run("train", splits["train"], progress=False)["skipped"] == len(
        splits["train"])
    missing, unreadable = cache.check_splits(splits)
    assert len(missing) == len(splits["test"]) * len(VIEW_ANGLES) and unreadable == []
    front = cache.read("train", splits["train"][0], 0).astype(int)
    side = cache.read("train", splits["train"][0], 90).astype(int)
    rows = np.nonzero((front < 250).any(1))[0]
    assert rows.size and (front < 250).sum() != (side < 250).sum()  # a different view
    assert rows.min() < 128 < rows.max()                         # the body spans the middle


@pytest.mark.slow
def test_end_to_end_resume_and_check(setup, caplog):
    base, data, config = setup
    dataset = build_dataset("market1501", data)
    names_train = [os.path.basename(p) for p, *_ in dataset.train]
    names_test = sorted({os.path.basename(p) for p, *_ in dataset.query + dataset.gallery})

    # before: --check reports everything missing, by name, and fails
    before = _run(config, "--check")
    assert before.returncode == 1
    assert "missing structure maps" in before.stdout + before.stderr
    assert names_train[0] in before.stdout + before.stderr

    caplog.set_level("INFO", logger="mesh")
    assert _prepare(config, base) == 0
    log = caplog.text
    assert "missing" in log and "backbone.conv1.weight" in log    # the key report names keys
    cache = StructureMapCache(str(base / "meshes"))
    for split, names in (("train", names_train), ("test", names_test)):
        assert cache.missing(split, names) == []
    grey = cache.read("train", names_train[0], 0)
    assert grey.shape == (256, 128) and grey.dtype == np.uint8
    assert grey.max() >= 250 and grey.min() < 200                # white background, a body

    # resume: a deleted map is re-rendered, the rest are skipped
    os.remove(cache.path("test", names_test[0], 90))
    stamp = os.path.getmtime(cache.path("train", names_train[0], 0))
    caplog.clear()
    assert _prepare(config, base) == 0
    assert cache.exists("test", names_test[0], 90)
    assert os.path.getmtime(cache.path("train", names_train[0], 0)) == stamp
    assert "skipped" in caplog.text

    # --check: a corrupt file is named; exit code non-zero
    with open(cache.path("train", names_train[1], 45), "wb") as handle:
        handle.write(b"broken")
    caplog.clear()
    assert _prepare(config, base, check_only=True) == 1
    assert os.path.join("train", "render_45", names_train[1]) in caplog.text
    os.remove(cache.path("train", names_train[1], 45))
    assert _prepare(config, base, splits=["train"]) == 0
    assert _run(config, "--check").returncode == 0


def test_the_audit_covers_the_configured_dataset_and_angles(setup, tmp_path, caplog):
    """The config bridge reads the dataset with the config-aware builder (extra training
    folders included) and audits the maps at MESH.ANGLES."""
    base, data, config = setup
    dataset = build_dataset("market1501", data)
    extra = tmp_path / "extra"
    extra.mkdir()
    for k in range(3):
        Image.new("RGB", (32, 64), (40 * k, 90, 120)).save(extra / f"0901_c1s1_00010{k}_00.jpg")
    caplog.set_level("INFO", logger="mesh")
    opts = ["MESH.DIR", str(tmp_path / "meshes"), "MESH.ANGLES", "(90,)",
            "DATASETS.EXTRA_TRAIN_DIRS", f"('{extra}',)"]
    assert _prepare(config, base, opts, splits=["train"], check_only=True) == 1
    expected = 2 * (len(dataset.train) + 3)
    assert f"{expected} missing structure maps" in caplog.text
    assert "render_90" in caplog.text and "render_45" not in caplog.text


def test_missing_inputs_are_named(setup):
    base, _, config = setup
    cfg = load_config(str(config))
    with pytest.raises(FileNotFoundError, match="HMR checkpoint not found"):
        prepare_structure_maps(cfg, checkpoint=str(base / "nope.pt"), smpl_dir=str(base / "smpl"))
    empty = base / "empty"
    empty.mkdir(exist_ok=True)
    with pytest.raises(FileNotFoundError, match="smpl.is.tue.mpg.de"):
        prepare_structure_maps(cfg, checkpoint=str(base / "hmr.pt"), smpl_dir=str(empty))
