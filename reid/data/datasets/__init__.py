"""Dataset readers. Importing this package registers the built-in readers."""
from . import dukemtmc, folder, generic, market1501, msmt17  # noqa: F401  (register readers)
from .base import UNKNOWN_PID, DatasetFormatError, DatasetLayoutError, ReIDDataset
from .registry import (available_datasets, build_dataset, canonical_name, reader_accepts,
                       register_dataset)

__all__ = [
    "DatasetFormatError",
    "DatasetLayoutError",
    "ReIDDataset",
    "UNKNOWN_PID",
    "available_datasets",
    "build_dataset",
    "canonical_name",
    "reader_accepts",
    "register_dataset",
]
