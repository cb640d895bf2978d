"""BatchNorm running statistics that describe real images only.

In GCL's joint stage E_id also encodes generated images (x'_new, the cycle x''_ori, video frames).
In training mode every such pass would fold the batch statistics of generated images into the
BatchNorm running estimates that E_id uses at test time, on real images only. While the generator
is still poor those statistics are far from the real ones: on the synthetic set, 80 joint
iterations with E_id's learning rate at zero (so that only the running estimates moved) lowered
the test mAP from 15.6 to 8.9, and re-estimating them on the real training images restored 14.9.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@contextlib.contextmanager
def frozen_running_stats(module: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, BatchNorm layers of ``module`` in training mode still normalise with the
    batch statistics (outputs and gradients are unchanged) but leave their running mean,
    variance and ``num_batches_tracked`` as they were. ``enabled=False`` changes nothing."""
    saved = []
    for m in module.modules() if enabled else ():
        if isinstance(m, _BatchNorm) and m.training and m.track_running_stats:
            tracked = m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None
            saved.append((m, m.momentum, tracked))
            m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for m, momentum, tracked in saved:
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
