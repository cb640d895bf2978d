"""Dataset readers on generated folders: naming rules, junk/distractors, relabelling, errors."""
import logging
import os
import shutil

import pytest
from PIL import Image

from reid.data import (DatasetFormatError, DatasetLayoutError, ReIDDataset, available_datasets,
                       build_dataset, make_toy_reid_folder, register_dataset)


def _touch_image(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 16), (10, 20, 30)).save(path)


def _make_market_like(base, train, query, gallery):
    for sub, names in (("bounding_box_train", train), ("query", query),
                       ("bounding_box_test", gallery)):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
        for name in names:
            _touch_image(os.path.join(base, sub, name))


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    return make_toy_reid_folder(str(tmp_path_factory.mktemp("market")), layout="market")


def test_market_toy_counts_and_relabelling(market_root):
    ds = build_dataset("market1501", market_root, verbose=False)
    assert ds.name == "market1501"
    assert ds.root.endswith("Market-1501-v15.09.15")
    # 6 train ids x 3 cameras x 2 images; pids relabelled to 0..5, raw pids 1..6 kept.
    assert len(ds.train) == 36 and ds.num_train_pids == 6 and ds.num_train_cams == 3
    assert sorted({pid for _, pid, _ in ds.train}) == list(range(6))
    assert sorted(set(ds.train_original_pids)) == [1, 2, 3, 4, 5, 6]
    assert ds.pid_map == {raw: raw - 1 for raw in range(1, 7)}
    # Query keeps raw pids; gallery keeps 2 distractors (pid 0), junk (-1) dropped everywhere.
    assert sorted(pid for _, pid, _ in ds.query) == [7, 8, 9, 10, 11, 12]
    gallery_pids = [pid for _, pid, _ in ds.gallery]
    assert gallery_pids.count(0) == 2 and -1 not in gallery_pids
    assert len(ds.gallery) == 6 * 3 * 2 - 6 + 2
    assert all(0 <= cam < 3 for _, _, cam in ds.train + ds.query + ds.gallery)
    assert all(os.path.isfile(p) for p, _, _ in ds.train + ds.query + ds.gallery)


def test_market_naming_rule_and_camid(tmp_path):
    base = tmp_path / "Market-1501"
    _make_market_like(str(base), ["0002_c1s1_000451_03.jpg", "0002_c6s2_000001_01.jpg",
                                  "-1_c2s1_000001_01.jpg", "0000_c3s1_000001_01.jpg"],
                      ["0005_c2s1_000001_01.jpg", "0000_c2s1_000002_01.jpg"],
                      ["0005_c4s1_000001_01.jpg", "0000_c5s1_000001_01.jpg",
                       "-1_c1s1_000001_01.jpg"])
    for name in ("market", "Market-1501", "MARKET1501"):
        ds = build_dataset(name, str(tmp_path), verbose=False)
        assert [(pid, cam) for _, pid, cam in ds.train] == [(0, 0), (0, 5)]
        assert ds.train_original_pids == [2, 2]
        assert [(pid, cam) for _, pid, cam in ds.query] == [(5, 1)]  # distractor not in query
        assert sorted((pid, cam) for _, pid, cam in ds.gallery) == [(0, 4), (5, 3)]
    # root pointing at the dataset folder itself works too
    assert len(build_dataset("market1501", str(base), verbose=False).train) == 2


def test_market_bad_file_name_and_camera(tmp_path):
    base = tmp_path / "Market-1501-v15.09.15"
    _make_market_like(str(base), ["0002_c1s1_000451_03.jpg", "person7.jpg"],
                      ["0005_c2s1_000001_01.jpg"], ["0005_c4s1_000001_01.jpg"])
    with pytest.raises(DatasetFormatError, match="person7.jpg"):
        build_dataset("market1501", str(tmp_path), verbose=False)
    os.remove(base / "bounding_box_train" / "person7.jpg")
    _touch_image(str(base / "bounding_box_train" / "0003_c7s1_000001_01.jpg"))
    with pytest.raises(DatasetFormatError, match="camera 7"):
        build_dataset("market1501", str(tmp_path), verbose=False)


