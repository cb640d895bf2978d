"""The staged GCL trainer on a tiny toy dataset: resume equivalence, policies, bad input."""
import os

import pytest
import torch

from reid.data import build_dataset, make_toy_reid_folder
from reid.engine import GCLTrainer
from reid.engine.stages import TrainingDivergedError
from reid.views.structure_maps import MissingStructureMapsError
from common.serialization import load_checkpoint_file
from tests.toy_gcl import make_toy_gcl_root, toy_cfg


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy")))


def _cfg(root, out, *opts):
    return toy_cfg(root, out, *opts)


def _encoder_state(out):
    state = load_checkpoint_file(os.path.join(out, "checkpoints", "last.pth"), trust_pickle=False)
    return state["models"]["E_id"], state


def test_full_run_writes_summary_grid_and_checkpoint(toy_root, tmp_path):
    out = str(tmp_path / "run")
    trainer = GCLTrainer(_cfg(toy_root, out, "SOLVER.CHANNELS_LAST", "True"))
    conv = next(m for m in trainer.ctx.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    summary = trainer.run()
    assert summary["stages"] == ["baseline", "gan_warmup", "joint"]
    for key in ("baseline", "final"):
        assert 0.0 <= summary[key]["mAP"] <= 100.0
    assert os.path.isfile(os.path.join(out, "summary.json"))
    assert os.path.isfile(os.path.join(out, "config.yaml"))
    assert os.path.isfile(os.path.join(out, "baseline_encoder.pth"))
    assert os.path.isfile(os.path.join(out, "images", "joint_epoch002.png"))
    _, state = _encoder_state(out)
    assert state["stage"] == "joint" and state["epoch"] == 1
    assert state["memory"]["features"].shape == (len(build_dataset("generic", toy_root,
                                                                   verbose=False).train), 512)
    assert state["pseudo_labels"] is not None


def test_resume_is_exact(toy_root, tmp_path):
    straight = str(tmp_path / "straight")
    GCLTrainer(_cfg(toy_root, straight, "TEST.EVAL_PERIOD", "0")).run()
    split = str(tmp_path / "split")
    GCLTrainer(_cfg(toy_root, split, "SOLVER.JOINT.EPOCHS", "1")).run()
    # Same config as the straight run, continued from the one-epoch checkpoint.
    cfg = _cfg(toy_root, split)
    trainer = GCLTrainer(cfg, resume=True)
    trainer.run()
    a, state_a = _encoder_state(straight)
    b, state_b = _encoder_state(split)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(state_a["memory"]["features"], state_b["memory"]["features"])


def test_degenerate_clusters_skip_contrast(toy_root, tmp_path):
    out = str(tmp_path / "degenerate")
    # A tiny fixed eps and a large min_samples leave every image an outlier.
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = GCLTrainer(_cfg(toy_root, out, "CLUSTER.EPS", "1e-6", "CLUSTER.MIN_SAMPLES",
                                  "50", "GCL.STAGES", "('baseline', 'joint')",
                                  "GCL.USE_GAN", "False")).run()
    skipped = [h for h in summary["history"] if h.get("skipped")]
    assert len(skipped) == len(summary["history"]) == 3
    # Schedulers still follow the epoch index, without warning about the optimiser not stepping.
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]


def test_missing_structure_maps_are_listed_before_training(tmp_path):
    root = str(tmp_path / "nomaps")
    make_toy_reid_folder(root, num_ids=4, num_cameras=2, layout="generic")
    with pytest.raises(MissingStructureMapsError) as err:
        GCLTrainer(_cfg(root, str(tmp_path / "o")))
    assert "structure maps are missing" in str(err.value) and ".jpg" in str(err.value)
    # The baseline alone needs no maps, unless its pseudo-labels use the silhouettes.
    GCLTrainer(_cfg(root, str(tmp_path / "b"), "GCL.STAGES", "('baseline',)"))
    with pytest.raises(MissingStructureMapsError):
        GCLTrainer(_cfg(root, str(tmp_path / "m"), "GCL.STAGES", "('baseline',)",
                        "CLUSTER.FOREGROUND_MASK", "True"))


