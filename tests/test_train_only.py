"""Training without evaluation data: a train-only folder (bounding_box_train alone) and an
unlabelled image tree each train one baseline epoch; evaluation is skipped and said so."""
import json
import os
import shutil

import pytest

from reid.data import DatasetLayoutError, build_dataset, make_toy_reid_folder
from reid.engine import GCLTrainer
from tests.data.toy_folders import SITES, make_msmt17_part, make_unlabelled_tree
from tests.toy_gcl import toy_cfg

TEST_FOLDERS = ("query", "bounding_box_test")


def _train_only_copy(root: str, dataset_dir: str = "") -> str:
    for name in TEST_FOLDERS:
        shutil.rmtree(os.path.join(root, dataset_dir, name))
    return root


def _one_baseline_epoch(root, out, name, log):
    summary = GCLTrainer(toy_cfg(root, out, "DATASETS.NAME", name, "GCL.STAGES", "('baseline',)",
                                 "MESH.DIR", "", "INPUT.SIZE", "(64, 32)")).run()
    assert [(h["stage"], h["epoch"]) for h in summary["history"]] == [("baseline", 1)]
    assert summary["history"][0]["clusters"] >= 2 and "cluster_contrast" in summary["history"][0]
    assert "final" not in summary and summary["evaluation"].startswith("skipped: dataset")
    assert "evaluation skipped" in summary["table"]
    assert any(m.startswith("evaluation [baseline] skipped: dataset") for m in log)
    assert not os.path.exists(os.path.join(out, "eval"))
    written = json.loads(open(os.path.join(out, "summary.json"), encoding="utf-8").read())
    assert written["evaluation"] == summary["evaluation"]
    assert os.path.isfile(os.path.join(out, "final_encoder.pth"))
    return summary


def test_a_train_only_folder_trains_and_skips_evaluation(tmp_path, reid_log):
    root = make_toy_reid_folder(str(tmp_path / "data"), num_ids=16, num_cameras=3,
                                layout="generic", seed=3)
    _train_only_copy(root)
    dataset = build_dataset("generic", root, verbose=False)
    assert len(dataset.train) == 48 and dataset.query == dataset.gallery == []
    _one_baseline_epoch(root, str(tmp_path / "out"), "generic", reid_log)


def test_an_unlabelled_image_tree_trains_and_skips_evaluation(tmp_path, reid_log):
    root = make_unlabelled_tree(str(tmp_path / "photos"))
    # A file that is no image (DATASETS.SKIP_UNREADABLE, the default, leaves it out).
    with open(os.path.join(root, SITES[0], "broken.jpg"), "wb") as handle:
        handle.write(b"not a jpeg")
    _one_baseline_epoch(root, str(tmp_path / "out"), "folder", reid_log)
    assert any(m.startswith("skipping 1 of") and "broken.jpg" in m for m in reid_log)
    # Unknown identities: the pseudo-labels are made and used, with no ground-truth monitoring.
    clustering = [m for m in reid_log if m.startswith("pseudo-labels:")]
    assert clustering and not any("purity" in m for m in clustering)


def test_train_only_layouts_of_the_named_datasets(tmp_path):
    market = _train_only_copy(make_toy_reid_folder(str(tmp_path / "market"), num_ids=4,
                                                   num_cameras=2), "Market-1501-v15.09.15")
    dataset = build_dataset("market1501", market, verbose=False)
    assert dataset.num_train_imgs == 8 and not dataset.has_test_split
    msmt = make_msmt17_part(str(tmp_path / "msmt"), keep="train", num_ids=4)
    dataset = build_dataset("msmt17", msmt, verbose=False)
    assert dataset.num_train_imgs == 8 and not dataset.has_test_split


@pytest.mark.parametrize("kept, missing", [("query", "bounding_box_test"),
                                           ("bounding_box_test", "query")])
def test_half_a_test_split_is_an_error_naming_the_missing_folder(tmp_path, kept, missing):
    root = make_toy_reid_folder(str(tmp_path / "data"), num_ids=4, num_cameras=2,
                                layout="generic")
    shutil.rmtree(os.path.join(root, missing))
    with pytest.raises(DatasetLayoutError, match=f"missing '{missing}' \\(evaluation needs all "
                                                 f"of 'query', 'bounding_box_test'") as err:
        build_dataset("generic", root, verbose=False)
    assert "MISSING" in next(ln for ln in str(err.value).splitlines() if f"{missing}/" in ln)
    assert "MISSING" not in next(ln for ln in str(err.value).splitlines() if f"{kept}/" in ln)