def test_empty_subset_is_an_error(tmp_path):
    base = tmp_path / "Market-1501-v15.09.15"
    _make_market_like(str(base), ["0002_c1s1_000451_03.jpg"], ["-1_c2s1_000001_01.jpg"],
                      ["0005_c4s1_000001_01.jpg"])
    with pytest.raises(DatasetFormatError, match="No usable images.*query"):
        build_dataset("market1501", str(tmp_path), verbose=False)


def test_duke_naming(tmp_path):
    root = make_toy_reid_folder(str(tmp_path), layout="duke", num_cameras=8, num_ids=4,
                                images_per_id_per_camera=1)
    ds = build_dataset("duke", root, verbose=False)
    assert ds.name == "dukemtmc" and ds.num_train_cams == 8
    names = [os.path.basename(p) for p, _, _ in ds.train]
    assert names[0].startswith("0001_c1_f") and len(names) == 16
    assert {cam for _, _, cam in ds.train} == set(range(8))


@pytest.mark.parametrize("name", ["generic", "synthetic"])
def test_generic_and_synthetic_directly_under_root(tmp_path, name):
    root = make_toy_reid_folder(str(tmp_path), layout="generic", num_cameras=12, num_ids=4,
                                images_per_id_per_camera=1)
    ds = build_dataset(name, root, verbose=False)
    assert ds.root == root and ds.num_train_cams == 12  # camera numbers above 9 are fine
    assert -1 not in [pid for _, pid, _ in ds.gallery]


def test_synthetic_in_subfolder(tmp_path):
    make_toy_reid_folder(str(tmp_path / "synthetic"), layout="generic")
    ds = build_dataset("synthetic", str(tmp_path), verbose=False)
    assert ds.root == str(tmp_path / "synthetic")


def test_generic_camera_zero_rejected(tmp_path):
    _make_market_like(str(tmp_path), ["0001_c0_1.jpg"], ["0002_c1_1.jpg"], ["0002_c2_1.jpg"])
    with pytest.raises(DatasetFormatError, match="0001_c0_1.jpg.*1-based"):
        build_dataset("generic", str(tmp_path), verbose=False)


@pytest.fixture(scope="module")
def msmt_root(tmp_path_factory):
    return make_toy_reid_folder(str(tmp_path_factory.mktemp("msmt")), layout="msmt17_v1",
                                num_cameras=4)


def test_msmt17_v1_merge_val(msmt_root):
    merged = build_dataset("msmt17", msmt_root, verbose=False)
    plain = build_dataset("msmt", msmt_root, merge_val=False, verbose=False)
    # toy: 6 train ids x 4 cameras x 2 images, one per id listed in list_val.txt
    assert len(merged.train) == 48 and len(plain.train) == 42
    assert merged.num_train_pids == plain.num_train_pids == 6
    assert len(merged.query) == 6 and len(merged.gallery) == 6 * 4 * 2 - 6
    # camid is the third underscore field of the file name, 1-based in the name
    for path, _, cam in merged.train + merged.query:
        assert int(os.path.basename(path).split("_")[2]) == cam + 1
    assert merged.root.endswith("MSMT17_V1")


def test_msmt17_v2_layout(tmp_path, msmt_root):
    v2 = tmp_path / "MSMT17_V2"
    shutil.copytree(os.path.join(msmt_root, "MSMT17_V1"), v2)
    os.rename(v2 / "train", v2 / "mask_train_v2")
    os.rename(v2 / "test", v2 / "mask_test_v2")
    ds = build_dataset("msmt17", str(tmp_path), verbose=False)
    assert ds.root == str(v2) and len(ds.train) == 48
    assert all("mask_train_v2" in p for p, _, _ in ds.train)
    assert all("mask_test_v2" in p for p, _, _ in ds.query + ds.gallery)
    with pytest.raises(DatasetLayoutError, match="MSMT17_V1"):
        build_dataset("msmt17", str(tmp_path), version="v1", verbose=False)


