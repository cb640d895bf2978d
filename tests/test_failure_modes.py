"""Nothing lost, nothing silent: exploded ReID weights are never checkpointed; unreadable
training images are skipped and counted by every training reader (an unreadable test image
stays an error); a broken link in query/ is an error; ``--visualize -3`` is refused; structure
maps of another size are reported once."""
import importlib.util
import logging
import os
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from mesh.structure_cache import StructureMapCache, StructureMapSizeWarning
from reid.data import (ImageReadError, build_dataset, build_test_loader, make_toy_reid_folder,
                       readable_training_indices)
from reid.engine import GCLTrainer
from reid.engine.checkpoint import CheckpointManager
from reid.engine.stages.baseline import ClusterContrastStage
from reid.views.mesh_data import ViewPairDataset
from common.finite import NonFiniteWeightsError, model_output, non_finite_tensors, probe_input
from tests.toy_gcl import make_toy_gcl_root, toy_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE_ONLY = ("GCL.STAGES", "('baseline',)", "SOLVER.BASELINE.ITERS_PER_EPOCH", "1",
                 "TEST.EVAL_PERIOD", "0", "INPUT.SIZE", "(64, 32)")


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy")))


def _truncate(path: str, keep: float = 0.5) -> None:
    """Cut an image file short, like an interrupted copy (PIL cannot decode it)."""
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: int(len(data) * keep)])


def _copy_with_truncated_train_image(toy_root, tmp_path, index=5):
    root = str(tmp_path / "data")
    shutil.copytree(toy_root, root)
    train = build_dataset("generic", root, verbose=False).train
    bad = train[index][0]
    _truncate(bad)
    return root, bad, len(train)


def _epoch_files(out):
    folder = os.path.join(out, "checkpoints")
    return sorted(n for n in os.listdir(folder) if "_epoch" in n) if os.path.isdir(folder) else []


# ---------------------------------------------------------------------- 4: exploded weights
def _explode_in_epoch(monkeypatch, bad_epoch, poison):
    original = ClusterContrastStage.train_epoch

    def train_epoch(self, epoch):
        if epoch == bad_epoch and poison == "lr":
            for group in self.optimizer.param_groups:
                group["lr"] = 1e30  # one Adam step: |w| ~ 1e30, finite, features NaN
        stats = original(self, epoch)
        if epoch == bad_epoch and poison == "nan":
            with torch.no_grad():
                self.ctx.encoder.backbone.bn1.running_var.fill_(float("nan"))
        return stats

    monkeypatch.setattr(ClusterContrastStage, "train_epoch", train_epoch)


def test_exploding_learning_rate_keeps_the_last_good_checkpoint(toy_root, tmp_path,
                                                                  monkeypatch):
    out = str(tmp_path / "explode")
    _explode_in_epoch(monkeypatch, bad_epoch=1, poison="lr")
    trainer = GCLTrainer(toy_cfg(toy_root, out, *BASELINE_ONLY, "SOLVER.BASELINE.EPOCHS", "2"))
    with pytest.raises(NonFiniteWeightsError) as err:
        trainer.run()
    message = str(err.value)
    assert "baseline epoch 2" in message and "exploded" in message
    assert "E_id." in message and "is kept" in message
    assert os.path.join(out, "checkpoints") in message
    assert trainer.ctx.history[-1]["epoch"] == 2  # the epoch trained; its finite losses logged
    assert _epoch_files(out) == ["baseline_epoch001.pth"]
    path, state = CheckpointManager(out).find_last()
    assert path in message and state["epoch"] == 0
    assert non_finite_tensors(state["models"]) == []
    trainer.ctx.encoder.load_state_dict(state["models"]["E_id"])  # what --resume starts from
    assert torch.isfinite(model_output(trainer.ctx.encoder, probe_input((2, 3, 64, 32)))).all()


