"""ImaGINator generator (thesis chapter 3, table 3.1): one image + a motion label + noise -> video.

Encoder Conv1-Conv5 (4x4 convolutions 64-128-256-512 stride 2, then 100 valid) turns a 64x64 image
into a latent vector p. Other frame sizes (H, W), both multiples of 16 (e.g. 128x64 person crops),
use the same layers with Conv5 and Deconv6 of kernel (H/16, W/16) instead of 4x4: 64x64 is
exactly the table. The decoder starts from [p, z (512), one-hot label] and runs five
transposed (1+2)D blocks (temporal channels M = 4096, 3072, 1536, 768, 36; spatial channels 512,
256, 128, 64, 3). The outputs of Deconv6-2 .. Deconv9-2 are fused with the maps of Conv4 .. Conv1
and with the label map (spatio-temporal skip fusion) before the next block. Batch norm + LeakyReLU
after every convolution except the last (tanh). Output: 32 frames of 64x64 in [-1, 1].
"""
from __future__ import annotations

from typing import Sequence, Union

import torch
from torch import nn

from ..layers import VideoUpsampling, init_gan_weights, one_hot_labels, skip_fusion

# (temporal channels M, spatial out channels, temporal (k, s, p), spatial (k, s, p)) - table 3.1
DECODER_TABLE = (
    (4096, 512, (2, 1, 0), (4, 1, 0)),   # Deconv6: T 1 -> 2,  1x1 -> 4x4
    (3072, 256, (4, 2, 1), (4, 2, 1)),   # Deconv7: T 2 -> 4,  4 -> 8
    (1536, 128, (4, 2, 1), (4, 2, 1)),   # Deconv8: T 4 -> 8,  8 -> 16
    (768, 64, (4, 2, 1), (4, 2, 1)),     # Deconv9: T 8 -> 16, 16 -> 32
    (36, 3, (4, 2, 1), (4, 2, 1)),       # Deconv10: T 16 -> 32, 32 -> 64
)
ENCODER_CHANNELS = (64, 128, 256, 512)


ImageSize = Union[int, Sequence[int]]


def _scaled(channels: int, base: int) -> int:
    return max(1, round(channels * base / 64))


def frame_size(image_size: ImageSize) -> tuple[int, int]:
    """(H, W) from an int (square) or a pair; both must be positive multiples of 16 (four
    stride-2 convolutions, then one valid convolution down to 1x1)."""
    size = (int(image_size), int(image_size)) if isinstance(image_size, int) else \
        tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 16 or size[0] % 16 or size[1] % 16:
        raise ValueError(f"ImaGINator frame size {image_size}: expected (H, W) with H and W "
                         "positive multiples of 16 (e.g. 64 or (128, 64))")
    return size  # type: ignore[return-value]


class ImageEncoder(nn.Module):
    """Conv1-Conv5: (B, 3, H, W) -> latent p (B, latent_dim) plus the Conv1..Conv4 maps."""

    def __init__(self, base_channels: int = 64, latent_dim: int = 100,
                 image_size: ImageSize = 64):
        super().__init__()
        frame_h, frame_w = frame_size(image_size)
        widths = [_scaled(c, base_channels) for c in ENCODER_CHANNELS]
        self.widths = widths
        blocks = []
        previous = 3
        for width in widths:
            blocks.append(nn.Sequential(nn.Conv2d(previous, width, 4, 2, 1, bias=False),
                                        nn.BatchNorm2d(width), nn.LeakyReLU(0.2, inplace=True)))
            previous = width
        last_kernel = (frame_h // 16, frame_w // 16)  # 4x4 at 64x64
        blocks.append(nn.Sequential(nn.Conv2d(previous, latent_dim, last_kernel, 1, 0, bias=False),
                                    nn.BatchNorm2d(latent_dim), nn.LeakyReLU(0.2, inplace=True)))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        h = image
        for block in self.blocks[:-1]:
            h = block(h)
            skips.append(h)
        latent = self.blocks[-1](h).flatten(1)
        return latent, skips


class ImaginatorGenerator(nn.Module):
    """G(image, label, z) -> video (B, 3, 32, H, W); ``image_size`` 64 (paper) or (H, W).

    ``conv_type="3d"`` replaces every transposed (1+2)D block by one full transposed 3D
    convolution with the same kernels and strides (thesis table 3.12 comparison).
    """

    num_frames = 32

    def __init__(self, num_classes: int = 0, base_channels: int = 64, z_dim: int = 512,
                 latent_dim: int = 100, conv_type: str = "1+2d", image_size: ImageSize = 64):
        super().__init__()
        self.num_classes = num_classes
        self.z_dim = z_dim
        self.image_size = frame_size(image_size)
        self.encoder = ImageEncoder(base_channels, latent_dim, self.image_size)
        skip_widths = list(reversed(self.encoder.widths))  # Conv4, Conv3, Conv2, Conv1
        blocks = []
        previous = latent_dim + z_dim + num_classes
        for index, (mid, out, temporal, spatial) in enumerate(DECODER_TABLE):
            last = index == len(DECODER_TABLE) - 1
            mid = _scaled(mid, base_channels)
            out = 3 if last else _scaled(out, base_channels)
            if index == 0:  # 1x1 -> (H/16, W/16), the size of the Conv4 map
                spatial = ((self.image_size[0] // 16, self.image_size[1] // 16), *spatial[1:])
            blocks.append(VideoUpsampling(previous, mid, out, temporal, spatial, conv_type,
                                          activation="lrelu", last=last))
            if not last:
                previous = out + skip_widths[index] + num_classes
        self.decoder = nn.ModuleList(blocks)
        init_gan_weights(self)

    def sample_noise(self, batch: int, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(batch, self.z_dim, device=device, generator=generator)

    def forward(self, image: torch.Tensor, labels: torch.Tensor | None = None,
                z: torch.Tensor | None = None) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1:] != (3, *self.image_size):
            raise ValueError(f"ImaginatorGenerator expects images (B, 3, {self.image_size[0]}, "
                             f"{self.image_size[1]}); got {tuple(image.shape)}")
        batch = image.shape[0]
        if z is None:
            z = self.sample_noise(batch, image.device)
        onehot = one_hot_labels(labels, self.num_classes, batch, image.device)
        latent, skips = self.encoder(image)
        h = torch.cat([latent, z, onehot], dim=1)[:, :, None, None, None]
        for index, block in enumerate(self.decoder):
            h = block(h)
            if index < len(skips):
                h = skip_fusion(h, skips[-1 - index], onehot if self.num_classes else None)
        return torch.tanh(h)
