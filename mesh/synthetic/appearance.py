"""Procedural identities: body shape, skin, hair, garments with colours and patterns, shoes, bag.

An identity is a row of tensors (:class:`Identities`); :func:`paint` turns points on the body
(positions on the rest-pose template, in metres, y up, facing +z) and their body part into
albedo colours. It runs per pixel (crisp patterns at any mesh resolution) or per vertex.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

# Body parts, as in mesh.body.anny_model.PART_NAMES.
HEAD, TORSO, UPPER_ARM, LOWER_ARM, HAND, UPPER_LEG, LOWER_LEG, FOOT = range(8)

PATTERNS = ("solid", "horizontal_stripes", "vertical_stripes", "checks", "print", "open_jacket")
SLEEVES = ("none", "short", "long")
LOWER_TYPES = ("trousers", "shorts", "skirt")
BAGS = ("none", "backpack", "shoulder_bag")

# Skin tones from light to dark (sRGB in [0, 1]); an identity mixes two neighbours.
SKIN_TONES = torch.tensor([[0.96, 0.80, 0.69], [0.92, 0.72, 0.58], [0.84, 0.62, 0.47],
                           [0.72, 0.50, 0.36], [0.56, 0.38, 0.26], [0.40, 0.26, 0.18],
                           [0.28, 0.18, 0.12]])
HAIR_COLORS = torch.tensor([[0.05, 0.04, 0.04], [0.16, 0.10, 0.06], [0.32, 0.20, 0.11],
                            [0.62, 0.47, 0.27], [0.85, 0.70, 0.45], [0.50, 0.22, 0.10],
                            [0.60, 0.60, 0.60]])
HAIR_WEIGHTS = torch.tensor([0.3, 0.25, 0.18, 0.1, 0.07, 0.05, 0.05])


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(..., 3) HSV in [0, 1] -> RGB in [0, 1]."""
    h, s, v = hsv.unbind(-1)
    k = torch.stack((5.0 + h * 6.0, 3.0 + h * 6.0, 1.0 + h * 6.0), dim=-1) % 6.0
    ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
    return v[..., None] * (1.0 - s[..., None] * ramp)


def sample_garment_colors(num: int, generator: torch.Generator) -> torch.Tensor:
    """Colours from an HSV grid (12 hues x 4 saturations x 4 values) or neutrals (35 %)."""
    hue = torch.randint(0, 12, (num,), generator=generator) / 12.0
    sat = torch.tensor([0.3, 0.55, 0.75, 0.95])[torch.randint(0, 4, (num,), generator=generator)]
    val = torch.tensor([0.3, 0.5, 0.7, 0.92])[torch.randint(0, 4, (num,), generator=generator)]
    neutral = torch.rand(num, generator=generator) < 0.35
    grey = torch.tensor([0.08, 0.25, 0.5, 0.75, 0.93])[torch.randint(0, 5, (num,),
                                                                    generator=generator)]
    sat = torch.where(neutral, torch.zeros_like(sat), sat)
    val = torch.where(neutral, grey, val)
    return hsv_to_rgb(torch.stack((hue, sat, val), dim=-1))


