"""timm CNN backbones for the identity encoder: creation, last-stride surgery, local weights.

Any timm CNN that exposes ``forward_features`` (a ``(B, C, h, w)`` feature map) and
``num_features`` works. The last downsampling of the network is found generically (the strided
convolution / pooling layers that run at the lowest input resolution, found with one probe
forward pass) so that ``last_stride=1`` doubles the final feature-map resolution of ResNets,
EfficientNets, MobileNets, RegNets, DenseNets, ... alike.
"""
from __future__ import annotations

import os
from typing import Mapping

import timm
import torch
from torch import nn

from common.state_dict import KeyReport, load_state_dict_with_report, read_checkpoint

from .key_mapping import remap_backbone_state
from .weight_checks import check_complete_load

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_STRIDED_TYPES = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def create_backbone(name: str, pretrained_from_timm: bool = False) -> nn.Module:
    """A timm model without classifier and global pooling (``forward_features`` = feature map).

    ``pretrained_from_timm=True`` lets timm download ImageNet weights (needs a network); it is
    never done implicitly.
    """
    architecture = name.split(".")[0]
    if not timm.is_model(architecture):
        close = timm.list_models(f"*{architecture[:6]}*")[:5]
        hint = f"; similar timm names: {', '.join(close)}" if close else ""
        raise ValueError(f"MODEL.BACKBONE '{name}' is not a timm model name{hint}")
    try:
        model = timm.create_model(name, pretrained=pretrained_from_timm, num_classes=0,
                                  global_pool="")
    except Exception as exc:
        if pretrained_from_timm:
            raise RuntimeError(
                f"could not fetch ImageNet weights for '{name}' through timm ({exc}); this needs "
                "a network connection. Without one, download the weights elsewhere, put the file "
                "on this machine and set MODEL.PRETRAINED_PATH to it "
                "(with MODEL.PRETRAINED_FROM_TIMM False)") from exc
        raise
    if not hasattr(model, "forward_features") or not getattr(model, "num_features", 0):
        raise ValueError(f"MODEL.BACKBONE '{name}' has no forward_features / num_features; "
                         "pick a timm CNN that returns a spatial feature map")
    check_feature_map(model, name)
    return model


def check_feature_map(model: nn.Module, name: str, probe_size: int = 64) -> None:
    """ValueError naming ``MODEL.BACKBONE`` unless ``forward_features`` of a probe image gives
    a ``(B, C, h, w)`` feature map with ``C == num_features`` (transformers give tokens)."""
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            output = model.forward_features(torch.zeros(1, 3, probe_size, probe_size))
    except Exception as exc:
        raise ValueError(f"MODEL.BACKBONE '{name}': forward_features failed on a "
                         f"{probe_size}x{probe_size} probe image ({type(exc).__name__}: {exc}); "
                         "pick a timm CNN that returns a spatial feature map (resnet50, "
                         "resnet101, efficientnet_b0, ...)") from exc
    finally:
        model.train(was_training)
    shape = tuple(getattr(output, "shape", ()))
    if len(shape) != 4 or shape[1] != int(model.num_features):
        raise ValueError(f"MODEL.BACKBONE '{name}' is not a CNN with a spatial feature map: its "
                         f"forward_features gives shape {shape} for a {probe_size}x{probe_size} "
                         f"image, not (B, {int(model.num_features)}, h, w) (vision transformers "
                         "give token sequences); pick a timm CNN such as resnet50, resnet101 or "
                         "efficientnet_b0")


def _stride_of(module: nn.Module) -> int:
    stride = module.stride
    if isinstance(stride, (tuple, list)):
        return max(int(s) for s in stride)
    return int(stride) if stride is not None else 1


