"""Nothing lost, nothing silent: bad weights, counts and values fail early and say why.

* weights of another architecture are refused by evaluation, export and MODEL.WEIGHTS unless
  MODEL.PARTIAL_LOAD (the ImageNet backbone init with a different head still loads);
* runs that would train nothing (negative / zero epochs, a batch larger than the data) fail;
* bad values (INPUT.SIZE, a transformer backbone, NUM_WORKERS, TEST.METRIC, pid-0 training
  files) fail before any work naming the key and the rule; a crash is logged to log.txt; a NaN
  encoder is refused by export and evaluation.
"""
import os

import pytest
import timm
import torch

from reid.config import ConfigError, load_config
from reid.data import build_dataset, make_toy_reid_folder
from reid.data.datasets.base import DatasetFormatError
from reid.engine import GCLTrainer
from reid.engine.stages import ClusterContrastStage, TrainingDivergedError
from reid.engine.validation import (EmptyEpochError, check_epoch_iterations,
                                    validate_training_config)
from reid.evaluation import run_evaluation
from reid.export import export_from_checkpoint
from reid.models import (IdentityEncoder, NonFiniteWeightsError, PartialLoadError,
                         build_identity_encoder, save_identity_encoder)
from common.io import atomic_save
from tests.toy_gcl import make_toy_gcl_root, toy_cfg

