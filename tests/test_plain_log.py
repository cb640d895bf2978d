"""The plain progress log of batch jobs (SOLVER.PROGRESS): its line format, the automatic choice
when stdout is not a terminal, and one line every SOLVER.LOG_PERIOD iterations."""
import io
import logging
import re

import numpy as np
import pytest
import torch

import reid.engine.loop as loop
from common.config import ConfigError
from common.logging import progress_line, progress_mode
from reid.config import load_config
from reid.engine.context import TrainingContext

# The documented format (common.logging.progress_line), written out independently.
LINE = re.compile(
    r"^(?P<stage>\w+) epoch (?P<epoch>\d+)/(?P<epochs>\d+) iter (?P<it>\d+)/(?P<iters>\d+)"
    r" \| (?P<terms>(?:\w+=\S+ ?)+|-)"
    r" \| lr (?P<lr>-|\d\.\d{3}e[+-]\d{2})"
    r" \| (?P<rate>\d+\.\d{2}) it/s"
    r" \| eta (?P<eta>\d+:\d{2}:\d{2})"
    r"(?: \| mem (?P<mem>\d+) MiB)?$")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_format():
    line = progress_line("joint", 3, 20, 40, 200, {"L_vi": 1.23456, "adv": 0.25, "vi_skipped": 2},
                         3.5e-4, 2.0, peak_memory_mib=10240.4)
    assert line == ("joint epoch 3/20 iter 40/200 | L_vi=1.235 adv=0.25 vi_skipped=2 | "
                    "lr 3.500e-04 | 2.00 it/s | eta 0:01:20 | mem 10240 MiB")
    match = LINE.match(line)
    assert match and match["mem"] == "10240" and match["eta"] == "0:01:20"
    cpu_line = progress_line("gan_warmup", 1, 1, 5, 5, {}, None, 0.0)
    assert cpu_line == "gan_warmup epoch 1/1 iter 5/5 | - | lr - | 0.00 it/s | eta 0:00:00"
    assert LINE.match(cpu_line)["mem"] is None


def test_auto_picks_the_plain_log_when_stdout_is_not_a_terminal(monkeypatch):
    assert progress_mode("auto", io.StringIO()) == "log"
    assert progress_mode("auto", _Terminal()) == "bar"
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert progress_mode("auto") == "log"
    monkeypatch.setattr("sys.stdout", _Terminal())
    assert progress_mode("auto") == "bar"
    assert progress_mode("log", _Terminal()) == "log" and progress_mode("bar", io.StringIO()) == "bar"
    with pytest.raises(ValueError, match="SOLVER.PROGRESS"):
        progress_mode("quiet")


def test_progress_key_is_validated():
    assert load_config(None).SOLVER.PROGRESS == "auto"
    with pytest.raises(ConfigError, match=r"SOLVER.PROGRESS must be one of auto, bar, log; got 'lg'"):
        load_config(None, ["SOLVER.PROGRESS", "lg"])


def _ctx(progress, period, logger):
    cfg = load_config(None, ["SOLVER.PROGRESS", progress, "SOLVER.LOG_PERIOD", str(period)])
    return TrainingContext(cfg=cfg, device=torch.device("cpu"), logger=logger, output_dir="",
                           dataset=None, train_items=[], monitor_ids=np.zeros(0),
                           encoder=torch.nn.Identity())


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def _run(progress, period, iterations=10, name="test_plain_log"):
    logger = logging.getLogger(name)
    logger.handlers, logger.propagate = [], False
    logger.setLevel(logging.INFO)
    handler = _Lines()
    logger.addHandler(handler)
    ctx = _ctx(progress, period, logger)
    loader = [{"x": torch.full((2,), float(i))} for i in range(iterations + 2)]
    result = loop.run_epoch(ctx, "baseline", loader, iterations, 1, 4,
                            lambda batch: {"loss": float(batch["x"][0]) / 8, "skipped": 0},
                            batch_key="SOLVER.BASELINE.BATCH_SIZE", lr=0.00035)
    assert result.iterations == iterations and ctx.global_step == iterations
    return handler.lines


def test_plain_log_writes_one_line_every_log_period(monkeypatch):
    def no_bar(*args, **kwargs):
        raise AssertionError("the plain log mode must not build a tqdm bar")

    monkeypatch.setattr(loop, "tqdm", no_bar)
    lines = _run("log", period=3)
    assert len(lines) == 3
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m["it"]) for m in matches] == [3, 6, 9]
    for m in matches:
        assert (m["stage"], m["epoch"], m["epochs"], m["iters"]) == ("baseline", "2", "4", "10")
        assert m["lr"] == "3.500e-04" and m["mem"] is None
        assert float(m["rate"]) >= 0
    assert matches[1]["terms"] == "loss=0.625 skipped=0"  # the terms of iteration 6 (x = 5)


def test_bar_mode_logs_no_progress_lines():
    assert _run("bar", period=1, name="test_plain_log_bar") == []


@pytest.mark.parametrize("progress, terminal, shows_bar", [
    ("log", True, False), ("auto", False, False), ("auto", True, True), ("bar", False, True)])
def test_train_feature_extraction_follows_the_progress_mode(monkeypatch, progress, terminal,
                                                            shows_bar):
    import reid.engine.context as context
    import reid.evaluation.features as features

    batches = [{"img": torch.full((2, 3, 4, 4), i + 1.0), "pid": torch.tensor([i, i]),
                "camid": torch.tensor([0, 1])} for i in range(3)]
    monkeypatch.setattr(context, "build_test_loader", lambda items, **kwargs: batches)
    bars = []
    real_tqdm = features.tqdm

    def recording_tqdm(iterable, **kwargs):
        bars.append(kwargs)
        return real_tqdm(iterable, **kwargs)

    monkeypatch.setattr(features, "tqdm", recording_tqdm)
    monkeypatch.setattr("sys.stdout", _Terminal() if terminal else io.StringIO())
    ctx = _ctx(progress, 1, logging.getLogger("test_plain_log_features"))
    ctx.encoder = torch.nn.Flatten()
    ctx.train_items = list(range(6))
    feats = ctx.extract_train_features()
    assert feats.shape == (6, 48)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(6))
    assert len(bars) == 1 and bars[0]["disable"] is (not shows_bar), bars
