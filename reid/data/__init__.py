"""ReID data: dataset readers, image reading, transforms, identity samplers, loaders, toy data.

>>> from reid.data import build_dataset, make_toy_reid_folder
>>> dataset = build_dataset("market1501", make_toy_reid_folder("toy_data"))
"""
from .datasets import (UNKNOWN_PID, DatasetFormatError, DatasetLayoutError, ReIDDataset,
                       available_datasets, build_dataset, canonical_name, register_dataset)
from .build import (build_dataset_from_cfg, build_test_loader, build_test_loader_from_cfg,
                    build_train_loader, build_train_loader_from_cfg)
from .image_io import ImageDataset, ImageReadError, read_image, readable_training_indices
from .samplers import RandomIdentitySampler
from .toy import make_toy_reid_folder
from .transforms import (PairedTrainTransform, RandomErasing, build_test_transform,
                         build_train_transform)

__all__ = [
    "DatasetFormatError",
    "DatasetLayoutError",
    "ImageDataset",
    "ImageReadError",
    "PairedTrainTransform",
    "RandomErasing",
    "RandomIdentitySampler",
    "ReIDDataset",
    "UNKNOWN_PID",
    "available_datasets",
    "build_dataset",
    "build_dataset_from_cfg",
    "build_test_loader",
    "build_test_loader_from_cfg",
    "build_test_transform",
    "build_train_loader",
    "build_train_loader_from_cfg",
    "build_train_transform",
    "canonical_name",
    "make_toy_reid_folder",
    "read_image",
    "readable_training_indices",
    "register_dataset",
]
