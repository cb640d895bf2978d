"""The synthetic multi-camera person dataset: the project's embedded default dataset.

``make_synthetic_dataset(out_dir, ...)`` writes it (Market-1501 layout, ground-truth body
parameters, structure maps at the given angles); every setting is an explicit argument. The ReID
side builds it from its config on first use (``ensure_synthetic_dataset`` of its views package).
"""
from .dataset import MARKER, is_complete, make_synthetic_dataset, plan_images, synthetic_dataset_dir

__all__ = ["MARKER", "is_complete", "make_synthetic_dataset", "plan_images", "synthetic_dataset_dir"]
