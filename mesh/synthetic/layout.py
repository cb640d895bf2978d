"""The folder layout of a synthetic dataset: its subset folders, its markers and what it owns.

Shared by the generator (:mod:`mesh.synthetic.dataset`) and the contact sheet
(:mod:`mesh.synthetic.preview`).
"""
from __future__ import annotations

#: Written last: the dataset is complete.
MARKER = "SYNTHETIC_COMPLETE.json"
#: Written first, removed last: the generator is writing the folder (or was interrupted).
IN_PROGRESS = "SYNTHETIC_IN_PROGRESS.json"
#: Subset -> its Market-1501 folder.
SUBSET_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
#: Subset -> the split of the structure-map cache its maps are in.
MESH_SPLIT = {"train": "train", "query": "test", "gallery": "test"}
#: The evaluation-only ground-truth novel views of the training images (never read by training).
GROUND_TRUTH_FOLDER = "ground_truth_views"
# Everything the generator writes in its folder, and so all it ever deletes there (files in the
# order they are deleted: the completion marker first, the in-progress marker never).
OWNED_FOLDERS = tuple(SUBSET_FOLDERS.values()) + ("meshes", GROUND_TRUTH_FOLDER)
OWNED_FILES = (MARKER, "annotations.npz", "annotations.json", "preview.png", IN_PROGRESS)

__all__ = ["GROUND_TRUTH_FOLDER", "IN_PROGRESS", "MARKER", "MESH_SPLIT", "OWNED_FILES", "OWNED_FOLDERS", "SUBSET_FOLDERS"]
