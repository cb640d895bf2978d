"""Dataset readers. Importing this package registers the built-in readers."""
from . import dukemtmc, generic, market1501, msmt17  # noqa: F401  (register readers)
from .base import DatasetFormatError, DatasetLayoutError, ReIDDataset
from .registry import available_datasets, build_dataset, canonical_name, register_dataset

__all__ = [
    "DatasetFormatError",
    "DatasetLayoutError",
    "ReIDDataset",
    "available_datasets",
    "build_dataset",
    "canonical_name",
    "register_dataset",
]
