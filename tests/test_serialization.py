"""Checkpoint files load with weights_only=True; legacy pickles need an explicit opt-in."""
import os
import random

import numpy as np
import pytest
import torch

from reid.config import get_cfg_defaults
from reid.models import build_identity_encoder, load_identity_encoder, save_identity_encoder
from common.io import atomic_save
from common.seed import get_rng_state, set_rng_state
from common.serialization import TRUST_PICKLE_ENV, UnsafeCheckpointError, load_checkpoint_file


class _Custom:
    """A class a weights-only load cannot rebuild."""

    def __init__(self, value):
        self.value = value


def _plain_weights_only_load(path):
    """torch.load(weights_only=True) with the module's numpy allow-list and nothing else."""
    from common.serialization import SAFE_GLOBALS

    with torch.serialization.safe_globals(SAFE_GLOBALS):
        return torch.load(path, map_location="cpu", weights_only=True)


def test_numpy_rng_and_config_text_round_trip(tmp_path):
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    state = {"labels": np.array([0, 1, -1, 1], dtype=np.int64), "score": np.float64(0.25),
             "rng": get_rng_state(), "config": get_cfg_defaults().dump(),
             "history": [{"epoch": 0, "mAP": 12.5}], "nested": ((1, 2), [torch.ones(2)])}
    path = atomic_save(state, str(tmp_path / "state.pth"))
    loaded = _plain_weights_only_load(path)
    assert loaded["labels"].dtype == np.int64
    np.testing.assert_array_equal(loaded["labels"], state["labels"])
    assert float(loaded["score"]) == 0.25
    assert loaded["config"] == state["config"]
    assert torch.equal(loaded["nested"][1][0], torch.ones(2))
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(loaded["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.parametrize("bad, where", [
    ({"cfg": get_cfg_defaults()}, "['cfg']"),
    ({"a": [1, _Custom(2)]}, "['a'][1]"),
    ({"arr": np.array([object(), 1], dtype=object)}, "['arr']"),
])
def test_save_refuses_what_weights_only_cannot_read(tmp_path, bad, where):
    path = tmp_path / "bad.pth"
    with pytest.raises(TypeError) as info:
        atomic_save(bad, str(path))
    assert where in str(info.value)
    assert not path.exists() and os.listdir(tmp_path) == []  # nothing half-written


def _legacy_file(tmp_path):
    path = str(tmp_path / "legacy.pth")
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": _Custom(5)}, path)
    return path


def test_legacy_pickle_is_refused_with_the_opt_in_named(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_PICKLE_ENV, raising=False)
    path = _legacy_file(tmp_path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert path in message and TRUST_PICKLE_ENV in message and "trust_pickle=True" in message
    assert "_Custom" in message  # the refused global is named


def test_legacy_pickle_loads_on_explicit_opt_in(tmp_path, monkeypatch):
    path = _legacy_file(tmp_path)
    monkeypatch.delenv(TRUST_PICKLE_ENV, raising=False)
    assert load_checkpoint_file(path, trust_pickle=True)["extra"].value == 5
    monkeypatch.setenv(TRUST_PICKLE_ENV, "1")
    assert load_checkpoint_file(path)["extra"].value == 5
    with pytest.raises(UnsafeCheckpointError):  # an explicit False wins over the environment
        load_checkpoint_file(path, trust_pickle=False)


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_checkpoint_file(str(tmp_path / "absent.pth"))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match="corrupt.pth"):
        load_checkpoint_file(str(corrupt))


def test_legacy_pickled_numpy_state_dict_loads_weights_only(tmp_path):
    """Third-party files holding numpy scalars next to the weights (torchreid's rank1) load."""
    path = str(tmp_path / "torchreid_style.pth")
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 60, "rank1": np.float64(0.9)},
               path)
    state = load_checkpoint_file(path, trust_pickle=False)
    assert float(state["rank1"]) == 0.9 and torch.equal(state["state_dict"]["w"], torch.ones(2))


def test_identity_encoder_file_is_weights_only(tmp_path):
    cfg = get_cfg_defaults()
    cfg.MODEL.BACKBONE = "resnet18"
    model = build_identity_encoder(cfg, pretrained=False)
    path = save_identity_encoder(model, str(tmp_path / "encoder.pth"))
    payload = _plain_weights_only_load(path)
    assert payload["encoder_config"] == model.config()
    loaded, report = load_identity_encoder(path)
    assert report.clean


def test_hmr_checkpoint_is_weights_only(tmp_path):
    from mesh.hmr import HMRRegressor

    model = HMRRegressor(num_iterations=1)
    path = model.save_checkpoint(str(tmp_path / "hmr.pth"))
    payload = _plain_weights_only_load(path)
    assert set(payload["state_dict"]) == set(model.state_dict())
    other = HMRRegressor(num_iterations=1)
    assert other.load_checkpoint(path, strict=True).clean
