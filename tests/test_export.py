"""Export round trips (state dict, TorchScript, ONNX) and the ready-to-use encoder predictor."""
import importlib.util
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from reid.export import (EncoderPredictor, NormalisedEncoder, export_encoder, load_encoder,
                         parse_formats)
from reid.models import IdentityEncoder, save_identity_encoder

INPUT_SIZE = (64, 32)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    model = IdentityEncoder("mobilenetv3_small_050", num_parts=2, embed_dim=32)
    # non-trivial BN statistics so that train/eval mix-ups would show
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, *INPUT_SIZE) * 2 - 1)
    return model.eval()


@pytest.fixture(scope="module")
def exported(encoder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("export"))
    summary = export_encoder(encoder, out, input_size=INPUT_SIZE, batch=3)
    return out, summary


def _reference(encoder, images):
    with torch.no_grad():
        return NormalisedEncoder(encoder).eval()(images)


def _uint8_images(n=3, size=INPUT_SIZE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *size, 3), dtype=np.uint8)


def test_export_writes_every_format_and_checks_it(exported):
    out, summary = exported
    files = sorted(os.listdir(out))
    assert files == ["encoder.onnx", "encoder.pth", "encoder.torchscript.pt", "export.json"]
    on_disk = json.load(open(os.path.join(out, "export.json")))
    assert on_disk["ok"] and summary["ok"]
    assert on_disk["input_size"] == list(INPUT_SIZE) and on_disk["embed_dim"] == 32
    assert on_disk["check_batch_sizes"] == [3, 1]
    for name in ("state_dict", "torchscript", "onnx"):
        assert on_disk["formats"][name]["max_abs_diff"] < 1e-4, name


def test_onnx_has_dynamic_batch_and_metadata(encoder, exported):
    import onnx
    import onnxruntime

    out, _ = exported
    path = os.path.join(out, "encoder.onnx")
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(meta["encoder.json"])["input_size"] == list(INPUT_SIZE)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    images = torch.rand(5, 3, *INPUT_SIZE) * 2 - 1
    got = session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    assert got.shape == (5, 32)
    assert np.allclose(got, _reference(encoder, images).numpy(), atol=1e-4)


@pytest.mark.parametrize("target", ["folder", "encoder.pth", "encoder.torchscript.pt"])
def test_load_encoder_matches_pytorch(encoder, exported, target):
    out, _ = exported
    path = out if target == "folder" else os.path.join(out, target)
    predictor = load_encoder(path)
    assert isinstance(predictor, EncoderPredictor) and not predictor.training
    assert predictor.input_size == INPUT_SIZE
    arrays = _uint8_images(4)
    expected = _reference(encoder, torch.from_numpy(arrays).permute(0, 3, 1, 2) / 127.5 - 1)
    got = predictor(arrays)
    assert got.shape == (4, 32)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got.norm(dim=1), torch.ones(4), atol=1e-5)


def test_predictor_accepts_every_input_kind(exported):
    predictor = load_encoder(exported[0])
    arrays = _uint8_images(3)
    base = predictor(arrays)
    floats = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 127.5 - 1
    routes = {
        "single array": torch.cat([predictor(a) for a in arrays]),
        "list of arrays": predictor(list(arrays)),
        "PIL images": predictor([Image.fromarray(a) for a in arrays]),
        "float RGB in [0, 1]": predictor(torch.from_numpy(arrays).permute(0, 3, 1, 2) / 255.0),
        "normalised float tensor": predictor(floats, normalized=True),
        "single float tensor": predictor(floats[0], normalized=True),
        "uint8 CHW tensor": predictor(torch.from_numpy(arrays).permute(0, 3, 1, 2)),
        "uint8 HWC tensor": predictor(torch.from_numpy(arrays)),
        "chunked": predictor(arrays, batch_size=2),
    }
    for name, got in routes.items():
        expected = base[:1] if name == "single float tensor" else base
        assert torch.allclose(got, expected, atol=1e-5), name
    # other sizes are resized (bilinear, antialiased), also in mixed-size lists
    big = _uint8_images(1, (128, 64), seed=1)[0]
    resized = F.interpolate(torch.from_numpy(big).permute(2, 0, 1)[None].float() / 127.5 - 1,
                            size=INPUT_SIZE, mode="bilinear", antialias=True)
    assert torch.allclose(predictor(big), predictor(resized, normalized=True), atol=1e-5)
    mixed = predictor([big, arrays[0]])
    assert torch.allclose(mixed, torch.cat([predictor(big), base[:1]]), atol=1e-5)
    predictor.train()
    assert not predictor.training


def test_predictor_rejects_bad_inputs(exported, tmp_path):
    predictor = load_encoder(exported[0])
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        predictor(torch.rand(1, 3, *INPUT_SIZE) * 255)
    with pytest.raises(ValueError, match="uint8"):
        predictor(np.zeros((*INPUT_SIZE, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="cannot embed"):
        predictor("image.jpg")
    with pytest.raises(ValueError, match="onnxruntime"):
        load_encoder(os.path.join(exported[0], "encoder.onnx"))
    with pytest.raises(FileNotFoundError, match="encoder.pth"):
        load_encoder(str(tmp_path))


def test_format_names_are_checked():
    assert parse_formats("state_dict, onnx") == ("state_dict", "onnx")
    with pytest.raises(ValueError, match="tflite"):
        parse_formats("state_dict,tflite")


def test_export_tool_end_to_end(encoder, tmp_path, capsys):
    weights = str(tmp_path / "e_id.pth")
    save_identity_encoder(encoder, weights)
    spec = importlib.util.spec_from_file_location("export_tool",
                                                  os.path.join(ROOT, "tools", "export.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / "out")
    status = tool.main(["--weights", weights, "--output", out, "--formats", "state_dict",
                        "INPUT.SIZE", "(64, 32)"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "state_dict" in printed and "ok" in printed
    summary = json.load(open(os.path.join(out, "export.json")))
    assert list(summary["formats"]) == ["state_dict"] and summary["input_size"] == [64, 32]
    assert summary["key_report"] == {"missing": [], "unexpected": [], "shape_mismatch": []}
    # saved without an input size: INPUT.SIZE of the config is the (logged) fallback
    assert summary["input_source"] == {"input_size": "config", "pixel_mean": "checkpoint",
                                       "pixel_std": "checkpoint"}
    assert os.path.isfile(os.path.join(out, "config.yaml"))
    assert load_encoder(out).input_size == INPUT_SIZE


def test_channels_last_encoder_exports_like_the_contiguous_one(encoder, exported, tmp_path):
    """A model trained with SOLVER.CHANNELS_LAST exports the same weights in the default layout."""
    import copy

    channels_last = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
    out = str(tmp_path / "cl")
    export_encoder(channels_last, out, formats=("state_dict",), input_size=INPUT_SIZE, batch=3)
    a = torch.load(os.path.join(out, "encoder.pth"), weights_only=False)
    b = torch.load(os.path.join(exported[0], "encoder.pth"), weights_only=False)
    a, b = a.get("state_dict", a), b.get("state_dict", b)
    assert set(a) == set(b)
    for key in a:
        if torch.is_tensor(a[key]):
            assert torch.equal(a[key], b[key]) and a[key].is_contiguous(), key
