"""Image reading, ImageDataset skipping/failing on unreadable files, loader builders, toy data."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from reid.config import get_cfg_defaults
from reid.data import (ImageDataset, ImageReadError, build_dataset, build_dataset_from_cfg,
                       build_test_loader, build_test_loader_from_cfg, build_train_loader,
                       build_train_loader_from_cfg, build_test_transform, make_toy_reid_folder,
                       read_image)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = make_toy_reid_folder(str(tmp_path_factory.mktemp("toy")), layout="market")
    return build_dataset("market1501", root, verbose=False)


def _corrupt(path):
    with open(path, "wb") as handle:
        handle.write(b"not a jpeg at all")


def test_read_image(tmp_path, toy):
    img = read_image(toy.train[0][0])
    assert img.mode == "RGB" and img.size == (32, 64)
    grey = tmp_path / "grey.png"
    Image.new("L", (4, 4), 7).save(grey)
    assert read_image(str(grey)).mode == "RGB"
    bad = tmp_path / "bad.jpg"
    _corrupt(bad)
    with pytest.raises(ImageReadError, match="bad.jpg"):
        read_image(str(bad))
    with pytest.raises(ImageReadError, match="missing.jpg.*not found"):
        read_image(str(tmp_path / "missing.jpg"))


def test_image_dataset_item(toy):
    ds = ImageDataset(toy.query, build_test_transform((32, 16)))
    item = ds[2]
    assert set(item) == {"img", "pid", "camid", "index", "path"}
    assert item["img"].shape == (3, 32, 16) and item["index"] == 2
    assert (item["path"], item["pid"], item["camid"]) == toy.query[2]


def _items_with_unreadable(tmp_path, toy):
    items = list(toy.train[:6])  # identity 0: 6 images
    bad = tmp_path / "0001_c1s1_999999_01.jpg"
    _corrupt(bad)
    items[1] = (str(bad), items[1][1], items[1][2])
    return items, str(bad)


def test_unreadable_fails_naming_file_in_evaluation(tmp_path, toy):
    items, bad = _items_with_unreadable(tmp_path, toy)
    ds = ImageDataset(items, build_test_transform((32, 16)))
    with pytest.raises(ImageReadError, match=os.path.basename(bad)):
        ds[1]
    loader = build_test_loader(items, size=(32, 16), batch_size=4, num_workers=0)
    with pytest.raises(ImageReadError, match=os.path.basename(bad)):
        list(loader)
    assert ds.check_readable() == [bad]


def test_unreadable_skipped_and_counted_in_training(tmp_path, toy):
    items, bad = _items_with_unreadable(tmp_path, toy)
    ds = ImageDataset(items, build_test_transform((32, 16)), skip_unreadable=True)
    item = ds[1]
    assert item["path"] != bad and item["pid"] == items[1][1]  # replaced by the same identity
    assert item["index"] != 1 and ds.num_skipped == 1
    ds[0]
    assert ds.num_skipped == 1


def test_all_unreadable_gives_up(tmp_path):
    bad = tmp_path / "x.jpg"
    _corrupt(bad)
    ds = ImageDataset([(str(bad), 0, 0)] * 3, skip_unreadable=True, max_replacements=5)
    with pytest.raises(ImageReadError, match="replacement"):
        ds[0]
    assert ds.num_skipped == 6


def test_skip_count_shared_with_workers(tmp_path, toy):
    items, bad = _items_with_unreadable(tmp_path, toy)
    loader = build_train_loader(items, batch_size=4, num_instances=0, size=(32, 16),
                                num_workers=1, num_iters=3, seed=0, skip_unreadable=True)
    batches = list(loader)
    assert len(batches) == 3 and all(b["img"].shape == (4, 3, 32, 16) for b in batches)
    assert bad not in [p for b in batches for p in b["path"]]
    assert loader.dataset.num_skipped >= 1


def test_train_loader_identity_batches(toy):
    loader = build_train_loader(toy.train, batch_size=8, num_instances=4, size=(32, 16),
                                num_workers=0, num_iters=4, seed=1)
    assert len(loader) == 4
    batches = list(loader)
    for batch in batches:
        assert batch["img"].shape == (8, 3, 32, 16)
        assert batch["img"].min() >= -1 and batch["img"].max() <= 1
        pids = batch["pid"].view(2, 4)
        assert (pids == pids[:, :1]).all() and pids[0, 0] != pids[1, 0]
    again = list(build_train_loader(toy.train, batch_size=8, num_instances=4, size=(32, 16),
                                    num_workers=0, num_iters=4, seed=1))
    assert all(torch.equal(a["index"], b["index"]) for a, b in zip(batches, again))


def test_train_loader_with_pseudo_labels(toy):
    labels = np.arange(len(toy.train)) // 6
    labels[:6] = -1  # outliers never sampled
    loader = build_train_loader(toy.train, batch_size=8, num_instances=4, size=(32, 16),
                                num_workers=0, num_iters=3, labels=labels)
    for batch in loader:
        assert (batch["index"] >= 6).all()


def test_test_loader_keeps_order(toy):
    loader = build_test_loader(toy.gallery, size=(32, 16), batch_size=5, num_workers=0)
    batches = list(loader)
    assert torch.cat([b["index"] for b in batches]).tolist() == list(range(len(toy.gallery)))
    assert [p for b in batches for p in b["path"]] == [p for p, _, _ in toy.gallery]


def test_from_cfg_wrappers(tmp_path):
    root = make_toy_reid_folder(str(tmp_path), layout="msmt17_v1")
    cfg = get_cfg_defaults()
    cfg.DATASETS.NAME, cfg.DATASETS.ROOT = "msmt17", root
    cfg.DATASETS.MSMT_MERGE_VAL = False
    cfg.INPUT.SIZE = (32, 16)
    cfg.DATALOADER.NUM_WORKERS = 0
    ds = build_dataset_from_cfg(cfg, verbose=False)
    assert len(ds.train) == 30  # 6 ids x 3 cameras x 2 images minus 6 val images
    train = build_train_loader_from_cfg(cfg, ds.train, batch_size=8, num_iters=2)
    batch = next(iter(train))
    assert batch["img"].shape == (8, 3, 32, 16)
    test = build_test_loader_from_cfg(cfg, ds.query, batch_size=4)
    assert next(iter(test))["img"].shape == (4, 3, 32, 16)


def test_toy_colours_identify_people(toy):
    """Mean colours alone retrieve the right identity well above chance."""
    def features(items):
        return np.stack([np.asarray(read_image(p), dtype=np.float32).reshape(-1, 3).mean(0)
                         for p, _, _ in items]), np.array([pid for _, pid, _ in items])

    q, q_pids = features(toy.query)
    g, g_pids = features([it for it in toy.gallery if it[1] > 0])
    top1 = g_pids[np.argmin(((q[:, None] - g[None]) ** 2).sum(-1), axis=1)]
    assert (top1 == q_pids).mean() > 0.5


def test_toy_layout_errors(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        make_toy_reid_folder(str(tmp_path), layout="cuhk")
    with pytest.raises(ValueError, match="num_cameras >= 2"):
        make_toy_reid_folder(str(tmp_path), num_cameras=1)