def test_msmt17_list_errors(tmp_path, msmt_root):
    root = tmp_path / "data"
    shutil.copytree(msmt_root, root)
    base = root / "MSMT17_V1"
    query_list = base / "list_query.txt"
    good = query_list.read_text()
    query_list.write_text(good + "0007/0007_000_xx_0303morning_0001_0.jpg 3\n")
    with pytest.raises(DatasetFormatError, match=r"list_query.txt:7: .*camera"):
        build_dataset("msmt17", str(root), verbose=False)
    query_list.write_text(good + "just_a_path.jpg\n")
    with pytest.raises(DatasetFormatError, match=r"list_query.txt:7: expected"):
        build_dataset("msmt17", str(root), verbose=False)
    query_list.write_text(good + "0007/0007_000_02_0303morning_9999_0.jpg 3\n")
    with pytest.raises(DatasetLayoutError, match="do not exist.*9999"):
        build_dataset("msmt17", str(root), verbose=False)
    os.remove(query_list)
    with pytest.raises(DatasetLayoutError, match="list_query.txt.*MISSING"):
        build_dataset("msmt17", str(root), verbose=False)


def test_missing_root_shows_layout(tmp_path):
    with pytest.raises(DatasetLayoutError) as err:
        build_dataset("market1501", str(tmp_path / "nowhere"), verbose=False)
    msg = str(err.value)
    assert "does not exist" in msg and "└── Market-1501-v15.09.15/" in msg
    assert "bounding_box_train/" in msg and "bounding_box_test/" in msg
    with pytest.raises(DatasetLayoutError, match="no folder 'DukeMTMC-reID'"):
        build_dataset("dukemtmc", str(tmp_path), verbose=False)


def test_half_present_root_names_missing_subfolder(tmp_path, market_root):
    root = tmp_path / "data"
    shutil.copytree(market_root, root)
    shutil.rmtree(root / "Market-1501-v15.09.15" / "bounding_box_test")
    with pytest.raises(DatasetLayoutError) as err:
        build_dataset("market1501", str(root), verbose=False)
    msg = str(err.value)
    assert "missing 'bounding_box_test'" in msg
    line = [ln for ln in msg.splitlines() if "bounding_box_test/" in ln][0]
    assert "MISSING" in line
    assert "MISSING" not in [ln for ln in msg.splitlines() if "query/" in ln][0]


def test_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(ValueError) as err:
        build_dataset("cuhk03", str(tmp_path))
    for name in ("market1501", "dukemtmc", "msmt17", "generic", "synthetic"):
        assert name in str(err.value)


def test_unknown_option_is_reported(market_root):
    with pytest.raises(TypeError, match="merge_val"):
        build_dataset("market1501", market_root, merge_val=True)


def test_register_custom_reader(tmp_path):
    @register_dataset("unit-test-cams")
    def read(root, flip=False):
        items = [("a.jpg", 5, 0), ("b.jpg", 9, 1)]
        return ReIDDataset("unit-test-cams", root, items, items[:1], items)

    assert "unit-test-cams" in available_datasets()
    ds = build_dataset("Unit-Test-Cams", str(tmp_path), flip=True, verbose=False)
    assert [pid for _, pid, _ in ds.train] == [0, 1] and ds.query[0][1] == 5
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("other", "unit-test-cams")(read)


def test_summary_table_and_logging(market_root, caplog):
    logging.getLogger("reid").propagate = True
    with caplog.at_level(logging.INFO):
        ds = build_dataset("market1501", market_root)
    table = ds.summary()
    lines = table.splitlines()
    assert [c.strip() for c in lines[1].split("|")] == ["subset", "ids", "images", "cameras"]
    assert [c.strip() for c in lines[3].split("|")] == ["train", "6", "36", "3"]
    assert [c.strip() for c in lines[5].split("|")] == ["gallery", "7", "32", "3"]
    assert "subset" in caplog.text
