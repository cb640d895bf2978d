"""Person-only images for pseudo-labelling: the background replaced by grey using the silhouette
of each image's own original-view (angle 0) structure map.

From a random or weak start, features of whole images group by camera scenery rather than by
person; clustering features of the masked images removes that shortcut without any label (the
structure maps come from the mesh pipeline that GCL needs anyway). Only the features used for
clustering (and the centroids built from them) see masked images; the encoder still trains and
is evaluated on whole images.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from mesh.rotation import ORIGINAL_VIEW
from mesh.structure_cache import StructureMapCache
from reid.data import ImageDataset
from reid.data.transforms import build_test_transform

# Structure maps are grey bodies on white; JPEG noise stays above this value on the background.
BACKGROUND_LEVEL = 245


def silhouette_from_map(structure_map: np.ndarray, size: Sequence[int],
                        background_level: int = BACKGROUND_LEVEL) -> torch.Tensor:
    """(1, H, W) float mask, 1 on the body, from a uint8 (h, w) structure map, resized to ``size``."""
    grey = torch.from_numpy(np.ascontiguousarray(structure_map)).float()[None, None]
    grey = F.interpolate(grey, size=tuple(size), mode="bilinear", align_corners=False)[0]
    return (grey < background_level).float()


class ForegroundMaskedDataset(Dataset):
    """Test-transformed images in [-1, 1] with the background set to 0 (mid-grey)."""

    def __init__(self, items: Sequence[tuple], cache: StructureMapCache, size: Sequence[int],
                 split: str = "train"):
        self.images = ImageDataset(items, build_test_transform(size), skip_unreadable=False)
        self.cache = cache
        self.size = tuple(size)
        self.split = split

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        sample = self.images[index]
        structure_map = self.cache.read(self.split, sample["path"], ORIGINAL_VIEW)
        sample["img"] = sample["img"] * silhouette_from_map(structure_map, self.size)
        return sample


def build_foreground_loader(items: Sequence[tuple], cache: StructureMapCache, size: Sequence[int],
                            batch_size: int = 128, num_workers: int = 2) -> DataLoader:
    """Loader in item order over :class:`ForegroundMaskedDataset` (a missing map raises, naming it)."""
    return DataLoader(ForegroundMaskedDataset(items, cache, size), batch_size=batch_size,
                      shuffle=False, num_workers=num_workers, drop_last=False)
