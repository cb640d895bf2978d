"""Per-camera scenes: procedural backgrounds, illumination, colour cast, blur, noise, viewpoint.

Each camera owns a few background canvases (wall gradient, floor, coloured rectangles, noise),
each larger than a person crop; every image cuts a random window out of one of them and gets its
own brightness jitter, so images of one camera share a look (palette, light, colour cast, blur,
noise) without being near-copies of each other, and differ from other cameras.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .appearance import hsv_to_rgb

CANVAS_SCALE = 2  # the canvas is this many crops wide and 1.5 crops high
SCENES_PER_CAMERA = 4


@dataclass
class CameraProfiles:
    """C cameras (one row each)."""

    canvas: torch.Tensor        # (C, S, 3, Hc, Wc) S background canvases per camera, in [0, 1]
    light_dir: torch.Tensor     # (C, 3) unit vectors (towards the light, camera space)
    ambient: torch.Tensor       # (C,)
    gain: torch.Tensor          # (C,) overall brightness
    cast: torch.Tensor          # (C, 3) RGB colour-cast gains
    blur_sigma: torch.Tensor    # (C,) pixels
    noise_sigma: torch.Tensor   # (C,)
    yaw_centre: torch.Tensor    # (C,) degrees: the body orientations this camera mostly sees
    yaw_spread: torch.Tensor    # (C,) degrees (half width)

    def __len__(self) -> int:
        return self.light_dir.shape[0]

    def describe(self, c: int) -> dict:
        return {"light_dir": [round(float(v), 3) for v in self.light_dir[c]],
                "ambient": round(float(self.ambient[c]), 3), "gain": round(float(self.gain[c]), 3),
                "cast": [round(float(v), 3) for v in self.cast[c]],
                "blur_sigma": round(float(self.blur_sigma[c]), 3),
                "noise_sigma": round(float(self.noise_sigma[c]), 4),
                "yaw_centre": round(float(self.yaw_centre[c]), 1),
                "yaw_spread": round(float(self.yaw_spread[c]), 1)}


def _background_canvas(height: int, width: int, g: torch.Generator,
                       base_hue: float | None = None) -> torch.Tensor:
    """One procedural scene (3, H, W): wall gradient, floor, rectangles, texture noise.

    ``base_hue`` keeps the scenes of one camera in one palette."""
    hue = torch.rand(3, generator=g)
    if base_hue is not None:
        hue = (base_hue + 0.15 * (hue - 0.5)) % 1.0
    sat = 0.05 + 0.35 * torch.rand(3, generator=g)
    val = 0.35 + 0.55 * torch.rand(3, generator=g)
    wall_top, wall_bottom, floor = hsv_to_rgb(torch.stack((hue, sat, val), dim=-1)).unbind(0)
    ys = torch.linspace(0, 1, height)[:, None, None]
    xs = torch.linspace(0, 1, width)[None, :, None]
    image = wall_top * (1 - ys) + wall_bottom * ys + torch.zeros(1, width, 1)
    horizon = 0.55 + 0.25 * torch.rand(1, generator=g)
    floor_shade = floor * (0.8 + 0.4 * (ys - horizon).clamp_min(0) / (1 - horizon))
    image = torch.where(ys > horizon, floor_shade.expand(height, width, 3), image)
    # coloured rectangles above the floor: windows, doors, shop fronts, posters
    num_rect = int(torch.randint(3, 9, (1,), generator=g))
    for _ in range(num_rect):
        x0, y0 = torch.rand(2, generator=g).tolist()
        w, h = (0.05 + 0.3 * torch.rand(2, generator=g)).tolist()
        y0 = y0 * float(horizon) * 0.9
        color = hsv_to_rgb(torch.stack((torch.rand(1, generator=g)[0],
                                        0.1 + 0.4 * torch.rand(1, generator=g)[0],
                                        0.3 + 0.6 * torch.rand(1, generator=g)[0])))
        inside = (xs >= x0) & (xs < x0 + w) & (ys >= y0) & (ys < min(y0 + h, float(horizon)))
        image = torch.where(inside, color, image)
    # floor tiles and smooth texture noise
    tiles = ((xs * (6 + 10 * torch.rand(1, generator=g)) % 1.0) < 0.04) & (ys > horizon)
    image = torch.where(tiles, image * 0.8, image)
    noise = torch.rand(1, 1, height // 8 + 1, width // 8 + 1, generator=g)
    noise = F.interpolate(noise, size=(height, width), mode="bilinear", align_corners=False)
    image = image * (0.88 + 0.24 * noise[0, 0, :, :, None])
    return image.permute(2, 0, 1).clamp(0, 1)


def sample_camera_profiles(num_cameras: int, image_size: tuple[int, int],
                           generator: torch.Generator) -> CameraProfiles:
    """``num_cameras`` random cameras with their scenes and imaging characteristics."""
    g = generator
    height, width = image_size
    palettes = torch.rand(num_cameras, generator=g).tolist()
    canvas = torch.stack([
        torch.stack([_background_canvas(int(height * 1.5), width * CANVAS_SCALE * 2, g, hue)
                     for _ in range(SCENES_PER_CAMERA)])
        for hue in palettes])
    azimuth = (torch.rand(num_cameras, generator=g) - 0.5) * 1.4
    elevation = 0.2 + 0.6 * torch.rand(num_cameras, generator=g)
    light = torch.stack((torch.sin(azimuth) * torch.cos(elevation), torch.sin(elevation),
                         torch.cos(azimuth) * torch.cos(elevation)), dim=-1)
    warmth = (torch.rand(num_cameras, generator=g) - 0.5) * 0.3
    tint = (torch.rand(num_cameras, 3, generator=g) - 0.5) * 0.1
    cast = torch.stack((1 + warmth, torch.ones(num_cameras), 1 - warmth), dim=-1) + tint
    # viewpoints: spread the centres over the circle so cameras see different sides
    offset = torch.rand(1, generator=g) * 360.0
    centres = (offset + torch.arange(num_cameras) * 360.0 / max(num_cameras, 1)
               + (torch.rand(num_cameras, generator=g) - 0.5) * 40.0) % 360.0
    return CameraProfiles(
        canvas=canvas, light_dir=light,
        ambient=0.35 + 0.25 * torch.rand(num_cameras, generator=g),
        gain=0.8 + 0.4 * torch.rand(num_cameras, generator=g),
        cast=cast,
        blur_sigma=0.2 + 1.0 * torch.rand(num_cameras, generator=g),
        noise_sigma=0.004 + 0.025 * torch.rand(num_cameras, generator=g),
        yaw_centre=centres,
        yaw_spread=50.0 + 60.0 * torch.rand(num_cameras, generator=g),
    )


def crop_backgrounds(profiles: CameraProfiles, cams: torch.Tensor, image_size: tuple[int, int],
                     generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) random windows of the cameras' canvases (one gather, no per-image loop)."""
    height, width = image_size
    canvas = profiles.canvas
    _, scenes, _, ch, cw = canvas.shape
    batch = cams.shape[0]
    scene = torch.randint(0, scenes, (batch,), generator=generator)
    oy = torch.randint(0, ch - height + 1, (batch,), generator=generator)
    ox = torch.randint(0, cw - width + 1, (batch,), generator=generator)
    rows = (oy[:, None] + torch.arange(height))[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(width))[:, None, :]   # (B, 1, W)
    flat = canvas.permute(0, 1, 3, 4, 2)  # (C, S, Hc, Wc, 3)
    crops = flat[cams[:, None, None], scene[:, None, None], rows, cols]  # (B, H, W, 3)
    jitter = 0.85 + 0.3 * torch.rand(batch, 1, 1, 1, generator=generator)
    return (crops.permute(0, 3, 1, 2) * jitter).clamp(0, 1).contiguous()


