"""ImaGINator sampling: one input image animated with every label."""
from __future__ import annotations

import os

import torch

from ..sampling import first_frame_of, read_input_image, write_clip_set


@torch.no_grad()
def imaginator_all_labels(generator, image: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One (3, 64, 64) image in [-1, 1] animated with every label: (num_classes, 3, 32, 64, 64)
    (one clip when the model is unconditional)."""
    device = next(generator.parameters()).device
    count = max(1, generator.num_classes)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(1, generator.z_dim, generator=gen).expand(count, -1).to(device)
    images = image.to(device).unsqueeze(0).expand(count, -1, -1, -1)
    labels = torch.arange(count, device=device) if generator.num_classes else None
    return generator(images, labels, z).cpu()


def write_samples(generator, cfg, options, out: str) -> list[str]:
    """``tools/sample_video.py``: ``options.image`` (else the first frame of the first data
    clip) animated with every label."""
    if options.image:
        image = read_input_image(options.image, generator.image_size)
    else:
        from ..data import build_dataset

        dataset = build_dataset(cfg)
        first = dataset.records[0].path
        image = first_frame_of(first, generator.image_size) if os.path.isdir(first) else \
            dataset[0]["video"][:, 0]
    videos = imaginator_all_labels(generator, image, options.seed)
    return write_clip_set(videos, out, "one_image_every_label", videos.shape[0])
