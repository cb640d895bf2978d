"""tools/test.py end to end on a generated Market-style folder with a random small encoder."""
import importlib.util
import json
import os

import pytest
import yaml

from reid.data import make_toy_reid_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["MODEL.BACKBONE", "resnet18", "INPUT.SIZE", "(64, 32)", "DATALOADER.NUM_WORKERS", "0",
         "TEST.BATCH_SIZE", "16", "MODEL.DEVICE", "cpu"]


def _tool():
    spec = importlib.util.spec_from_file_location("tool_test", os.path.join(ROOT, "tools",
                                                                             "test.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_reid_folder(str(tmp_path_factory.mktemp("toy")), num_ids=12, num_cameras=3)


def test_results_json_and_ranked_lists(toy_root, tmp_path):
    out = tmp_path / "eval"
    _tool().main(["--config", os.path.join(ROOT, "configs", "market.yaml"), "--output", str(out),
                  "--visualize", "3", "DATASETS.ROOT", toy_root] + SMALL)
    results = json.loads((out / "results.json").read_text())
    for key in ("mAP", "rank1", "rank5", "rank10", "rank20", "mINP"):
        assert 0.0 <= results[key] <= 100.0, key
    assert results["rank1"] <= results["rank5"] <= results["rank10"] <= results["rank20"]
    assert results["dataset"] == "market1501"
    assert results["num_query"] == 6 and results["num_gallery"] > 0
    assert results["skipped_queries"] == 0 and results["rerank"] is False
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["MODEL"]["BACKBONE"] == "resnet18" and saved["DATASETS"]["ROOT"] == toy_root
    pictures = sorted(os.listdir(out / "ranked_lists"))
    assert len(pictures) == 3 and all(p.endswith(".png") for p in pictures)


def test_rerank_flag_and_default_output_dir(toy_root, tmp_path):
    results = _tool().main(["--rerank", "DATASETS.ROOT", toy_root, "OUTPUT_DIR",
                            str(tmp_path / "run"), "TEST.FLIP", "False"] + SMALL)
    assert results["rerank"] is True and results["flip"] is False
    written = json.loads((tmp_path / "run" / "test" / "results.json").read_text())
    assert written["mAP"] == pytest.approx(results["mAP"])
    assert 0.0 <= written["mAP"] <= 100.0


def test_unknown_override_key_is_an_error(toy_root, capsys):
    with pytest.raises(SystemExit):
        _tool().main(["DATASETS.ROOT", toy_root, "TEST.METRICS", "cosine"])
    assert "TEST.METRIC" in capsys.readouterr().err