def _gaussian_kernels(sigma: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """(B, 2r+1) normalised 1-D Gaussian kernels."""
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp_min(1e-3)[:, None]) ** 2)
    return k / k.sum(dim=1, keepdim=True)


def apply_camera_effects(images: torch.Tensor, profiles: CameraProfiles, cams: torch.Tensor,
                         generator: torch.Generator | None) -> torch.Tensor:
    """Brightness, colour cast, Gaussian blur and sensor noise of each image's camera
    (``generator=None``: no sensor noise, and no random number is drawn)."""
    batch, channels, height, width = images.shape
    images = images * (profiles.gain[cams][:, None, None, None]
                       * profiles.cast[cams][:, :, None, None])
    kernels = _gaussian_kernels(profiles.blur_sigma[cams])  # (B, K)
    radius = (kernels.shape[1] - 1) // 2
    # separable blur as grouped convolutions: one group per (image, channel)
    weight = kernels.repeat_interleave(channels, dim=0)  # (B*C, K)
    x = images.reshape(1, batch * channels, height, width)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                 weight[:, None, None, :], groups=batch * channels)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"),
                 weight[:, None, :, None], groups=batch * channels)
    images = x.view(batch, channels, height, width)
    if generator is None:
        return images.clamp(0.0, 1.0)
    noise = torch.randn(images.shape, generator=generator)
    images = images + noise * profiles.noise_sigma[cams][:, None, None, None]
    return images.clamp(0.0, 1.0)


def sample_yaws(profiles: CameraProfiles, cams: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """(B,) body yaw in degrees for images of cameras ``cams`` (0 = facing the camera)."""
    u = torch.rand(cams.shape[0], generator=generator) * 2 - 1
    return (profiles.yaw_centre[cams] + u * profiles.yaw_spread[cams]) % 360.0


__all__ = ["CameraProfiles", "apply_camera_effects", "crop_backgrounds", "sample_camera_profiles",
           "sample_yaws"]