def test_non_finite_loss_stops_and_keeps_last_checkpoint(toy_root, tmp_path, monkeypatch):
    out = str(tmp_path / "nan")
    cfg = _cfg(toy_root, out, "GCL.STAGES", "('baseline', 'gan_warmup')",
               "SOLVER.GAN_WARMUP.EPOCHS", "2")
    trainer = GCLTrainer(cfg)
    from reid.engine.gcl_step import GCLTrainStep

    calls = {"n": 0}
    original = GCLTrainStep._generator_losses

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        gan, contrast, terms = original(self, *args, **kwargs)
        if calls["n"] > 2:  # the second gan_warmup epoch diverges
            return gan * float("nan"), contrast, dict(terms, img=float("nan"))
        return gan, contrast, terms

    monkeypatch.setattr(GCLTrainStep, "_generator_losses", poisoned)
    with pytest.raises(TrainingDivergedError) as err:
        trainer.run()
    assert "step" in str(err.value) and "img" in str(err.value)
    _, state = _encoder_state(out)
    assert state["stage"] == "gan_warmup" and state["epoch"] == 0


def test_foreground_mask_drives_the_pseudo_labels(toy_root, tmp_path, monkeypatch):
    from reid.engine.context import TrainingContext

    calls = []
    original = TrainingContext.extract_train_features

    def spy(self, items=None, foreground=False):
        calls.append(foreground)
        return original(self, items, foreground)

    monkeypatch.setattr(TrainingContext, "extract_train_features", spy)
    summary = GCLTrainer(_cfg(toy_root, str(tmp_path / "fg"), "CLUSTER.FOREGROUND_MASK", "True",
                              "GCL.STAGES", "('baseline', 'joint')", "GCL.USE_GAN", "False",
                              "TEST.EVAL_PERIOD", "0")).run()
    # baseline epoch: masked; joint: memory filled with whole images, then masked every epoch.
    assert calls == [True, False, True, True]
    assert [h["stage"] for h in summary["history"]] == ["baseline", "joint", "joint"]


def test_structure_maps_default_to_the_located_dataset_folder(tmp_path):
    from types import SimpleNamespace

    from reid.config import load_config
    from reid.views.structure_maps import structure_cache_for

    dataset = SimpleNamespace(root=str(tmp_path / "Market-1501-v15.09.15"))
    cfg = load_config(None, ["DATASETS.ROOT", str(tmp_path)])
    assert structure_cache_for(cfg, dataset).mesh_dir == os.path.join(dataset.root, "meshes")
    cfg = load_config(None, ["MESH.DIR", str(tmp_path / "renders")])
    assert structure_cache_for(cfg, dataset).mesh_dir == str(tmp_path / "renders")


@pytest.mark.parametrize("merge_val, num_train", [(True, 48), (False, 42)])
def test_training_reads_the_dataset_with_its_config_options(tmp_path, merge_val, num_train):
    """DATASETS.MSMT_MERGE_VAL decides the training set of a run, as it does for tools/test.py
    (toy MSMT17: 6 ids x 4 cameras x 2 images, one image per id listed in list_val.txt)."""
    root = make_toy_reid_folder(str(tmp_path / "msmt"), layout="msmt17_v1", num_cameras=4)
    cfg = _cfg(root, str(tmp_path / "out"), "DATASETS.NAME", "msmt17", "GCL.STAGES",
               "('baseline',)", "DATASETS.MSMT_MERGE_VAL", str(merge_val))
    trainer = GCLTrainer(cfg)
    try:
        assert len(trainer.ctx.train_items) == len(trainer.ctx.monitor_ids) == num_train
        assert len(trainer.ctx.dataset.train) == num_train
    finally:
        trainer.close()
