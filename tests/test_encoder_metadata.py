"""Encoder files that describe themselves: backbone, input size, normalisation, embedding size.

Covers the trainer's encoder copies, the export (encoder.pth, TorchScript, ONNX, export.json),
``load_encoder`` strictness and the predictor's float-input conventions.
"""
import json
import logging
import os
import types
import warnings

import numpy as np
import pytest
import torch

import reid
from reid.config import load_config
from reid.engine.trainer import GCLTrainer
from reid.export import NormalisedEncoder, export_encoder, export_from_checkpoint, load_encoder
from reid.models import IdentityEncoder, load_identity_encoder, save_identity_encoder
from reid.models.backbone import IMAGENET_MEAN, IMAGENET_STD
from reid.models.checkpoint import ENCODER_FORMAT, checkpoint_description
from common.io import atomic_save

BACKBONE = "test_resnet"  # a tiny timm ResNet (BatchNorm), random weights
TRAIN_SIZE = (128, 64)  # the synthetic config's size, not the INPUT.SIZE default 256x128
EMBED_DIM = 16


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    model = IdentityEncoder(BACKBONE, num_parts=2, embed_dim=EMBED_DIM)
    model.train()  # non-trivial BN statistics
    with torch.no_grad():
        model(torch.rand(6, 3, 64, 32) * 2 - 1)
    return model.eval()


@pytest.fixture()
def reid_warnings():
    """Warnings of the "reid" logger (it does not propagate once setup_logger has run)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("reid")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def _messages(records):
    return "\n".join(r.getMessage() for r in records)


def _trainer_copy(encoder, folder, filename="final_encoder.pth", size=TRAIN_SIZE):
    """Write ``filename`` through the trainer's own code path, with a config at ``size``."""
    cfg = load_config(None, ["INPUT.SIZE", str(tuple(size)), "MODEL.BACKBONE", BACKBONE])
    ctx = types.SimpleNamespace(encoder=encoder, path=lambda *parts: os.path.join(folder, *parts))
    GCLTrainer._save_encoder_copy(types.SimpleNamespace(ctx=ctx, cfg=cfg), filename)
    return os.path.join(folder, filename)