SMALL = ["MODEL.BACKBONE", "resnet18", "INPUT.SIZE", "(64, 32)", "DATALOADER.NUM_WORKERS", "0",
         "TEST.BATCH_SIZE", "16", "MODEL.DEVICE", "cpu", "TEST.FLIP", "False"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    """16 identities (48 training images) with structure maps, generic layout."""
    return make_toy_gcl_root(str(tmp_path_factory.mktemp("toy")))


@pytest.fixture(scope="module")
def market_root(tmp_path_factory):
    return make_toy_reid_folder(str(tmp_path_factory.mktemp("market")), num_ids=8,
                                num_cameras=2, images_per_id_per_camera=1)


@pytest.fixture(scope="module")
def resnet50_weights(tmp_path_factory):
    """A raw resnet50 E_id state dict (describes no architecture: the config's is used)."""
    path = str(tmp_path_factory.mktemp("weights") / "resnet50_state_dict.pth")
    atomic_save(IdentityEncoder("resnet50").state_dict(), path)
    return path


@pytest.fixture(scope="module")
def nan_encoder_file(tmp_path_factory):
    model = IdentityEncoder("test_resnet", num_parts=2, embed_dim=16)
    with torch.no_grad():
        model.embedding.weight[0, 0] = float("nan")
        model.embedding_bn.running_var.fill_(float("inf"))
    path = str(tmp_path_factory.mktemp("nan") / "diverged_encoder.pth")
    save_identity_encoder(model, path, input_size=(64, 32))
    return model, path


class _Reached(Exception):
    """Raised by a stand-in to show that the code got past the step under test."""


# ------------------------------------------------------------------ 6: partial loads
def test_evaluation_refuses_weights_of_another_architecture(market_root, resnet50_weights,
                                                            tmp_path, monkeypatch):
    cfg = load_config(None, SMALL + ["DATASETS.ROOT", market_root])
    with pytest.raises(PartialLoadError) as err:
        run_evaluation(cfg, weights=resnet50_weights, output_dir=str(tmp_path / "eval"))
    message = str(err.value)
    assert "--weights" in message and resnet50_weights in message
    assert "shape mismatch" in message and "backbone.layer1.0.conv1.weight" in message
    assert "MODEL.PARTIAL_LOAD True" in message
    assert not os.path.exists(tmp_path / "eval" / "results.json")

    def reached(*args, **kwargs):
        raise _Reached

    monkeypatch.setattr("reid.evaluation.runner.extract_features", reached)
    partial = load_config(None, SMALL + ["DATASETS.ROOT", market_root, "MODEL.PARTIAL_LOAD",
                                         "True", "MODEL.WEIGHTS", resnet50_weights])
    with pytest.raises(_Reached):  # explicitly asked for: loads what fits and evaluates
        run_evaluation(partial, output_dir=str(tmp_path / "partial"))


def test_export_refuses_weights_of_another_architecture(resnet50_weights, tmp_path):
    cfg = load_config(None, SMALL)
    out = tmp_path / "export"
    with pytest.raises(PartialLoadError, match="backbone.layer1.0.conv1.weight") as err:
        export_from_checkpoint(resnet50_weights, str(out), cfg, formats="state_dict")
    assert "only 103 of the model's 127 tensors fit; 24 would keep" in str(err.value)
    assert not out.exists()  # nothing written


def test_model_weights_of_another_architecture_are_not_trained_on(toy_root, resnet50_weights,
                                                                   tmp_path):
    opts = ["GCL.STAGES", "('baseline',)", "MODEL.WEIGHTS", resnet50_weights]
    with pytest.raises(PartialLoadError) as err:
        GCLTrainer(toy_cfg(toy_root, str(tmp_path / "strict"), *opts))
    assert "MODEL.WEIGHTS" in str(err.value) and "would keep their initial values" in str(err.value)
    trainer = GCLTrainer(toy_cfg(toy_root, str(tmp_path / "partial"), *opts,
                                 "MODEL.PARTIAL_LOAD", "True"))
    trainer.close()
    assert trainer.ctx.encoder.backbone_name == "resnet18"


def test_backbone_imagenet_init_with_another_head_still_loads(tmp_path):
    # torchvision layout: a classifier the backbone lacks, no BatchNorm step counters
    imagenet = timm.create_model("resnet18", num_classes=1000)
    state = {k: v for k, v in imagenet.state_dict().items() if "num_batches_tracked" not in k}
    path = str(tmp_path / "resnet18-imagenet.pth")
    atomic_save(state, path)
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.PRETRAINED_PATH", path])
    model = build_identity_encoder(cfg)
    assert sorted(model.pretrained_report.unexpected) == ["fc.bias", "fc.weight"]
    assert torch.equal(model.backbone.layer4[1].conv2.weight, imagenet.layer4[1].conv2.weight)
    # ImageNet weights of another backbone leave most of it random: refused unless asked for
    other = str(tmp_path / "resnet50-imagenet.pth")
    atomic_save(timm.create_model("resnet50", num_classes=1000).state_dict(), other)
    wrong = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.PRETRAINED_PATH", other])
    with pytest.raises(PartialLoadError, match="MODEL.PRETRAINED_PATH"):
        build_identity_encoder(wrong)
    wrong.defrost()
    wrong.MODEL.PARTIAL_LOAD = True
    assert build_identity_encoder(wrong).pretrained_report.shape_mismatch


# ------------------------------------------------------------------ 8: runs that train nothing
@pytest.mark.parametrize("section", ["SOURCE", "BASELINE", "GAN_WARMUP", "JOINT"])
def test_negative_epochs_are_refused_at_load(section):
    key = f"SOLVER.{section}.EPOCHS"
    with pytest.raises(ConfigError) as err:
        load_config(None, [key, "-1"])
    assert key in str(err.value) and ">= 0" in str(err.value) and "-1" in str(err.value)


@pytest.mark.parametrize("key", ["SOLVER.JOINT.BATCH_SIZE", "SOLVER.BASELINE.BATCH_SIZE",
                                 "TEST.BATCH_SIZE"])
def test_batch_sizes_must_be_positive(key):
    with pytest.raises(ConfigError, match=f"{key} must be an integer >= 1; got 0"):
        load_config(None, [key, "0"])


def test_identity_batches_must_be_a_multiple_of_num_instances():
    with pytest.raises(ConfigError, match="SOLVER.BASELINE.BATCH_SIZE 30 .*NUM_INSTANCES 4"):
        load_config(None, ["SOLVER.BASELINE.BATCH_SIZE", "30"])


def test_a_run_without_any_epoch_fails_before_any_work(toy_root, tmp_path):
    out = tmp_path / "nothing"
    cfg = toy_cfg(toy_root, str(out), "GCL.STAGES", "('baseline', 'joint')",
                  "SOLVER.BASELINE.EPOCHS", "0", "SOLVER.JOINT.EPOCHS", "0")
    with pytest.raises(ConfigError) as err:
        GCLTrainer(cfg)
    message = str(err.value)
    assert "SOLVER.BASELINE.EPOCHS 0" in message and "SOLVER.JOINT.EPOCHS 0" in message
    assert not out.exists()  # no lock, no config, no final model


def test_joint_without_gan_batch_larger_than_the_training_set(toy_root, tmp_path):
    num_train = len(build_dataset("generic", toy_root, verbose=False).train)
    cfg = toy_cfg(toy_root, str(tmp_path / "big"), "GCL.STAGES", "('joint',)",
                  "GCL.USE_GAN", "False", "SOLVER.JOINT.BATCH_SIZE", "1000")
    with pytest.raises(ConfigError) as err:
        GCLTrainer(cfg)
    message = str(err.value)
    assert "SOLVER.JOINT.BATCH_SIZE 1000" in message and f"{num_train} training images" in message
    assert "0 iterations" in message


def test_an_epoch_without_iterations_is_an_error(toy_root, tmp_path, monkeypatch):
    # The training set shrinks after the start (here: the up-front check is bypassed): the
    # epoch itself refuses to run 0 iterations instead of "finishing" it.
    monkeypatch.setattr("reid.engine.trainer.check_train_set", lambda *args: None,
                        raising=False)
    cfg = toy_cfg(toy_root, str(tmp_path / "empty"), "GCL.STAGES", "('joint',)",
                  "GCL.USE_GAN", "False", "SOLVER.JOINT.BATCH_SIZE", "1000", "TEST.EVAL_PERIOD", "0")
    with pytest.raises(EmptyEpochError) as err:
        GCLTrainer(cfg).run()
    message = str(err.value)
    assert message.startswith("joint (without GAN) epoch 1: 0 training iterations")
    assert "SOLVER.JOINT.BATCH_SIZE 1000" in message and "48 training images" in message
    assert "at most 48" in message
    assert not os.path.exists(tmp_path / "empty" / "final_encoder.pth")


def test_epoch_check_names_what_the_sampler_yields():
    from reid.data.samplers import RandomIdentitySampler

    labels = [0, 0, 1, 1, -1, -1, -1, -1]
    sampler = RandomIdentitySampler(labels, batch_size=4, num_instances=2)
    loader = torch.utils.data.DataLoader(list(range(8)), batch_size=4, sampler=sampler,
                                         drop_last=True)
    assert check_epoch_iterations(loader, len(loader), "baseline", 0, "SOLVER.X") == 1
    loader = torch.utils.data.DataLoader(list(range(8)), batch_size=16, sampler=sampler,
                                         drop_last=True)
    with pytest.raises(EmptyEpochError) as err:
        check_epoch_iterations(loader, len(loader), "baseline", 2, "SOLVER.BASELINE.BATCH_SIZE")
    message = str(err.value)
    assert "baseline epoch 3" in message and "SOLVER.BASELINE.BATCH_SIZE 16" in message
    assert "the 4 images its sampler yields this epoch (of 8 training images)" in message
    assert "DATALOADER.NUM_INSTANCES 2" in message


# ------------------------------------------------------------------ 10: fail before any work
def test_input_size_the_generator_cannot_reproduce(toy_root, tmp_path):
    out = tmp_path / "odd"
    with pytest.raises(ConfigError) as err:
        GCLTrainer(toy_cfg(toy_root, str(out), "INPUT.SIZE", "(100, 50)"))
    message = str(err.value)
    assert message.startswith("INPUT.SIZE (100, 50): the width 50 is not a multiple of 4")
    assert "INPUT.SIZE (100, 48)" in message
    assert not out.exists()
    with pytest.raises(ConfigError, match="the width 32 is below 40"):
        validate_training_config(load_config(None, ["INPUT.SIZE", "(64, 32)"]),
                                 ("baseline", "gan_warmup"))
    # E_id alone has no such constraint
    validate_training_config(load_config(None, ["INPUT.SIZE", "(100, 50)"]), ("baseline",))


def test_gan_warmup_without_the_gan_is_refused(toy_root, tmp_path):
    out = tmp_path / "nogan"
    with pytest.raises(ConfigError, match="'gan_warmup' but GCL.USE_GAN is False"):
        GCLTrainer(toy_cfg(toy_root, str(out), "GCL.USE_GAN", "False"))
    assert not out.exists()


def test_a_transformer_backbone_is_refused_at_build():
    with pytest.raises(ValueError) as err:
        build_identity_encoder(load_config(None, ["MODEL.BACKBONE", "test_vit"]),
                               pretrained=False)
    message = str(err.value)
    assert "MODEL.BACKBONE 'test_vit' is not a CNN" in message and "(1, 17, 64)" in message
    assert IdentityEncoder("test_resnet", embed_dim=8).feature_dim == 96  # CNNs still build


def test_negative_num_workers_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"DATALOADER.NUM_WORKERS must be an integer >= 0 .*-1"):
        load_config(None, ["DATALOADER.NUM_WORKERS", "-1"])


