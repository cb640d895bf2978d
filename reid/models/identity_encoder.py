"""The identity encoder E_id of GCL.

A timm CNN (ResNet-50 by default, last stride 1: a 2048 x 16 x 8 feature map at 256 x 128)
followed by two heads:

* part average pooling (``num_parts`` x 1 horizontal stripes) -> appearance code
  ``(B, 2048, num_parts)`` that drives the generator's AdaIN blocks;
* global average pooling -> ``Linear(2048, embed_dim)`` -> ``BatchNorm1d`` -> the identity
  embedding ``f`` used by the memory bank and for retrieval (L2-normalised at test time).

Inputs are images in [-1, 1]; the conversion to the backbone's ImageNet statistics happens inside
``forward`` so callers never normalise twice.
"""
from __future__ import annotations

import logging
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from common.state_dict import KeyReport

from .backbone import create_backbone, input_statistics, load_backbone_weights, set_last_stride

_logger = logging.getLogger("reid")


class IdentityFeatures(NamedTuple):
    """Everything E_id computes for a batch."""

    embedding: torch.Tensor  # (B, embed_dim), BN output, not normalised
    parts: torch.Tensor  # (B, feature_dim, num_parts) appearance code for the generator
    feature_map: torch.Tensor  # (B, feature_dim, h, w)


class IdentityEncoder(nn.Module):
    """E_id: timm backbone + part-pooled appearance code + BN embedding.

    Args:
        backbone: timm model name (any CNN with ``forward_features``).
        last_stride: 1 (ReID default: doubles the final resolution) or 2 (the ImageNet layout).
        num_parts: horizontal stripes of the appearance code.
        embed_dim: size of the identity embedding ``f``.
        pretrained_path: local file with ImageNet weights for the backbone ("" = none).
        pretrained_from_timm: let timm download ImageNet weights (needs a network).
        partial_load: accept a ``pretrained_path`` file that leaves backbone tensors unloaded
            (``MODEL.PARTIAL_LOAD``); an error listing them otherwise.
    """

    def __init__(self, backbone: str = "resnet50", last_stride: int = 1, num_parts: int = 4,
                 embed_dim: int = 512, pretrained_path: str = "",
                 pretrained_from_timm: bool = False, partial_load: bool = False) -> None:
        super().__init__()
        if num_parts < 1:
            raise ValueError(f"MODEL.NUM_PARTS must be >= 1, got {num_parts}")
        if embed_dim < 1:
            raise ValueError(f"MODEL.EMBED_DIM must be >= 1, got {embed_dim}")
        if pretrained_path and pretrained_from_timm:
            raise ValueError("set either MODEL.PRETRAINED_PATH or MODEL.PRETRAINED_FROM_TIMM, "
                             "not both")
        self.backbone_name = backbone
        self.last_stride = int(last_stride)
        self.num_parts = int(num_parts)
        self.embed_dim = int(embed_dim)

        self.backbone = create_backbone(backbone, pretrained_from_timm=pretrained_from_timm)
        self.pretrained_report: KeyReport | None = None
        if pretrained_path:
            self.pretrained_report = load_backbone_weights(self.backbone, pretrained_path,
                                                           backbone, partial_load)
        self.strided_layers_changed = set_last_stride(self.backbone, self.last_stride)
        self.feature_dim = int(self.backbone.num_features)

        # [-1, 1] -> ImageNet statistics in one multiply-add: x * scale + shift.
        mean, std = input_statistics(self.backbone)
        mean_t = torch.tensor(mean).view(1, 3, 1, 1)
        std_t = torch.tensor(std).view(1, 3, 1, 1)
        self.register_buffer("input_scale", 0.5 / std_t, persistent=False)
        self.register_buffer("input_shift", (0.5 - mean_t) / std_t, persistent=False)

        self.embedding = nn.Linear(self.feature_dim, self.embed_dim)
        self.embedding_bn = nn.BatchNorm1d(self.embed_dim)
        nn.init.kaiming_normal_(self.embedding.weight, mode="fan_out")
        nn.init.zeros_(self.embedding.bias)
        nn.init.ones_(self.embedding_bn.weight)
        nn.init.zeros_(self.embedding_bn.bias)

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this architecture (weights not included)."""
        return {"backbone": self.backbone_name, "last_stride": self.last_stride,
                "num_parts": self.num_parts, "embed_dim": self.embed_dim}

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone feature map ``(B, feature_dim, h, w)`` of images in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"IdentityEncoder expects images (B, 3, H, W) in [-1, 1], "
                             f"got a tensor of shape {tuple(x.shape)}")
        return self.backbone.forward_features(x * self.input_scale + self.input_shift)

    def embed_feature_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Global average pooling -> Linear -> BatchNorm1d."""
        pooled = feature_map.mean(dim=(2, 3))
        return self.embedding_bn(self.embedding(pooled))

    def part_codes(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Part average pooling into ``num_parts`` horizontal stripes: (B, C, num_parts)."""
        return F.adaptive_avg_pool2d(feature_map, (self.num_parts, 1)).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity embedding ``(B, embed_dim)`` (BN output, not L2-normalised)."""
        return self.embed_feature_map(self.feature_map(x))

    def forward_all(self, x: torch.Tensor) -> IdentityFeatures:
        """Embedding, appearance code and feature map in one pass (for GCL)."""
        fmap = self.feature_map(x)
        return IdentityFeatures(self.embed_feature_map(fmap), self.part_codes(fmap), fmap)

    def extra_repr(self) -> str:
        return (f"backbone={self.backbone_name}, last_stride={self.last_stride}, "
                f"feature_dim={self.feature_dim}, num_parts={self.num_parts}, "
                f"embed_dim={self.embed_dim}")


def build_identity_encoder(cfg, pretrained: bool = True) -> IdentityEncoder:
    """Build E_id from ``cfg.MODEL.*``.

    ``pretrained=False`` skips ``MODEL.PRETRAINED_PATH`` / ``MODEL.PRETRAINED_FROM_TIMM`` (for
    callers that load a full checkpoint right after).
    """
    model_cfg = cfg.MODEL
    if pretrained and not model_cfg.PRETRAINED_PATH and not model_cfg.PRETRAINED_FROM_TIMM:
        _logger.warning("E_id backbone '%s' starts from random weights: set "
                        "MODEL.PRETRAINED_PATH to a local ImageNet weights file (or "
                        "MODEL.PRETRAINED_FROM_TIMM True with a network)", model_cfg.BACKBONE)
    return IdentityEncoder(
        backbone=model_cfg.BACKBONE,
        last_stride=model_cfg.LAST_STRIDE,
        num_parts=model_cfg.NUM_PARTS,
        embed_dim=model_cfg.EMBED_DIM,
        pretrained_path=model_cfg.PRETRAINED_PATH if pretrained else "",
        pretrained_from_timm=bool(model_cfg.PRETRAINED_FROM_TIMM) if pretrained else False,
        partial_load=bool(model_cfg.PARTIAL_LOAD),
    )
