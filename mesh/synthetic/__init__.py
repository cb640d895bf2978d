"""The synthetic multi-camera person dataset: the project's embedded default dataset.

``make_synthetic_dataset(out_dir, ...)`` writes it (Market-1501 layout, ground-truth body
parameters, structure maps at 8 angles); ``ensure_synthetic_dataset(cfg)`` builds it on first use.
"""
from .dataset import (MARKER, ensure_synthetic_dataset, is_complete, make_synthetic_dataset,
                      plan_images, synthetic_dataset_dir)

__all__ = ["MARKER", "ensure_synthetic_dataset", "is_complete", "make_synthetic_dataset",
           "plan_images", "synthetic_dataset_dir"]
