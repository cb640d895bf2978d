"""Generated person frames as an extra unlabelled training folder.

:func:`write_generated_views` animates every training image of a ReID dataset with a frozen
image-conditioned video generator (:class:`reid.views.video.VideoViewGenerator`) and
writes ``views_per_image`` generated frames per image in the Market-1501 layout::

    OUT/bounding_box_train/{pid:04d}_c{cam}s1_{src:06d}_{k:02d}.jpg
    OUT/manifest.json

``pid`` and ``cam`` (1-based) are the source image's raw identity and camera, so that cluster
purity can still be monitored; ``src`` is the index of the source image in the training list and
``k`` the view number. Writing is batched (one generator call per batch of images x views),
every file is written atomically, and a rerun skips the batches whose files all exist (each batch
draws from its own seed, so a resumed run writes the same frames).

:func:`reid.data.generated_folders.append_extra_train_dirs` (``DATASETS.EXTRA_TRAIN_DIRS``)
appends such folders to the training list of a dataset.
"""
from __future__ import annotations

import io
import os
from typing import Optional, Sequence

import numpy as np
import torch

from common.image_io import read_image
from common.io import atomic_write_bytes, atomic_write_json
from reid.data.datasets.base import ReIDDataset
from reid.data.generated_folders import MANIFEST, TRAIN_FOLDER, generated_view_name

from .video import VideoViewGenerator

def _load_batch(paths: Sequence[str], size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1]: the images resized (bilinear) to ``size``."""
    from PIL import Image

    arrays = [np.asarray(read_image(p).resize((size[1], size[0]), Image.BILINEAR))
              for p in paths]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
    return batch / 127.5 - 1.0


def _encode_jpeg(frames: torch.Tensor, quality: int) -> list[bytes]:
    from PIL import Image

    pixels = ((frames.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for array in pixels:  # encoding is per file by nature
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
        out.append(buffer.getvalue())
    return out


def write_generated_views(items: Sequence[tuple], raw_pids: Sequence[int], view_source,
                          out_dir: str, views_per_image: int = 2, batch_size: int = 16,
                          seed: int = 0, quality: int = 95, progress: bool = True,
                          manifest_extra: Optional[dict] = None) -> dict:
    """Write the generated views of ``items`` (``(path, pid, camid)``; ``raw_pids`` their raw
    identities) below ``out_dir``; returns the manifest (also written as ``manifest.json``).

    ``view_source``: a :class:`~reid.views.video.VideoViewGenerator`; the images are
    fed at its frame size and the frames are written at that size.
    """
    if views_per_image < 1 or batch_size < 1:
        raise ValueError(f"views_per_image and batch_size must be >= 1; got {views_per_image}, "
                         f"{batch_size}")
    if len(raw_pids) != len(items):
        raise ValueError(f"{len(raw_pids)} raw pids for {len(items)} training items")
    folder = os.path.join(out_dir, TRAIN_FOLDER)
    os.makedirs(folder, exist_ok=True)
    names = [[generated_view_name(int(pid), int(item[2]), index, k) for k in range(views_per_image)]
             for index, (item, pid) in enumerate(zip(items, raw_pids))]
    starts = range(0, len(items), batch_size)
    iterator = starts
    if progress:
        from tqdm import tqdm

        iterator = tqdm(starts, desc="generated views", unit="batch", dynamic_ncols=True)
    written = skipped = 0
    for start in iterator:
        stop = min(start + batch_size, len(items))
        batch_names = [n for row in names[start:stop] for n in row]
        if all(os.path.isfile(os.path.join(folder, n)) for n in batch_names):
            skipped += len(batch_names)
            continue
        view_source.reseed(seed * 1_000_003 + start)
        images = _load_batch([item[0] for item in items[start:stop]], view_source.frame_size)
        frames = view_source(images.repeat_interleave(views_per_image, dim=0))
        for name, data in zip(batch_names, _encode_jpeg(frames, quality)):
            atomic_write_bytes(os.path.join(folder, name), data)
        written += len(batch_names)
    manifest = {
        "layout": f"{TRAIN_FOLDER}/{{pid:04d}}_c{{cam}}s1_{{src:06d}}_{{k:02d}}.jpg",
        "views_per_image": views_per_image, "seed": seed,
        "frame_size": list(view_source.frame_size), "num_sources": len(items),
        "num_files": len(items) * views_per_image, "written": written, "skipped": skipped,
        "files": [{"file": f"{TRAIN_FOLDER}/{n}", "source": item[0], "pid": int(pid),
                   "camid": int(item[2]), "view": k}
                  for (item, pid, row) in zip(items, raw_pids, names) for k, n in enumerate(row)],
    }
    manifest.update(manifest_extra or {})
    atomic_write_json(os.path.join(out_dir, MANIFEST), manifest)
    return manifest


def generate_views_for_dataset(dataset: ReIDDataset, generator_config: str, weights: str,
                               out_dir: str, views_per_image: int = 2, batch_size: int = 16,
                               seed: int = 0, device: str | torch.device = "cpu",
                               progress: bool = True, generator_opts: Sequence[str] = ()) -> dict:
    """Load the ImaGINator of ``generator_config`` / ``weights`` and write the generated views
    of ``dataset.train`` below ``out_dir`` (see :func:`write_generated_views`)."""
    view = VideoViewGenerator.from_files(generator_config, weights, device, opts=generator_opts,
                                         seed=seed)
    extra = {"source_dataset": dataset.name, "source_root": dataset.root,
             "generator_config": generator_config, "generator_weights": weights}
    return write_generated_views(dataset.train, dataset.train_original_pids, view, out_dir,
                                 views_per_image, batch_size, seed, progress=progress,
                                 manifest_extra=extra)