def test_test_metric_typo_is_refused_at_load(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("TEST:\n  METRIC: cosin\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(err.value) == ("TEST.METRIC must be one of cosine, euclidean; got 'cosin' "
                              "(did you mean cosine?)")


def test_training_files_with_pid_0_name_pid_0(tmp_path):
    for sub, name in (("bounding_box_train", "0000_c1_000001.jpg"),
                      ("bounding_box_train", "0000_c2_000002.jpg"),
                      ("query", "0003_c1_000001.jpg"), ("bounding_box_test", "0003_c2_000001.jpg")):
        os.makedirs(tmp_path / sub, exist_ok=True)
        (tmp_path / sub / name).write_bytes(b"")
    with pytest.raises(DatasetFormatError) as err:
        build_dataset("generic", str(tmp_path), verbose=False)
    message = str(err.value)
    assert "bounding_box_train" in message and "every image has pid 0" in message
    assert "distractor, used only in the gallery" in message
    assert "-1" not in message.replace(str(tmp_path), "")  # the folder's name may hold "-1"


def test_divergence_without_a_checkpoint_says_none_exists(toy_root, tmp_path, monkeypatch):
    from reid.engine.gcl_step import GCLTrainStep

    def diverged(self, *args, **kwargs):
        gan, contrast, terms = original(self, *args, **kwargs)
        return gan * float("nan"), contrast, dict(terms, img=float("nan"))

    original = GCLTrainStep._generator_losses
    monkeypatch.setattr(GCLTrainStep, "_generator_losses", diverged)
    out = tmp_path / "nan"
    trainer = GCLTrainer(toy_cfg(toy_root, str(out), "GCL.STAGES", "('gan_warmup',)"))
    with pytest.raises(TrainingDivergedError) as err:
        trainer.run()
    assert "No checkpoint exists yet" in str(err.value)
    assert "last good checkpoint is kept" not in str(err.value)


def test_a_training_crash_is_written_to_log_txt(toy_root, tmp_path, monkeypatch):
    def crash(self, epoch):
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(ClusterContrastStage, "train_epoch", crash)
    out = tmp_path / "crash"
    trainer = GCLTrainer(toy_cfg(toy_root, str(out), "GCL.STAGES", "('baseline',)"))
    with pytest.raises(RuntimeError, match="the disk caught fire"):
        trainer.run()
    log = (out / "log.txt").read_text()
    assert "training failed: RuntimeError: the disk caught fire" in log
    assert "Traceback (most recent call last)" in log and "in crash" in log


def test_export_refuses_a_nan_encoder_before_writing(nan_encoder_file, tmp_path):
    _, path = nan_encoder_file
    out = tmp_path / "export"
    with pytest.raises(NonFiniteWeightsError) as err:
        export_from_checkpoint(path, str(out), formats="state_dict")
    message = str(err.value)
    assert "embedding.weight, embedding_bn.running_var" in message and path in message
    assert not out.exists()


def test_evaluation_refuses_a_nan_encoder_before_feature_extraction(nan_encoder_file, market_root,
                                                                    tmp_path, monkeypatch):
    model, path = nan_encoder_file
    calls = []
    monkeypatch.setattr("reid.evaluation.runner.extract_features",
                        lambda *args, **kwargs: calls.append(1))
    cfg = load_config(None, SMALL + ["DATASETS.ROOT", market_root])
    with pytest.raises(NonFiniteWeightsError, match="embedding.weight"):
        run_evaluation(cfg, model=model, output_dir=str(tmp_path / "given"))
    with pytest.raises(NonFiniteWeightsError, match="diverged_encoder.pth"):
        run_evaluation(cfg, weights=path, output_dir=str(tmp_path / "file"))
    assert calls == []
