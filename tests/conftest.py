import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def _seed_everything():
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


class _Records:
    """A logging handler that keeps the messages it receives."""

    def __init__(self):
        import logging

        self.handler = logging.Handler()
        self.messages: list = []
        self.handler.emit = lambda record: self.messages.append(record.getMessage())


def _capture(name: str):
    """Collect the messages (INFO and up) of logger ``name`` while the fixture lives; the
    project's loggers do not propagate to pytest's own capture."""
    import logging

    records, logger = _Records(), logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(records.handler)
    yield records.messages
    logger.removeHandler(records.handler)
    logger.setLevel(level)


@pytest.fixture
def reid_log():
    """Messages of the ``reid`` logger during the test."""
    yield from _capture("reid")


@pytest.fixture
def checkpoint_log():
    """Messages of the ``reid.checkpoint`` logger during the test."""
    yield from _capture("reid.checkpoint")


@pytest.fixture
def lock_log():
    """Messages of the ``reid.run_lock`` logger during the test."""
    yield from _capture("reid.run_lock")
