"""Feature networks of the video metrics, loading weights the user supplies (never downloaded).

* :class:`ResNeXt3D` - 3D ResNeXt-101 (cardinality 32, Kinetics-trained, Hara et al.) for video
  FID; features = the 2048-d global average pool. State-dict names follow the public 3D-ResNets
  checkpoints (``conv1``, ``layer1.0.conv1``, ...; a ``module.`` prefix and a ``state_dict``
  wrapper are accepted).
* :class:`InceptionI3d` - I3D (Inception-v1 inflated, Kinetics-400) for FVD; features = the
  400 logits averaged over time (or the 1024-d pool). Names follow the common PyTorch port
  (``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_3b.b1b.bn.running_mean``, ``logits.conv3d.bias``).
* ``i3d_torchscript`` - the TorchScript I3D detector file of the StyleGAN-V FVD
  (:mod:`.i3d_torchscript`), for FVDs comparable with published ones.
* ``action_classifier`` - the project's own (2+1)D action classifier (:mod:`.action_classifier`),
  trained here on labelled clips: the network of FCD and the classifier score, not of FVD.
"""
from __future__ import annotations

import os

import torch
from torch import nn
from torch.nn import functional as F

from common.serialization import load_checkpoint_file

RESNEXT_WEIGHTS_HINT = ("a 3D ResNeXt-101 Kinetics checkpoint, e.g. "
                        "resnext-101-kinetics.pth from the 3D-ResNets-PyTorch release")
I3D_WEIGHTS_HINT = ("an I3D Kinetics-400 RGB checkpoint in the PyTorch I3D layout, e.g. "
                    "rgb_imagenet.pt")


# ---------------------------------------------------------------------------------------------
# 3D ResNeXt
# ---------------------------------------------------------------------------------------------
class ResNeXtBottleneck(nn.Module):
    expansion = 2

    def __init__(self, inplanes: int, planes: int, cardinality: int, stride: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride, 1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNeXt3D(nn.Module):
    """3D ResNeXt (shortcut B); ``forward`` returns the (B, 2048) pooled features."""

    def __init__(self, layers=(3, 4, 23, 3), cardinality: int = 32, num_classes: int = 400,
                 width: int = 64):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv3d(3, width, 7, (1, 2, 2), 3, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, 2, 1)
        planes = [2 * width, 4 * width, 8 * width, 16 * width]
        self.layer1 = self._make_layer(planes[0], layers[0], cardinality, 1)
        self.layer2 = self._make_layer(planes[1], layers[1], cardinality, 2)
        self.layer3 = self._make_layer(planes[2], layers[2], cardinality, 2)
        self.layer4 = self._make_layer(planes[3], layers[3], cardinality, 2)
        self.feature_dim = planes[3] * ResNeXtBottleneck.expansion
        self.fc = nn.Linear(self.feature_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def _make_layer(self, planes: int, blocks: int, cardinality: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * ResNeXtBottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes * ResNeXtBottleneck.expansion, 1, stride,
                          bias=False),
                nn.BatchNorm3d(planes * ResNeXtBottleneck.expansion))
        layers = [ResNeXtBottleneck(self.inplanes, planes, cardinality, stride, downsample)]
        self.inplanes = planes * ResNeXtBottleneck.expansion
        layers += [ResNeXtBottleneck(self.inplanes, planes, cardinality) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return F.adaptive_avg_pool3d(x, 1).flatten(1)

    # videos in [-1, 1] -> network input: 112x112, 0..255 minus the ActivityNet mean
    input_size = 112
    mean = (114.7748, 107.7354, 99.4750)

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        x = _resize_video(videos, self.input_size)
        x = (x.clamp(-1, 1) + 1) * 127.5
        return x - torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1)


def resnext101_3d(**kwargs) -> ResNeXt3D:
    return ResNeXt3D((3, 4, 23, 3), **kwargs)


# ---------------------------------------------------------------------------------------------
# I3D
# ---------------------------------------------------------------------------------------------
def _same_pad(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class MaxPool3dSame(nn.MaxPool3d):
    """Max pooling with TensorFlow "SAME" padding (zeros, as in the reference port)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_same_pad(x, self.kernel_size, self.stride))


class Unit3D(nn.Module):
    """Conv3d with "SAME" padding, optional batch norm (eps 1e-3) and ReLU."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1),
                 activation: bool = True, batch_norm: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.activation = tuple(kernel), tuple(stride), activation
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, 0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activation else x


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c: list[int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)),
                          self.b3b(self.b3a(x))], dim=1)


