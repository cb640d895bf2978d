"""Batched feature extraction for evaluation, with optional horizontal-flip averaging."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


def extract_features(model: nn.Module, loader: Iterable[dict], device: str | torch.device = "cpu",
                     flip: bool = True, desc: str = "features", progress: bool = True):
    """Embed every image of ``loader``.

    Args:
        model: maps a (B, 3, H, W) batch in [-1, 1] to (B, D) embeddings.
        loader: yields dicts with ``img``, ``pid`` and ``camid`` (``reid.data`` loaders do).
        flip: average the embeddings of each image and its horizontal mirror (before
            normalising).
        progress: show a tqdm bar named ``desc``; callers pass False in the plain-log mode
            (``SOLVER.PROGRESS`` resolving to ``"log"``), where a bar would fill batch logs
            with carriage-return frames.

    Returns:
        ``(features, pids, camids)``: an (N, D) float32 CPU tensor of L2-normalised features and
        two int64 numpy arrays, in loader order.
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    feats, pids, camids = [], [], []
    try:
        with torch.no_grad():
            for batch in tqdm(loader, desc=desc, unit="batch", leave=False,
                              disable=not progress):
                if not isinstance(batch, dict) or "img" not in batch:
                    raise TypeError("extract_features expects batches that are dicts with 'img', "
                                    f"'pid' and 'camid'; got {type(batch).__name__}")
                images = batch["img"].to(device, non_blocking=True)
                embedding = model(images).float()
                if flip:
                    embedding = 0.5 * (embedding + model(torch.flip(images, dims=[3])).float())
                feats.append(embedding.cpu())
                pids.append(torch.as_tensor(batch["pid"]).reshape(-1))
                camids.append(torch.as_tensor(batch["camid"]).reshape(-1))
    finally:
        model.train(was_training)
    if not feats:
        raise ValueError("extract_features: the loader yielded no images")
    features = F.normalize(torch.cat(feats), dim=1)
    return (features, torch.cat(pids).numpy().astype(np.int64),
            torch.cat(camids).numpy().astype(np.int64))
