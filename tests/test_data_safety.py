"""The synthetic generator deletes only what it wrote: a foreign Market-style folder survives
tools/make_synthetic.py (bad and good arguments) and ensure_synthetic_dataset; an interrupted run
of the generator (its own in-progress marker) is still cleared and rebuilt."""
import importlib.util
import json
import os
import socket

import pytest

from mesh.synthetic import dataset as synthetic
from mesh.synthetic.dataset import (IN_PROGRESS, MARKER, ForeignFolderError, check_output_folder,
                                    is_complete, make_synthetic_dataset)
from reid.views.synthetic_dataset import ensure_synthetic_dataset
from tests.file_digest import folder_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = (64, 32)


def _tool():
    spec = importlib.util.spec_from_file_location(
        "tool_make_synthetic", os.path.join(ROOT, "tools", "make_synthetic.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _market_folder(root: str) -> str:
    """Someone's Market-1501-style dataset: images, structure maps and a readme."""
    for rel in ("bounding_box_train/0001_c1s1_000151_01.jpg", "query/0002_c2s1_000301_00.jpg",
                "bounding_box_test/0002_c1s1_000451_03.jpg",
                "meshes/train/render/0001_c1s1_000151_01.jpg", "readme.txt"):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(b"not yours to delete: " + rel.encode())
    return root


def _cfg(root: str):
    from reid.config import get_cfg_defaults

    cfg = get_cfg_defaults()
    cfg.DATASETS.ROOT = root
    cfg.DATASETS.SYNTHETIC.IDS = 2
    cfg.DATASETS.SYNTHETIC.CAMERAS = 2
    cfg.DATASETS.SYNTHETIC.IMAGES_PER_ID_PER_CAMERA = 1
    cfg.INPUT.SIZE = SMALL
    cfg.MODEL.DEVICE = "cpu"
    return cfg


@pytest.mark.parametrize("bad", [["--ids", "1"], ["--cameras", "12"], ["--batch-size", "0"],
                                 ["--body-resolution", "huge"], ["--renderer", "opengl"]])
def test_make_synthetic_with_bad_arguments_leaves_a_foreign_folder_alone(tmp_path, capsys, bad):
    root = _market_folder(str(tmp_path / "Market-1501"))
    before = folder_digest(root)
    with pytest.raises(SystemExit) as err:
        _tool().main(["--out", root] + bad)
    assert err.value.code == 2
    assert "synthetic dataset:" in capsys.readouterr().err
    assert folder_digest(root) == before


def test_make_synthetic_refuses_a_foreign_folder_with_good_arguments(tmp_path, capsys):
    root = _market_folder(str(tmp_path / "Market-1501"))
    before = folder_digest(root)
    with pytest.raises(SystemExit) as err:
        _tool().main(["--out", root, "--ids", "4", "--cameras", "2", "--height", "64",
                      "--width", "32"])
    assert err.value.code == 2
    message = capsys.readouterr().err
    assert root in message and "bounding_box_train/" in message and "readme.txt" in message
    with pytest.raises(ForeignFolderError, match="refusing to write into"):
        make_synthetic_dataset(root, num_ids=4, num_cameras=2, image_size=SMALL, progress=False)
    assert folder_digest(root) == before


def test_ensure_synthetic_dataset_refuses_a_foreign_folder_named_synthetic(tmp_path):
    root = _market_folder(str(tmp_path / "synthetic"))
    before = folder_digest(root)
    with pytest.raises(ForeignFolderError) as err:
        ensure_synthetic_dataset(_cfg(root))
    assert root in str(err.value) and MARKER in str(err.value)
    assert folder_digest(root) == before


def test_check_output_folder_accepts_new_empty_and_own_folders(tmp_path):
    check_output_folder(str(tmp_path / "new"))
    check_output_folder(str(tmp_path))  # empty
    for marker in (MARKER, IN_PROGRESS):
        own = _market_folder(str(tmp_path / marker))
        open(os.path.join(own, marker), "w").close()
        check_output_folder(own)
    stray = tmp_path / "file"
    stray.write_text("x")
    with pytest.raises(ForeignFolderError, match="is a file"):
        check_output_folder(str(stray))


def test_a_folder_that_another_live_generator_writes_is_refused(tmp_path):
    out = str(tmp_path / "synthetic")
    os.makedirs(os.path.join(out, "bounding_box_train"))
    marker = {"pid": os.getppid(), "host": socket.gethostname(), "started": "just now"}
    with open(os.path.join(out, IN_PROGRESS), "w", encoding="utf-8") as handle:
        json.dump(marker, handle)
    before = folder_digest(out)
    with pytest.raises(ForeignFolderError, match=f"being written .*pid {os.getppid()}"):
        ensure_synthetic_dataset(_cfg(out))
    assert folder_digest(out) == before
    marker["host"] = "elsewhere"  # cannot be checked from here: an interrupted run
    with open(os.path.join(out, IN_PROGRESS), "w", encoding="utf-8") as handle:
        json.dump(marker, handle)
    check_output_folder(out)


def test_an_interrupted_synthetic_folder_is_cleared_and_rebuilt(tmp_path, monkeypatch):
    out = str(tmp_path / "synthetic")
    calls = {"n": 0}
    original = synthetic._encode_jpeg

    def dies_on_the_second_image(image, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the run is stopped half-way
        return original(image, *args)

    monkeypatch.setattr(synthetic, "_encode_jpeg", dies_on_the_second_image)
    cfg = _cfg(out)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_dataset(cfg)
    with open(os.path.join(out, IN_PROGRESS), encoding="utf-8") as handle:
        claimed = json.load(handle)
    assert "bounding_box_train/" in claimed["owns"] and claimed["settings"]["num_ids"] == 2
    assert not os.path.exists(os.path.join(out, MARKER))
    written = [name for folder in ("bounding_box_train", "query", "bounding_box_test")
               if os.path.isdir(os.path.join(out, folder))
               for name in os.listdir(os.path.join(out, folder))]
    assert written  # images (one of them half-written) were there before the stop
    stray = os.path.join(out, "query", "9999_c1s1_000001_01.jpg")
    os.makedirs(os.path.dirname(stray), exist_ok=True)
    open(stray, "wb").close()
    keep = os.path.join(out, "my_notes.txt")  # not the generator's: must survive the rebuild
    with open(keep, "w") as handle:
        handle.write("mine")

    monkeypatch.setattr(synthetic, "_encode_jpeg", original)
    assert ensure_synthetic_dataset(cfg) == out
    assert is_complete(out, {"num_ids": 2, "num_cameras": 2})
    assert not os.path.exists(stray) and not os.path.exists(os.path.join(out, IN_PROGRESS))
    with open(keep) as handle:
        assert handle.read() == "mine"