_I3D_MIXED = (
    ("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]),
    ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
    ("MaxPool3d_4a_3x3", None, ((3, 3, 3), (2, 2, 2))),
    ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]),
    ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
    ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]),
    ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
    ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]),
    ("MaxPool3d_5a_2x2", None, ((2, 2, 2), (2, 2, 2))),
    ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
    ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128]),
)


class InceptionI3d(nn.Module):
    """I3D; ``forward`` returns (B, 400) time-averaged logits, or (B, 1024) pooled features when
    ``feature="pool"``."""

    input_size = 224

    def __init__(self, num_classes: int = 400, feature: str = "logits"):
        super().__init__()
        if feature not in ("logits", "pool"):
            raise ValueError(f"I3D feature '{feature}': expected logits or pool")
        self.feature = feature
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.order = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3",
                      "MaxPool3d_3a_3x3"]
        for name, cin, spec in _I3D_MIXED:
            module = MaxPool3dSame(*spec) if cin is None else InceptionModule(cin, spec)
            self.add_module(name, module)
            self.order.append(name)
        self.logits = Unit3D(1024, num_classes, activation=False, batch_norm=False, bias=True)
        self.feature_dim = num_classes if feature == "logits" else 1024

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            x = getattr(self, name)(x)
        # the reference pools 2x7x7 (stride 1) at 224 px; adaptive pooling keeps small inputs valid
        k = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = F.avg_pool3d(x, k, stride=1)
        if self.feature == "pool":
            return x.mean(dim=(2, 3, 4))
        return self.logits(x).mean(dim=(2, 3, 4))

    def preprocess(self, videos: torch.Tensor) -> torch.Tensor:
        return _resize_video(videos, self.input_size).clamp(-1, 1)


# ---------------------------------------------------------------------------------------------
def _resize_video(videos: torch.Tensor, size: int) -> torch.Tensor:
    b, c, t, h, w = videos.shape
    if (h, w) == (size, size):
        return videos.float()
    frames = videos.float().transpose(1, 2).reshape(b * t, c, h, w)
    frames = F.interpolate(frames, size=(size, size), mode="bilinear", align_corners=False)
    return frames.reshape(b, t, c, size, size).transpose(1, 2)


def _unwrap_state(state) -> dict:
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


FEATURE_NETWORK_KINDS = ("resnext101", "i3d", "i3d_torchscript", "action_classifier")


def load_feature_network(kind: str, weights: str, device: str | torch.device = "cpu",
                         **kwargs) -> nn.Module:
    """``kind`` "resnext101" (video FID), "i3d" (FVD, state dict), "i3d_torchscript" (FVD, the
    StyleGAN-V TorchScript detector) or "action_classifier" (FCD / classifier score, a checkpoint
    of tools/train_video_classifier.py) with the user's ``weights`` file.

    A missing file is a :class:`FileNotFoundError` naming the expected file; missing or unexpected
    keys are a :class:`ValueError` listing them (the classifier ``fc`` of 3D ResNeXt is optional).
    """
    if kind == "action_classifier":
        from .action_classifier import load_action_classifier

        return load_action_classifier(weights, device)
    if kind == "i3d_torchscript":
        from .i3d_torchscript import load_torchscript_i3d

        return load_torchscript_i3d(weights, device, **kwargs)
    if kind == "resnext101":
        model, hint = resnext101_3d(**kwargs), RESNEXT_WEIGHTS_HINT
    elif kind == "i3d":
        model, hint = InceptionI3d(**kwargs), I3D_WEIGHTS_HINT
    else:
        raise ValueError(f"feature network '{kind}': expected one of "
                         f"{', '.join(FEATURE_NETWORK_KINDS)}")
    if not weights or not os.path.isfile(weights):
        raise FileNotFoundError(f"{kind} weights not found at '{weights}': download {hint} "
                                "yourself and pass its path (nothing is downloaded implicitly)")
    state = _unwrap_state(load_checkpoint_file(weights, what=f"{kind} weights"))
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or result.unexpected_keys:
        raise ValueError(f"{weights} does not fit the {kind} architecture: missing "
                         f"{missing[:8]} ({len(missing)}), unexpected "
                         f"{result.unexpected_keys[:8]} ({len(result.unexpected_keys)})")
    return model.to(device).eval()