def test_non_finite_weights_before_the_first_save_write_nothing(toy_root, tmp_path, monkeypatch):
    out = str(tmp_path / "nan")
    _explode_in_epoch(monkeypatch, bad_epoch=0, poison="nan")
    trainer = GCLTrainer(toy_cfg(toy_root, out, *BASELINE_ONLY, "SOLVER.BASELINE.EPOCHS", "1"))
    with pytest.raises(NonFiniteWeightsError) as err:
        trainer.run()
    assert err.value.names == ["E_id.backbone.bn1.running_var"]
    message = str(err.value)
    assert "1 of " in message and "E_id.backbone.bn1.running_var" in message
    assert "no good checkpoint exists yet" in message
    assert _epoch_files(out) == [] and CheckpointManager(out).find_last() is None


# ---------------------------------------------------------------------- 5: unreadable images
def test_a_truncated_training_jpeg_is_skipped_and_counted(toy_root, tmp_path, reid_log):
    root, bad, total = _copy_with_truncated_train_image(toy_root, tmp_path)
    out = str(tmp_path / "run")
    trainer = GCLTrainer(toy_cfg(root, out, "GCL.STAGES", "('baseline', 'gan_warmup')",
                                 "SOLVER.BASELINE.ITERS_PER_EPOCH", "1",
                                 "SOLVER.GAN_WARMUP.ITERS_PER_EPOCH", "2", "TEST.EVAL_PERIOD", "0"))
    summary = trainer.run()  # neither the pseudo-label feature pass nor the view data aborts
    assert [h["stage"] for h in summary["history"]] == ["baseline", "gan_warmup"]
    assert _epoch_files(out) == ["baseline_epoch001.pth", "gan_warmup_epoch001.pth"]
    items = trainer.ctx.train_items
    assert len(items) == total - 1 and bad not in [p for p, _, _ in items]
    assert len(trainer.ctx.monitor_ids) == total - 1
    assert len(trainer.ctx.pseudo_labels) == total - 1
    skipped = [m for m in reid_log if "skipping 1 of" in m]
    assert len(skipped) == 1 and bad in skipped[0] and "SKIP_UNREADABLE" in skipped[0]


def test_without_skip_an_unreadable_training_image_fails_before_training(toy_root, tmp_path):
    root, bad, _ = _copy_with_truncated_train_image(toy_root, tmp_path)
    out = str(tmp_path / "run")
    trainer = GCLTrainer(toy_cfg(root, out, *BASELINE_ONLY, "DATASETS.SKIP_UNREADABLE", "False"))
    with pytest.raises(ImageReadError) as err:
        trainer.run()
    assert err.value.path == bad and bad in str(err.value)
    assert "DATASETS.SKIP_UNREADABLE True" in str(err.value)
    assert trainer.ctx.history == [] and _epoch_files(out) == []


def test_gan_view_data_replaces_an_image_that_turns_unreadable(toy_root, tmp_path):
    root, bad, _ = _copy_with_truncated_train_image(toy_root, tmp_path, index=0)
    items = build_dataset("generic", root, verbose=False).train
    cache = StructureMapCache(os.path.join(root, "meshes"))
    torch.manual_seed(0)
    data = ViewPairDataset(items, cache, size=(128, 64), padding=2, skip_unreadable=True)
    sample = data[0]
    assert sample["path"] != bad and sample["index"] != 0 and data.num_skipped == 1
    assert sample["img"].shape == (3, 128, 64) and sample["s_new"].shape == (1, 128, 64)
    with pytest.raises(ImageReadError, match=os.path.basename(bad)):
        ViewPairDataset(items, cache, size=(128, 64))[0]


def test_readable_training_indices_count_and_name_what_they_drop(tmp_path, reid_log):
    root = make_toy_reid_folder(str(tmp_path / "d"), num_ids=4, num_cameras=2, layout="generic")
    items = build_dataset("generic", root, verbose=False).train
    for index in (1, 2):
        _truncate(items[index][0])
    keep = readable_training_indices(items, True, logging.getLogger("reid"), show=1)
    assert keep == [0] + list(range(3, len(items)))
    assert any("skipping 2 of" in m and items[1][0] in m and "and 1 more" in m
               for m in reid_log)
    every = [(items[1][0], 0, 0)] * 2
    with pytest.raises(ImageReadError, match="no readable image is left"):
        readable_training_indices(every, True)