def _last_downsampling_layers(model: nn.Module,
                              probe_size: int = 64) -> list[tuple[str, nn.Module]]:
    """Every strided conv/pool layer that performs the network's last downsampling.

    A probe forward pass records the input resolution of each strided layer; the last
    downsampling is done by all strided layers that see the smallest such resolution (e.g.
    ``layer4.0.conv2`` and ``layer4.0.downsample.0`` of a ResNet-50, ``blocks.5.0.conv_dw`` of
    an EfficientNet-B0, both branches of a RegNet's last stage).
    """
    strided = [(n, m) for n, m in model.named_modules()
               if isinstance(m, _STRIDED_TYPES) and _stride_of(m) > 1]
    if not strided:
        raise ValueError(f"{type(model).__name__} has no strided convolution or pooling layer")
    seen: dict[str, int] = {}

    def record(name: str):
        def hook(_module: nn.Module, args: tuple) -> None:
            seen.setdefault(name, int(args[0].shape[-2]))
        return hook

    hooks = [m.register_forward_pre_hook(record(n)) for n, m in strided]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model.forward_features(torch.zeros(1, 3, probe_size, probe_size))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if not seen:
        raise ValueError(f"{type(model).__name__}: no strided layer ran in forward_features")
    last_level = min(seen.values())
    return [(n, m) for n, m in strided if seen.get(n) == last_level]


def set_last_stride(model: nn.Module, stride: int = 1) -> list[str]:
    """Set the stride of the network's last downsampling to ``stride`` (1 or 2).

    Returns the names of the layers that were changed. Pooling layers that only downsampled
    (kernel <= stride, e.g. the average-pool shortcut of ResNet-D) become identities; patchify
    convolutions (kernel == stride) switch to "same" padding so the resolution is kept.
    """
    if stride not in (1, 2):
        raise ValueError(f"MODEL.LAST_STRIDE must be 1 or 2, got {stride!r}")
    if stride == 2:
        return []
    changed = []
    for name, layer in _last_downsampling_layers(model):
        kernel = layer.kernel_size
        kernel = max(kernel) if isinstance(kernel, (tuple, list)) else int(kernel)
        if isinstance(layer, nn.Conv2d):
            if kernel <= _stride_of(layer) and kernel > 1:
                layer.padding = "same"
            layer.stride = (1, 1)
        elif kernel <= _stride_of(layer):  # a pure downsampling pool: drop it
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, nn.Identity())
        else:
            layer.stride = 1
        changed.append(name)
    return changed


def input_statistics(model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean/std the backbone's weights expect (ImageNet unless timm says otherwise)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD))
    if len(mean) != 3 or len(std) != 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return mean, std


def load_backbone_weights(backbone: nn.Module, path: str, backbone_name: str = "",
                          partial_load: bool = False) -> KeyReport:
    """Load ImageNet weights from a local file (timm / torchvision / prefixed state dicts).

    Missing, unexpected (e.g. the ImageNet classifier ``fc.*``) and shape-mismatched keys are
    reported by name. Unexpected keys are ignored; missing or shape-mismatched ones (weights of
    another backbone) are a :class:`~reid.models.weight_checks.PartialLoadError` unless
    ``partial_load`` (``MODEL.PARTIAL_LOAD``).
    """
    if not os.path.isfile(path):
        what = f" for the backbone '{backbone_name}'" if backbone_name else ""
        raise FileNotFoundError(
            f"MODEL.PRETRAINED_PATH: no file at '{path}'. Put ImageNet weights{what} there "
            "(a timm or torchvision state dict, e.g. the torchvision resnet50 .pth file), set "
            "MODEL.PRETRAINED_PATH '' to start from random weights, or set "
            "MODEL.PRETRAINED_FROM_TIMM True to let timm download them (needs a network)")
    state: Mapping[str, torch.Tensor] = read_checkpoint(path)
    state = remap_backbone_state(state, backbone.state_dict().keys())
    report = load_state_dict_with_report(backbone, state, strict=False, source=path)
    return check_complete_load(report, "MODEL.PRETRAINED_PATH", partial_load)