def _uint8_images(n=2, size=TRAIN_SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def _reference(encoder, arrays):
    signed = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        return NormalisedEncoder(encoder).eval()(signed)


def test_trainer_encoder_files_describe_themselves(encoder, tmp_path):
    for name in ("final_encoder.pth", "baseline_encoder.pth"):
        path = _trainer_copy(encoder, str(tmp_path), name)
        payload = torch.load(path, weights_only=True)
        assert payload["format"] == ENCODER_FORMAT and payload["version"] == 2
        assert payload["backbone"] == BACKBONE and payload["embed_dim"] == EMBED_DIM
        assert payload["encoder_config"] == encoder.config()
        assert payload["input_size"] == [128, 64]
        assert payload["pixel_mean"] == [0.5, 0.5, 0.5] and payload["pixel_std"] == [0.5] * 3
        assert checkpoint_description(payload, path) == {
            "backbone": BACKBONE, "embed_dim": EMBED_DIM, "input_size": [128, 64],
            "pixel_mean": [0.5] * 3, "pixel_std": [0.5] * 3}


def test_export_keeps_the_checkpoint_input_size(encoder, tmp_path, reid_warnings):
    weights = _trainer_copy(encoder, str(tmp_path))
    out = str(tmp_path / "export")
    cfg = load_config(None)  # INPUT.SIZE (256, 128), MODEL.BACKBONE resnet50: both ignored
    assert tuple(cfg.INPUT.SIZE) == (256, 128)
    summary = export_from_checkpoint(weights, out, cfg, batch=2)
    assert summary["ok"], summary["formats"]
    assert summary["input_source"] == dict.fromkeys(("input_size", "pixel_mean", "pixel_std"),
                                                    "checkpoint")
    assert "does not record" not in _messages(reid_warnings)

    on_disk = json.load(open(os.path.join(out, "export.json")))
    expected = {"backbone": BACKBONE, "input_size": [128, 64], "pixel_mean": [0.5] * 3,
                "pixel_std": [0.5] * 3, "embed_dim": EMBED_DIM, "encoder_config": encoder.config()}
    assert {k: on_disk[k] for k in expected} == expected
    assert on_disk["input_range"] == [-1.0, 1.0]
    encoder_pth = torch.load(os.path.join(out, "encoder.pth"), weights_only=True)
    assert {k: encoder_pth[k] for k in expected} == expected
    extra = {"encoder.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript deprecation notice
        torch.jit.load(os.path.join(out, "encoder.torchscript.pt"), _extra_files=extra)
    torchscript_meta = json.loads(extra["encoder.json"])
    assert {k: torchscript_meta[k] for k in expected} == expected
    import onnx

    onnx_model = onnx.load(os.path.join(out, "encoder.onnx"))
    onnx_meta = json.loads({p.key: p.value for p in onnx_model.metadata_props}["encoder.json"])
    assert {k: onnx_meta[k] for k in expected} == expected
    saved_cfg = load_config(os.path.join(out, "config.yaml"))
    assert tuple(saved_cfg.INPUT.SIZE) == TRAIN_SIZE and saved_cfg.MODEL.BACKBONE == BACKBONE

    arrays = _uint8_images(2)
    reference = _reference(encoder, arrays)
    for target in (out, os.path.join(out, "encoder.pth"),
                   os.path.join(out, "encoder.torchscript.pt"), weights):
        predictor = reid.load_encoder(target)
        assert predictor.input_size == TRAIN_SIZE, target
        assert predictor.pixel_mean == [0.5] * 3 and predictor.embed_dim == EMBED_DIM, target
        # no resize at 128x64: the predictor's embedding is the encoder's own
        assert torch.allclose(predictor(arrays), reference, atol=1e-5), target


def test_export_falls_back_to_the_config_and_says_so(encoder, tmp_path, reid_warnings):
    weights = str(tmp_path / "third_party.pth")
    atomic_save({"state_dict": encoder.state_dict()}, weights)  # describes nothing
    cfg = load_config(None, ["MODEL.BACKBONE", BACKBONE, "MODEL.NUM_PARTS", "2",
                             "MODEL.EMBED_DIM", str(EMBED_DIM), "INPUT.SIZE", "(96, 48)"])
    summary = export_from_checkpoint(weights, str(tmp_path / "out"), cfg,
                                     formats="state_dict,torchscript", batch=2)
    assert summary["ok"] and summary["input_size"] == [96, 48]
    assert summary["input_source"] == dict.fromkeys(("input_size", "pixel_mean", "pixel_std"),
                                                    "config")
    logged = _messages(reid_warnings)
    assert "third_party.pth does not record its input_size, pixel_mean, pixel_std" in logged
    assert "input_size=[96, 48]" in logged
    assert load_encoder(str(tmp_path / "out" / "encoder.torchscript.pt")).input_size == (96, 48)


def test_training_checkpoint_input_size_comes_from_its_config(encoder):
    cfg = load_config(None, ["INPUT.SIZE", "(128, 64)"])
    state = {"models": {"E_id": encoder.state_dict()}, "encoder_config": encoder.config(),
             "config": cfg.dump()}
    assert checkpoint_description(state, "last.pth") == {
        "backbone": BACKBONE, "embed_dim": EMBED_DIM, "input_size": [128, 64],
        "pixel_mean": [0.5] * 3, "pixel_std": [0.5] * 3}
    assert checkpoint_description({"conv.weight": torch.zeros(1)}, "raw.pth") == {}


def test_version_1_files_still_load(encoder, tmp_path, reid_warnings):
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    path = str(tmp_path / "v1_export.pth")
    atomic_save({"format": ENCODER_FORMAT, "version": 1, "encoder_config": encoder.config(),
                 "state_dict": state, "input_size": [128, 64], "output": "l2-normalised"}, path)
    model, report = load_identity_encoder(path)
    assert report.clean and model.config() == encoder.config()
    predictor = load_encoder(path)
    assert predictor.input_size == TRAIN_SIZE and predictor.pixel_std == [0.5] * 3
    arrays = _uint8_images(2)
    assert torch.allclose(predictor(arrays), _reference(encoder, arrays), atol=1e-5)
    # a version-1 trainer copy recorded no input size: the default, with a warning
    atomic_save({"format": ENCODER_FORMAT, "version": 1, "encoder_config": encoder.config(),
                 "state_dict": state}, path)
    assert load_encoder(path).input_size == (256, 128)
    assert "does not record its input size" in _messages(reid_warnings)
    atomic_save({"format": ENCODER_FORMAT, "version": 3, "encoder_config": encoder.config(),
                 "state_dict": state}, path)
    with pytest.raises(RuntimeError, match="version 3 is newer"):
        load_encoder(path)


def test_custom_statistics_are_used_by_every_export(encoder, tmp_path):
    """A file recording ImageNet statistics: inputs are normalised with them, end to end."""
    out = str(tmp_path / "imagenet")
    summary = export_encoder(encoder, out, formats=("state_dict", "torchscript"),
                             input_size=TRAIN_SIZE, batch=2, pixel_mean=IMAGENET_MEAN,
                             pixel_std=IMAGENET_STD)
    assert summary["ok"] and summary["pixel_mean"] == list(IMAGENET_MEAN)
    assert summary["input_range"][0] < -2.0 and summary["input_range"][1] > 2.5
    arrays = _uint8_images(2)
    reference = _reference(encoder, arrays)
    rgb = torch.from_numpy(arrays).permute(0, 3, 1, 2) / 255.0
    imagenet = (rgb - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for name in ("encoder.pth", "encoder.torchscript.pt"):
        predictor = load_encoder(os.path.join(out, name))
        assert predictor.pixel_mean == list(IMAGENET_MEAN), name
        assert torch.allclose(predictor.prepare(arrays), imagenet, atol=1e-6), name
        assert torch.allclose(predictor(arrays), reference, atol=1e-5), name
        assert torch.allclose(predictor(imagenet, normalized=True), reference, atol=1e-5), name
        with pytest.raises(ValueError, match="normalized=True"):
            predictor(imagenet)  # ImageNet-normalised values are not RGB in [0, 1]


def _broken_file(encoder, path):
    state = {k: v.clone() for k, v in encoder.state_dict().items()}
    del state["embedding.bias"]
    state["extra_head.weight"] = torch.zeros(4, 4)
    state["embedding_bn.weight"] = torch.ones(3)
    atomic_save({"format": ENCODER_FORMAT, "version": 2, "encoder_config": encoder.config(),
                 "state_dict": state, "input_size": [128, 64]}, path)
    return path


@pytest.mark.parametrize("loader", [load_encoder, reid.load_encoder])
def test_load_encoder_is_strict_by_default(encoder, tmp_path, reid_warnings, loader):
    path = _broken_file(encoder, str(tmp_path / "broken.pth"))
    with pytest.raises(RuntimeError) as error:
        loader(path)
    message = str(error.value)
    assert "broken.pth" in message and "strict=False" in message
    assert "1 missing" in message and "embedding.bias" in message
    assert "1 unexpected" in message and "extra_head.weight" in message
    assert "embedding_bn.weight (checkpoint (3,) vs model (16,))" in message
    assert not reid_warnings

    predictor = loader(path, strict=False)
    logged = _messages(reid_warnings)
    assert "key mismatches" in logged
    assert all(k in logged for k in ("embedding.bias", "extra_head.weight", "embedding_bn.weight"))
    assert predictor.input_size == TRAIN_SIZE
    assert predictor(_uint8_images(1)).shape == (1, EMBED_DIM)


def test_float_inputs_have_one_meaning(encoder, tmp_path):
    path = str(tmp_path / "e_id.pth")
    save_identity_encoder(encoder, path, input_size=TRAIN_SIZE)
    predictor = load_encoder(path)
    arrays = _uint8_images(3, seed=1)
    from_uint8 = predictor(arrays)
    rgb = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255.0  # e.g. TF.to_tensor
    assert torch.allclose(predictor(rgb), from_uint8, atol=1e-6)
    assert torch.allclose(predictor(list(rgb)), from_uint8, atol=1e-6)
    assert torch.allclose(predictor(rgb * 2 - 1, normalized=True), from_uint8, atol=1e-5)
    # resizing a [0, 1] float image equals resizing the same image given normalised
    small = rgb[:, :, ::2, ::2]
    assert torch.allclose(predictor(small), predictor(small * 2 - 1, normalized=True),
                          atol=1e-5)

    with pytest.raises(ValueError, match=r"\[0, 255\].*divide by 255"):
        predictor(rgb * 255)
    with pytest.raises(ValueError, match=r"RGB in \[0, 1\].*normalized=True"):
        predictor(rgb * 2 - 1)
    with pytest.raises(ValueError, match=r"normalized=True.*within \[-1, 1\]"):
        predictor(rgb * 255, normalized=True)
    with pytest.raises(ValueError, match="uint8"):
        predictor(arrays, normalized=True)
    with pytest.raises(ValueError, match=r"got values in \[-0.5, 1\]"):
        predictor([rgb[0], rgb[1] - 0.5])
    with pytest.raises(ValueError, match="NaN"):
        predictor(torch.full((1, 3, *TRAIN_SIZE), float("nan")))
