"""Identity encoder E_id: shapes, generic timm backbones, weights files and checkpoint formats."""
import os

import pytest
import timm
import torch

from reid.config import load_config
from reid.models import (IdentityEncoder, IdentityFeatures, build_identity_encoder,
                         load_identity_encoder, save_identity_encoder)
from reid.models.backbone import IMAGENET_MEAN, IMAGENET_STD
from common.io import atomic_save

SMALL = (64, 32)


def _images(batch=2, size=SMALL, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=gen) * 2 - 1


@pytest.fixture(scope="module")
def small_encoder():
    torch.manual_seed(0)
    return IdentityEncoder("resnet18", embed_dim=64).eval()


def test_resnet50_shapes_and_parameter_count():
    model = IdentityEncoder("resnet50").eval()
    assert model.feature_dim == 2048 and model.embed_dim == 512 and model.num_parts == 4
    assert model.strided_layers_changed == ["layer4.0.conv2", "layer4.0.downsample.0"]
    params = sum(p.numel() for p in model.parameters())
    assert abs(params - 24.56e6) < 0.02e6, params
    with torch.no_grad():
        out = model.forward_all(_images(2, (256, 128)))
    assert isinstance(out, IdentityFeatures)
    assert out.feature_map.shape == (2, 2048, 16, 8)
    assert out.parts.shape == (2, 2048, 4)
    assert out.embedding.shape == (2, 512)


def test_forward_heads_agree(small_encoder):
    x = _images(3)
    with torch.no_grad():
        out = small_encoder.forward_all(x)
        emb = small_encoder(x)
    assert emb.shape == (3, 64)
    assert torch.allclose(emb, out.embedding, atol=1e-6)
    # last stride 1: 64x32 input -> 4x2 (stride 16) instead of 2x1
    assert out.feature_map.shape == (3, 512, 4, 2)
    # parts = means of horizontal stripes of the feature map
    stripes = out.feature_map.view(3, 512, 4, 1, 2).mean(dim=(3, 4))
    assert torch.allclose(out.parts, stripes, atol=1e-6)
    # embedding = BN(Linear(global average))
    pooled = out.feature_map.mean(dim=(2, 3))
    assert torch.allclose(small_encoder.embedding_bn(small_encoder.embedding(pooled)), emb,
                          atol=1e-5)


def test_input_is_converted_to_imagenet_statistics_inside(small_encoder):
    x = _images(1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = ((x + 1) / 2 - mean) / std
    got = x * small_encoder.input_scale + small_encoder.input_shift
    assert torch.allclose(got, expected, atol=1e-6)
    # the conversion buffers are not part of the checkpoint
    assert "input_scale" not in small_encoder.state_dict()


def test_bad_input_shape_is_a_clear_error(small_encoder):
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        small_encoder(torch.zeros(2, 1, 64, 32))


def test_generic_timm_cnn_last_stride():
    name = "mobilenetv3_small_100"  # an inverted-residual CNN, not a ResNet
    stride1 = IdentityEncoder(name, last_stride=1, num_parts=2, embed_dim=32).eval()
    stride2 = IdentityEncoder(name, last_stride=2, num_parts=2, embed_dim=32).eval()
    assert stride1.strided_layers_changed and not stride2.strided_layers_changed
    with torch.no_grad():
        fm1 = stride1.forward_all(_images(2)).feature_map
        out2 = stride2.forward_all(_images(2))
    assert fm1.shape[-2:] == (4, 2) and out2.feature_map.shape[-2:] == (2, 1)
    assert out2.parts.shape == (2, stride2.feature_dim, 2)
    assert out2.embedding.shape == (2, 32)


def test_config_rebuilds_and_bad_arguments(small_encoder):
    clone = IdentityEncoder(**small_encoder.config())
    assert clone.config() == small_encoder.config()
    assert set(clone.state_dict()) == set(small_encoder.state_dict())
    with pytest.raises(ValueError, match="not a timm model"):
        IdentityEncoder("resnet_does_not_exist")
    with pytest.raises(ValueError, match="LAST_STRIDE"):
        IdentityEncoder("resnet18", last_stride=3)


def test_build_from_config():
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.EMBED_DIM", "128",
                             "MODEL.NUM_PARTS", "2"])
    model = build_identity_encoder(cfg)
    assert model.config() == {"backbone": "resnet18", "last_stride": 1, "num_parts": 2,
                              "embed_dim": 128}


def test_missing_pretrained_file_names_the_path(tmp_path):
    path = str(tmp_path / "resnet18-imagenet.pth")
    with pytest.raises(FileNotFoundError) as err:
        IdentityEncoder("resnet18", pretrained_path=path)
    assert path in str(err.value) and "MODEL.PRETRAINED_PATH" in str(err.value)


def test_pretrained_file_in_torchvision_layout_with_prefix(tmp_path):
    imagenet = timm.create_model("resnet18", num_classes=1000)  # has fc.weight / fc.bias
    path = str(tmp_path / "imagenet.pth")
    atomic_save({"state_dict": {"module." + k: v for k, v in imagenet.state_dict().items()}},
                path)
    model = IdentityEncoder("resnet18", pretrained_path=path)
    report = model.pretrained_report
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"]
    assert report.missing == [] and report.shape_mismatch == []
    assert torch.equal(model.backbone.layer3[1].conv2.weight, imagenet.layer3[1].conv2.weight)


