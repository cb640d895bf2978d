"""The synthetic multi-camera person dataset: the project's embedded default dataset.

``make_synthetic_dataset(out_dir, ...)`` writes it (Market-1501 layout, ground-truth body
parameters, structure maps at 8 angles); the ReID side builds it on first use
(:func:`reid.data.synthetic.ensure_synthetic_dataset`).
"""
from .dataset import MARKER, is_complete, make_synthetic_dataset, plan_images, synthetic_dataset_dir

__all__ = ["MARKER", "is_complete", "make_synthetic_dataset", "plan_images", "synthetic_dataset_dir"]
