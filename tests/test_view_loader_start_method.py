"""The view loader's workers can be started by fork, forkserver or spawn: the same samples, and
the skip counter of unreadable images still shared with the workers."""
import os

import pytest
import torch

from mesh.structure_cache import StructureMapCache
from reid.data import build_dataset
from reid.views.mesh_data import build_view_loader
from tests.toy_gcl import make_toy_gcl_root


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = make_toy_gcl_root(str(tmp_path_factory.mktemp("views")), num_ids=4)
    items = build_dataset("generic", root, verbose=False).train
    return items, StructureMapCache(os.path.join(root, "meshes"))


def _loader(toy, start_method, items=None, **kwargs):
    all_items, cache = toy
    return build_view_loader(items or all_items, cache, batch_size=4, size=(64, 32),
                             num_workers=kwargs.pop("num_workers", 1), seed=3,
                             start_method=start_method, **kwargs)


def _two_batches(loader):
    it = iter(loader)
    return [next(it) for _ in range(2)]


def test_forkserver_workers_give_the_samples_of_forked_ones(toy):
    want = _two_batches(_loader(toy, "fork"))
    loader = _loader(toy, "forkserver")
    assert loader.multiprocessing_context.get_start_method() == "forkserver"
    got = _two_batches(loader)
    for a, b in zip(want, got):
        for key in ("img", "s_ori", "s_new", "index"):
            assert torch.equal(a[key], b[key]), key
        assert a["path"] == b["path"]
        assert a["angle"].tolist() == b["angle"].tolist()


def test_unreadable_images_are_counted_across_forkserver_workers(toy, tmp_path):
    items, _ = toy
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    broken = [(str(bad), items[0][1], items[0][2])] + list(items)
    loader = _loader(toy, "forkserver", items=broken, skip_unreadable=True,
                     sampler=list(range(4)))
    batch = next(iter(loader))
    assert str(bad) not in batch["path"]
    assert loader.dataset.num_skipped == 1


def test_an_unknown_start_method_is_refused_naming_it(toy):
    with pytest.raises(ValueError, match="'threads'.*expected one of"):
        _loader(toy, "threads")


def test_without_workers_the_start_method_is_not_used(toy):
    loader = _loader(toy, "spawn", num_workers=0)
    assert loader.multiprocessing_context is None
    assert next(iter(loader))["img"].shape == (4, 3, 64, 32)


def test_the_config_key_starts_the_generative_stages_workers(toy, tmp_path, monkeypatch):
    """DATALOADER.START_METHOD reaches the view loaders of gan_warmup and joint, and a trainer
    with forkserver workers runs both stages."""
    from reid.engine import GCLTrainer
    from reid.engine.stages import generative
    from tests.toy_gcl import make_toy_gcl_root, toy_cfg

    seen = []

    def recording(*args, **kwargs):
        seen.append(kwargs.get("start_method"))
        return build_view_loader(*args, **kwargs)

    monkeypatch.setattr(generative, "build_view_loader", recording)
    root = make_toy_gcl_root(str(tmp_path / "data"), num_ids=4)
    cfg = toy_cfg(root, str(tmp_path / "out"), "DATALOADER.NUM_WORKERS", "1",
                  "DATALOADER.START_METHOD", "forkserver", "GCL.STAGES", "('gan_warmup', 'joint')",
                  "SOLVER.JOINT.EPOCHS", "1", "TEST.EVAL_PERIOD", "0")
    summary = GCLTrainer(cfg).run()
    assert summary["stages"] == ["gan_warmup", "joint"]
    assert seen and set(seen) == {"forkserver"}


def test_the_config_refuses_an_unknown_start_method():
    from common.config import ConfigError
    from reid.config import load_config

    with pytest.raises(ConfigError, match="DATALOADER.START_METHOD must be one of .*'threads'"):
        load_config(None, ["DATALOADER.START_METHOD", "threads"])