def test_save_and_load_round_trip(tmp_path, small_encoder):
    path = str(tmp_path / "e_id.pth")
    save_identity_encoder(small_encoder, path, extra={"epoch": 3}, input_size=(64, 32))
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "gcl-reid-identity-encoder" and payload["version"] == 2
    assert payload["input_size"] == [64, 32] and payload["epoch"] == 3
    assert payload["backbone"] == "resnet18" and payload["embed_dim"] == 64
    assert payload["pixel_mean"] == [0.5] * 3 and payload["pixel_std"] == [0.5] * 3
    loaded, report = load_identity_encoder(path)  # architecture from the file, not a config
    assert report.clean and not loaded.training
    x = _images(2)
    with torch.no_grad():
        assert torch.allclose(loaded(x), small_encoder(x), atol=1e-6)
    with pytest.raises(ValueError, match="reserved"):
        save_identity_encoder(small_encoder, path, extra={"state_dict": {}})
    with pytest.raises(ValueError, match="reserved"):
        save_identity_encoder(small_encoder, path, extra={"input_size": [64, 32]})
    with pytest.raises(ValueError, match="input_size.*height, width"):
        save_identity_encoder(small_encoder, path, input_size=(64,))
    with pytest.raises(ValueError, match="pixel_std.*positive"):
        save_identity_encoder(small_encoder, path, input_size=(64, 32), pixel_std=(0.5, 0, 0.5))


def test_load_training_checkpoint(tmp_path, small_encoder):
    path = str(tmp_path / "checkpoint.pth")
    atomic_save({"epoch": 3, "models": {"E_id": small_encoder.state_dict(), "G": {}}}, path)
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.EMBED_DIM", "64"])
    model, report = load_identity_encoder(path, cfg)
    assert report.clean
    assert torch.equal(model.embedding.weight, small_encoder.embedding.weight)
    atomic_save({"models": {"G": {}}}, path)
    with pytest.raises(RuntimeError, match="E_id"):
        load_identity_encoder(path, cfg)


def test_other_formats_report_keys_by_name(tmp_path, small_encoder):
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.EMBED_DIM", "64"])
    backbone = small_encoder.backbone.state_dict()

    # fast-reid: backbone.* + BN-neck heads + pixel statistics
    fastreid = {"model": {**{"backbone." + k: v for k, v in backbone.items()},
                          "heads.bottleneck.0.weight": torch.ones(512),
                          "heads.weight": torch.zeros(10, 512),
                          "pixel_mean": torch.zeros(1, 3, 1, 1)}}
    atomic_save(fastreid, str(tmp_path / "fastreid.pth"))
    model, report = load_identity_encoder(str(tmp_path / "fastreid.pth"), cfg)
    assert set(report.unexpected) == {"heads.bottleneck.0.weight", "heads.weight", "pixel_mean"}
    assert "embedding.weight" in report.missing and "embedding_bn.running_mean" in report.missing
    assert not any(k.startswith("backbone.") for k in report.missing)
    assert torch.equal(model.backbone.conv1.weight, small_encoder.backbone.conv1.weight)

    # torchreid / DataParallel: module. prefix on a bare ResNet + classifier
    torchreid = {"state_dict": {**{"module." + k: v for k, v in backbone.items()},
                                "module.classifier.weight": torch.zeros(10, 512)}}
    atomic_save(torchreid, str(tmp_path / "torchreid.pth"))
    _, report = load_identity_encoder(str(tmp_path / "torchreid.pth"), cfg)
    assert report.unexpected == ["classifier.weight"]
    assert sorted(k.split(".")[0] for k in report.missing) == ["embedding"] * 2 + \
        ["embedding_bn"] * 5

    # SpCL / cluster-contrast: base = Sequential(conv1, bn1, maxpool, layer1..4), feat, feat_bn
    children = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    index = dict(zip(children, [0, 1, 3, 4, 5, 6]))
    spcl = {f"module.base.{index[k.split('.')[0]]}.{k.split('.', 1)[1]}": v
            for k, v in backbone.items()}
    spcl.update({"module.feat." + k: v for k, v in small_encoder.embedding.state_dict().items()})
    spcl.update({"module.feat_bn." + k: v
                 for k, v in small_encoder.embedding_bn.state_dict().items()})
    spcl["module.classifier.weight"] = torch.zeros(10, 64)
    atomic_save(spcl, str(tmp_path / "spcl.pth"))
    model, report = load_identity_encoder(str(tmp_path / "spcl.pth"), cfg)
    assert report.unexpected == ["classifier.weight"] and report.missing == []
    x = _images(2)
    with torch.no_grad():
        assert torch.allclose(model(x), small_encoder(x), atol=1e-6)


def test_shape_mismatch_and_strict(tmp_path, small_encoder):
    path = str(tmp_path / "raw.pth")
    atomic_save(small_encoder.state_dict(), path)  # raw state dict: architecture from cfg
    cfg = load_config(None, ["MODEL.BACKBONE", "resnet18", "MODEL.EMBED_DIM", "32"])
    _, report = load_identity_encoder(path, cfg)
    mismatched = {m.split(" ")[0] for m in report.shape_mismatch}
    assert {"embedding.weight", "embedding.bias", "embedding_bn.weight"} <= mismatched
    assert report.missing == [] and report.unexpected == []
    with pytest.raises(RuntimeError, match="embedding.weight"):
        load_identity_encoder(path, cfg, strict=True)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_identity_encoder(str(tmp_path / "absent.pth"), cfg)


def test_timm_weights_only_on_request(monkeypatch):
    calls = []
    real_create = timm.create_model

    def recording_create(name, **kwargs):
        calls.append(kwargs.get("pretrained"))
        return real_create(name, **{**kwargs, "pretrained": False})  # no network in tests

    monkeypatch.setattr(timm, "create_model", recording_create)
    IdentityEncoder("resnet18")
    IdentityEncoder("resnet18", pretrained_from_timm=True)
    assert calls == [False, True]
    with pytest.raises(ValueError, match="not both"):
        IdentityEncoder("resnet18", pretrained_path="x.pth", pretrained_from_timm=True)