def test_an_unreadable_query_image_stays_an_error_naming_it(tmp_path):
    root = make_toy_reid_folder(str(tmp_path / "d"), num_ids=4, num_cameras=2)
    query = build_dataset("market1501", root, verbose=False).query
    _truncate(query[0][0])
    with pytest.raises(ImageReadError) as err:
        list(build_test_loader(query, size=(64, 32), num_workers=0))
    assert err.value.path == query[0][0]


# ---------------------------------------------------------------------- 9: silent inputs
def test_a_broken_link_in_query_is_an_error_naming_it(tmp_path):
    root = make_toy_reid_folder(str(tmp_path / "d"), num_ids=4, num_cameras=2)
    folder = os.path.join(root, "Market-1501-v15.09.15")
    link = os.path.join(folder, "query", "0003_c1s1_000999_00.jpg")
    os.symlink(os.path.join(str(tmp_path), "moved", "0003_c1s1_000999_00.jpg"), link)
    with pytest.raises(ImageReadError) as err:
        build_dataset("market1501", root, verbose=False)
    assert err.value.path == link and "broken symbolic link" in str(err.value)


def test_a_broken_link_in_train_is_listed_then_skipped_and_counted(tmp_path, reid_log):
    root = make_toy_reid_folder(str(tmp_path / "d"), num_ids=4, num_cameras=2)
    folder = os.path.join(root, "Market-1501-v15.09.15", "bounding_box_train")
    link = os.path.join(folder, "0001_c1s1_000999_00.jpg")
    os.symlink(os.path.join(str(tmp_path), "gone.jpg"), link)
    train = build_dataset("market1501", root, verbose=False).train
    assert link in [p for p, _, _ in train]
    keep = readable_training_indices(train, True, logging.getLogger("reid"))
    assert len(keep) == len(train) - 1
    assert any("skipping 1 of" in m and link in m for m in reid_log)


def _test_tool():
    spec = importlib.util.spec_from_file_location("tool_test_failure_modes",
                                                  os.path.join(ROOT, "tools", "test.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_negative_visualize_is_an_argparse_error(capsys):
    tool = _test_tool()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["--visualize", "-3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--visualize" in err and ">= 0" in err and "-3" in err
    assert tool.build_parser().parse_args(["--visualize", "0"]).visualize == 0


def test_structure_maps_of_another_size_warn_once_with_sizes_and_file(tmp_path):
    cache = StructureMapCache(str(tmp_path / "meshes"))
    names = ["0001_c1s1_000001_00.jpg", "0001_c1s1_000002_00.jpg"]
    for name in names:
        path = cache.path("train", name, 0)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.full((128, 64), 120, np.uint8), "L").save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        maps = [cache.read("train", name, 0) for name in names + names]
    assert all(m.shape == (256, 128) for m in maps)
    sized = [w for w in caught if issubclass(w.category, StructureMapSizeWarning)]
    assert len(sized) == 1
    text = str(sized[0].message)
    assert "128 x 64" in text and "256 x 128" in text and cache.path("train", names[0], 0) in text


def test_non_finite_generative_weights_are_refused(toy_root, tmp_path):
    """MODEL.GENERATIVE_WEIGHTS holding NaN is refused before training, naming the file."""
    stages = ("GCL.STAGES", "('gan_warmup',)")
    trainer = GCLTrainer(toy_cfg(toy_root, str(tmp_path / "a"), *stages))
    state = {k: v.clone() for k, v in trainer.ctx.generative.state_dict().items()}
    trainer.close()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first].fill_(float("nan"))
    path = str(tmp_path / "generative_nan.pth")
    torch.save({"state_dict": state}, path)
    with pytest.raises(NonFiniteWeightsError, match="generative_nan.pth"):
        GCLTrainer(toy_cfg(toy_root, str(tmp_path / "b"), *stages,
                           "MODEL.GENERATIVE_WEIGHTS", path))
