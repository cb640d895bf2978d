"""The ground floor: services every package of the project uses and that import nothing else
of ours. ``mesh`` stands on this package alone, ``generators`` on it and ``mesh``, ``reid`` on
all three.

* :mod:`common.config`: yacs trees, YAML files with ``_BASE_``, ``KEY VALUE`` overrides
* :mod:`common.io`: atomic file writes; :mod:`common.serialization`: weights-only checkpoint reads
* :mod:`common.image_io`: reading an image, with an error naming a file that is not one
* :mod:`common.state_dict`: loading state dicts with a report of missing / unexpected keys
* :mod:`common.finite`: refusing non-finite weights on save and load
* :mod:`common.seed`, :mod:`common.device`, :mod:`common.logging`, :mod:`common.precision`
* :mod:`common.distributed`: torch.distributed helpers (one code path with and without torchrun)
* :mod:`common.optional`: optional packages, with an error naming the extra that brings them
* :mod:`common.profiling`: peak memory of a block (CUDA allocator or process RSS)
"""
from .device import resolve_device
from .io import (atomic_save, atomic_write_bytes, atomic_write_image, atomic_write_json,
                 atomic_write_text, read_json_if_present)
from .logging import setup_logger
from .seed import set_seed
from .state_dict import KeyReport, load_state_dict_with_report

__all__ = [
    "KeyReport",
    "atomic_save",
    "atomic_write_bytes",
    "atomic_write_image",
    "atomic_write_json",
    "atomic_write_text",
    "load_state_dict_with_report",
    "read_json_if_present",
    "resolve_device",
    "set_seed",
    "setup_logger",
]
