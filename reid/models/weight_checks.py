"""Checks on weights before they are used: nothing half-loaded, nothing non-finite.

* :func:`check_complete_load`: weights that leave tensors of the model unloaded (missing or
  shape-mismatched keys, i.e. another architecture) are a :class:`PartialLoadError` listing
  them, unless partial loading was asked for (``MODEL.PARTIAL_LOAD True``), which logs the same
  list as a warning. Unexpected keys (an ImageNet classifier, another code base's heads) are
  logged as a warning and ignored: they leave nothing of the model at its initial values.
* :func:`check_finite_weights`: a model with NaN / inf parameters or buffers is a
  :class:`~common.finite.NonFiniteWeightsError` naming the first such tensors.
"""
from __future__ import annotations

import logging

from torch import nn

from common.finite import NonFiniteWeightsError, describe_non_finite, non_finite_tensors
from common.state_dict import KeyReport

_logger = logging.getLogger("reid")

#: BatchNorm's step counters: not weights (only used with ``momentum=None``), and absent from
#: older checkpoints such as torchvision's ImageNet files; never counted as missing.
COUNTER_SUFFIX = "num_batches_tracked"


class PartialLoadError(RuntimeError):
    """Weights that do not fill the model (missing or shape-mismatched tensors)."""


def unloaded_tensors(report: KeyReport) -> list[str]:
    """The model's tensors that ``report``'s load left at their initial values."""
    missing = [k for k in report.missing if not k.endswith(COUNTER_SUFFIX)]
    return missing + list(report.shape_mismatch)


def check_complete_load(report: KeyReport, key: str, partial_load: bool = False,
                        logger: logging.Logger | None = None) -> KeyReport:
    """Refuse a load that left tensors of the model unloaded, unless ``partial_load``.

    ``key`` names where the weights came from (``MODEL.WEIGHTS``, ``--weights``, ...); it is
    quoted in the error and the warnings. Returns ``report``.
    """
    logger = logger or _logger
    unloaded = unloaded_tensors(report)
    total = len(report.loaded) + len(unloaded)
    if unloaded and not partial_load:
        raise PartialLoadError(
            f"{key} {report.source}: only {len(report.loaded)} of the model's {total} tensors "
            f"fit; {len(unloaded)} would keep their initial values (weights of another "
            f"architecture?):\n{report.summary()}\nUse weights of this architecture, or set "
            "MODEL.PARTIAL_LOAD True to load what fits and train / evaluate the rest as it is")
    if unloaded:
        logger.warning("%s: MODEL.PARTIAL_LOAD True: %d of %d tensors loaded, %d left at their "
                       "initial values:\n%s", key, len(report.loaded), total, len(unloaded),
                       report.summary())
    elif report.unexpected:
        logger.warning("%s %s: %d tensors of the file are not part of the model and are "
                       "ignored: %s", key, report.source, len(report.unexpected),
                       ", ".join(report.unexpected[:20]))
    return report


def check_finite_weights(module: nn.Module, where: str) -> None:
    """NonFiniteWeightsError naming the first non-finite parameters / buffers of ``module``;
    ``where`` says what refuses it (e.g. ``"export of model.pth"``)."""
    names = non_finite_tensors(module)
    if names:
        raise NonFiniteWeightsError(
            f"{where}: refused, the encoder's {describe_non_finite(module, names)} (weights "
            "written after training diverged?); nothing was computed or written", names)
