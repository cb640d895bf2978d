"""Evaluation reads only query and gallery: tools/test.py on folders without a training folder,
and a clear error naming a missing query or gallery folder."""
import json
import os
import shutil

import pytest

from reid.data import DatasetLayoutError, build_dataset, make_toy_reid_folder
from tests.data.toy_folders import make_msmt17_part
from tests.test_tool_test import SMALL, _tool


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A Market-1501 toy folder with query/ and bounding_box_test/ only."""
    root = make_toy_reid_folder(str(tmp_path_factory.mktemp("market")), num_ids=12,
                                num_cameras=3)
    shutil.rmtree(os.path.join(root, "Market-1501-v15.09.15", "bounding_box_train"))
    return root


def test_tools_test_evaluates_a_folder_with_only_query_and_gallery(market, tmp_path):
    out = tmp_path / "eval"
    results = _tool().main(["--output", str(out), "DATASETS.ROOT", market] + SMALL)
    assert results["num_query"] == 6 and results["num_gallery"] == 30 + 2  # + distractors
    assert results["skipped_queries"] == 0 and 0.0 <= results["mAP"] <= 100.0
    assert json.loads((out / "results.json").read_text())["mAP"] == pytest.approx(results["mAP"])
    with pytest.raises(DatasetLayoutError, match="missing 'bounding_box_train'"):
        build_dataset("market1501", market, verbose=False)   # training still needs it


@pytest.mark.parametrize("missing", ["query", "bounding_box_test"])
def test_a_missing_query_or_gallery_folder_is_named(market, tmp_path, missing):
    root = tmp_path / "data"
    shutil.copytree(market, root)
    shutil.rmtree(root / "Market-1501-v15.09.15" / missing)
    with pytest.raises(DatasetLayoutError, match=f"incomplete, missing '{missing}'") as err:
        _tool().main(["--output", str(tmp_path / "eval"), "DATASETS.ROOT", str(root)] + SMALL)
    assert "MISSING" in next(ln for ln in str(err.value).splitlines() if f"{missing}/" in ln)
    assert not (tmp_path / "eval" / "results.json").exists()


def test_msmt17_evaluation_reads_only_the_test_folder_and_its_lists(tmp_path):
    root = make_msmt17_part(str(tmp_path / "msmt"), keep="test", num_ids=8)
    dataset = build_dataset("msmt17", root, verbose=False, test_only=True)
    assert dataset.train == [] and len(dataset.query) == 4 and len(dataset.gallery) == 12
    results = _tool().main(["--output", str(tmp_path / "eval"), "DATASETS.NAME", "msmt17",
                            "DATASETS.ROOT", root] + SMALL)
    assert results["num_query"] == 4 and results["num_gallery"] == 12