@dataclass
class Identities:
    """N procedural identities (one row each). Colours are (N, 3) RGB in [0, 1]."""

    shape: torch.Tensor          # (N, shape_dim) body-model shape parameters
    skin: torch.Tensor
    hair_color: torch.Tensor
    hair_length: torch.Tensor    # (N,) 0 = very short ... 1 = long (to the shoulder blades)
    upper_color: torch.Tensor
    upper_color2: torch.Tensor
    upper_pattern: torch.Tensor  # (N,) index into PATTERNS
    upper_freq: torch.Tensor     # (N,) stripes per metre
    sleeves: torch.Tensor        # (N,) index into SLEEVES
    lower_color: torch.Tensor
    lower_color2: torch.Tensor
    lower_pattern: torch.Tensor
    lower_type: torch.Tensor     # (N,) index into LOWER_TYPES
    shoe_color: torch.Tensor
    bag: torch.Tensor            # (N,) index into BAGS
    bag_color: torch.Tensor
    print_phase: torch.Tensor    # (N, 4) phases / scales of the printed pattern

    def __len__(self) -> int:
        return self.shape.shape[0]

    def gather(self, index: torch.Tensor) -> "Identities":
        """The identities at ``index`` (e.g. one row per pixel)."""
        return Identities(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self, device) -> "Identities":
        return Identities(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def describe(self, i: int) -> dict:
        """JSON-friendly attributes of identity ``i``."""
        def rgb(t):
            return [round(float(x), 3) for x in t[i]]

        return {
            "shape": [round(float(x), 4) for x in self.shape[i]],
            "skin": rgb(self.skin), "hair_color": rgb(self.hair_color),
            "hair_length": round(float(self.hair_length[i]), 3),
            "upper": {"color": rgb(self.upper_color), "color2": rgb(self.upper_color2),
                      "pattern": PATTERNS[int(self.upper_pattern[i])],
                      "sleeves": SLEEVES[int(self.sleeves[i])]},
            "lower": {"color": rgb(self.lower_color), "color2": rgb(self.lower_color2),
                      "pattern": PATTERNS[int(self.lower_pattern[i])],
                      "type": LOWER_TYPES[int(self.lower_type[i])]},
            "shoes": rgb(self.shoe_color),
            "bag": BAGS[int(self.bag[i])], "bag_color": rgb(self.bag_color),
        }


def sample_identities(num: int, shape_ranges: list[tuple[float, float]],
                      generator: torch.Generator) -> Identities:
    """``num`` random identities; ``shape_ranges`` gives (lo, hi) per shape parameter."""
    g = generator

    def choice(n_options: int, probs=None) -> torch.Tensor:
        if probs is None:
            return torch.randint(0, n_options, (num,), generator=g)
        return torch.multinomial(torch.as_tensor(probs, dtype=torch.float), num,
                                 replacement=True, generator=g)

    lo = torch.tensor([r[0] for r in shape_ranges])
    hi = torch.tensor([r[1] for r in shape_ranges])
    shape = lo + (hi - lo) * torch.rand(num, len(shape_ranges), generator=g)
    tone = torch.rand(num, generator=g) * (len(SKIN_TONES) - 1)
    low = tone.floor().long().clamp(max=len(SKIN_TONES) - 2)
    frac = (tone - low)[:, None]
    skin = SKIN_TONES[low] * (1 - frac) + SKIN_TONES[low + 1] * frac
    hair = HAIR_COLORS[choice(len(HAIR_COLORS), HAIR_WEIGHTS)]
    # lower garments are more often dark / neutral: darken half of them
    lower = sample_garment_colors(num, g)
    darker = (torch.rand(num, generator=g) < 0.5)[:, None]
    lower = torch.where(darker, lower * 0.45, lower)
    return Identities(
        shape=shape, skin=skin, hair_color=hair,
        hair_length=torch.rand(num, generator=g),
        upper_color=sample_garment_colors(num, g), upper_color2=sample_garment_colors(num, g),
        upper_pattern=choice(len(PATTERNS), [0.35, 0.15, 0.1, 0.12, 0.13, 0.15]),
        upper_freq=8.0 + 22.0 * torch.rand(num, generator=g),
        sleeves=choice(len(SLEEVES), [0.15, 0.5, 0.35]),
        lower_color=lower, lower_color2=sample_garment_colors(num, g),
        lower_pattern=choice(len(PATTERNS), [0.75, 0.05, 0.05, 0.1, 0.05, 0.0]),
        lower_type=choice(len(LOWER_TYPES), [0.65, 0.2, 0.15]),
        shoe_color=sample_garment_colors(num, g) * 0.7,
        bag=choice(len(BAGS), [0.6, 0.25, 0.15]),
        bag_color=sample_garment_colors(num, g) * 0.8,
        print_phase=torch.rand(num, 4, generator=g),
    )


def _pattern_mask(pattern: torch.Tensor, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor,
                  freq: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """True where the second colour of a garment shows (per point)."""
    around = torch.atan2(x, z)  # angle around the vertical body axis
    horizontal = torch.sin(2 * math.pi * freq * y) > 0
    vertical = torch.sin(around * (freq / 2.5).round().clamp_min(3)) > 0
    checks = horizontal ^ vertical
    spots = (torch.sin(55.0 * x + 6.3 * phase[:, 0]) * torch.sin(47.0 * y + 6.3 * phase[:, 1])
             * torch.sin(39.0 * z + 6.3 * phase[:, 2])) > 0.25
    jacket = (x.abs() < 0.035 + 0.03 * phase[:, 3]) & (z > 0)
    masks = torch.stack((torch.zeros_like(horizontal), horizontal, vertical, checks, spots,
                         jacket), dim=-1)
    return masks.gather(-1, pattern[:, None]).squeeze(-1)


def paint(points: torch.Tensor, parts: torch.Tensor, ident: Identities) -> torch.Tensor:
    """Albedo (P, 3) of ``points`` (P, 3) on the rest-pose template with body ``parts`` (P,),
    each belonging to the identity row of ``ident`` (already gathered to P rows)."""
    x, y, z = points.unbind(-1)
    front = z > 0.02
    color = ident.skin.clone()

    def put(mask: torch.Tensor, value: torch.Tensor) -> None:
        color[mask] = value[mask]

    # Upper garment: torso above the waist, sleeves by type; a neckline stays skin.
    waist = 0.02
    neckline = (y > 0.5) & front & (x.abs() < 0.07 + 0.5 * (y - 0.5))
    upper = (parts == TORSO) & (y > waist) & ~neckline
    sleeve = ident.sleeves
    upper |= (parts == UPPER_ARM) & ((sleeve == 2) | ((sleeve == 1) & (x.abs() < 0.3)))
    upper |= (parts == UPPER_ARM) & (sleeve == 0) & (x.abs() < 0.21)  # tank-top shoulders
    upper |= (parts == LOWER_ARM) & (sleeve == 2)
    upper_second = _pattern_mask(ident.upper_pattern, x, y, z, ident.upper_freq,
                                 ident.print_phase)
    put(upper, torch.where(upper_second[:, None], ident.upper_color2, ident.upper_color))

    # Lower garment: trousers to the ankle, shorts / skirt above the knee.
    kind = ident.lower_type
    legs = (parts == UPPER_LEG) | (parts == LOWER_LEG)
    leg_end = torch.where(kind == 0, torch.full_like(y, -0.86),
                          torch.where(kind == 1, torch.full_like(y, -0.3), torch.full_like(y, -0.4)))
    lower = ((parts == TORSO) & (y <= waist)) | (legs & (y > leg_end))
    lower_second = _pattern_mask(ident.lower_pattern, x, y, z, ident.upper_freq * 0.7,
                                 ident.print_phase)
    lower_col = torch.where(lower_second[:, None], ident.lower_color2, ident.lower_color)
    put(lower, lower_col)
    belt = (parts == TORSO) & (y > waist - 0.015) & (y <= waist + 0.015)
    put(belt, ident.lower_color * 0.5)

    # Shoes (with a lighter sole), socks above them.
    shoes = (parts == FOOT) | ((parts == LOWER_LEG) & (y < -0.88))
    put(shoes, ident.shoe_color)
    sole = shoes & (y < -0.975)
    put(sole, 0.3 + 0.6 * ident.shoe_color)

    # Hair: a cap over the head; longer hair covers the back of the head and the neck.
    length = ident.hair_length
    head = parts == HEAD
    hairline = 0.76 - 0.03 * length
    back_limit = 0.7 - 0.14 * length
    cap = head & ((y > hairline + 0.04 * (z > 0.07).float())
                  | ((z < 0.03) & (y > back_limit))
                  | ((x.abs() > 0.075) & (y > hairline - 0.05)))
    long_hair = (length > 0.6) & (parts == TORSO) & (z < -0.03) & (y > 0.62 - 0.3 * (length - 0.6))\
        & (x.abs() < 0.12)
    hair = cap | long_hair
    shade = 1.0 + 0.15 * torch.sin(90.0 * x + 40.0 * y)[:, None]  # strands
    put(hair, (ident.hair_color * shade).clamp(0, 1))

    # Bags: a backpack (back panel + straps over the chest) or a shoulder bag (diagonal strap +
    # a patch on the hip).
    bag = ident.bag
    torso = parts == TORSO
    backpack = (bag == 1) & torso & (z < -0.04) & (y > 0.12) & (y < 0.5) & (x.abs() < 0.14)
    straps = (bag == 1) & torso & front & (y > 0.2) & ((x.abs() - 0.085).abs() < 0.018)
    diagonal = (bag == 2) & torso & ((y - 0.95 * x - 0.2).abs() < 0.02)
    hip_bag = (bag == 2) & ((parts == TORSO) | (parts == UPPER_LEG)) & (x < -0.12) \
        & (y > -0.15) & (y < 0.05)
    put(backpack | hip_bag, ident.bag_color)
    put(straps | diagonal, ident.bag_color * 0.6)
    return color.clamp(0.0, 1.0)
