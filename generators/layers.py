"""Building blocks shared by the video GANs.

Tensor layout everywhere: videos are ``(B, C, T, H, W)``, images ``(B, C, H, W)``, values of
generated and real pixels in [-1, 1].

* :class:`VideoUpsampling` - transposed (1+2)D convolution (M temporal 1D filters, a non-linearity,
  then a spatial 2D filter; thesis fig. 3.4), and the (2+1)D / full 3D variants it is compared with.
* :func:`skip_fusion` / :func:`g3_fusion` - the spatio-temporal fusions of ImaGINator (replicate an
  image feature map and a label map over time, concatenate) and of G3AN (add the temporal stream,
  concatenate the spatial stream).
* :class:`FactorizedSelfAttention` - temporal self-attention followed by spatial self-attention
  (eqs. 4.1-4.4), tensors permuted into the attended layout, gamma initialised to 0.
* :func:`init_gan_weights` - DCGAN initialisation of every convolution *including transposed ones*
  and of batch norms, also under spectral normalisation.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

Triple = tuple[int, int, int]  # (kernel, stride, padding) along one axis group

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
               nn.ConvTranspose3d, nn.Linear)
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


# ---------------------------------------------------------------------------------------------
# initialisation and spectral normalisation
# ---------------------------------------------------------------------------------------------
def _init_layer(module: nn.Module, std: float) -> None:
    if isinstance(module, _CONV_TYPES):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, _NORM_TYPES) and module.affine:
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


def spectral(module: nn.Module, std: float = 0.02) -> nn.Module:
    """DCGAN-initialise ``module`` then wrap it in spectral normalisation."""
    _init_layer(module, std)
    return _spectral_norm(module)


def init_gan_weights(model: nn.Module, std: float = 0.02) -> nn.Module:
    """N(0, std) for all (transposed) convolutions and linear layers, N(1, std) for batch norms.

    Spectral-normalised layers are re-initialised and their power-iteration vectors rebuilt from
    the new weight, so the normalisation stays consistent with it.
    """
    for module in model.modules():
        if not isinstance(module, _CONV_TYPES + _NORM_TYPES):
            continue
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
            _init_layer(module, std)
            _spectral_norm(module)
        else:
            _init_layer(module, std)
    return model


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (spectral-norm buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_activation(name: str) -> nn.Module:
    name = name.lower()
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name in ("lrelu", "leaky_relu"):
        return nn.LeakyReLU(0.2, inplace=True)
    raise ValueError(f"activation '{name}': expected relu or lrelu")


# ---------------------------------------------------------------------------------------------
# transposed video convolutions
# ---------------------------------------------------------------------------------------------
def _tconv3d(cin: int, cout: int, kernel: Triple, stride: Triple, padding: Triple,
             use_sn: bool) -> nn.Module:
    conv = nn.ConvTranspose3d(cin, cout, kernel, stride, padding, bias=False)
    return spectral(conv) if use_sn else conv


class VideoUpsampling(nn.Module):
    """One up-sampling step of a video generator.

    ``conv_type``:
      * ``"1+2d"`` (transposed (1+2)D, the papers' choice): transposed 1D temporal convolution
        ``kt x 1 x 1`` to ``mid_channels`` (= M), batch norm + activation, then a transposed 2D
        spatial convolution ``1 x ks x ks`` to ``out_channels``;
      * ``"2+1d"``: the spatial step first, then the temporal one;
      * ``"3d"``: one full transposed 3D convolution ``kt x ks x ks``.

    ``temporal`` and ``spatial`` are (kernel, stride, padding); the spatial kernel may be an
    (height, width) pair (ImaGINator's first block at non-square frame sizes). With ``last=True`` the final
    convolution has no norm / activation (the caller applies tanh).
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int,
                 temporal: Sequence[int], spatial: Sequence[int], conv_type: str = "1+2d",
                 activation: str = "lrelu", spectral_norm: bool = False, last: bool = False):
        super().__init__()
        kt, st, pt = temporal
        ks, ss, ps = spatial
        kh, kw = (ks, ks) if isinstance(ks, int) else tuple(ks)  # rectangular kernels allowed
        self.conv_type = conv_type
        layers: list[nn.Module] = []

        def norm_act(channels: int) -> list[nn.Module]:
            return [nn.BatchNorm3d(channels), make_activation(activation)]

        if conv_type == "1+2d":
            layers += [_tconv3d(in_channels, mid_channels, (kt, 1, 1), (st, 1, 1), (pt, 0, 0),
                                spectral_norm), *norm_act(mid_channels),
                       _tconv3d(mid_channels, out_channels, (1, kh, kw), (1, ss, ss), (0, ps, ps),
                                spectral_norm)]
        elif conv_type == "2+1d":
            layers += [_tconv3d(in_channels, mid_channels, (1, kh, kw), (1, ss, ss), (0, ps, ps),
                                spectral_norm), *norm_act(mid_channels),
                       _tconv3d(mid_channels, out_channels, (kt, 1, 1), (st, 1, 1), (pt, 0, 0),
                                spectral_norm)]
        elif conv_type == "3d":
            layers.append(_tconv3d(in_channels, out_channels, (kt, kh, kw), (st, ss, ss),
                                   (pt, ps, ps), spectral_norm))
        else:
            raise ValueError(f"conv_type '{conv_type}': expected 1+2d, 2+1d or 3d")
        if not last:
            layers += norm_act(out_channels)
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def upsampled_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a transposed convolution (no output padding, dilation 1)."""
    return (size - 1) * stride - 2 * padding + kernel


# ---------------------------------------------------------------------------------------------
# conditioning and fusion
# ---------------------------------------------------------------------------------------------
def one_hot_labels(labels: torch.Tensor | None, num_classes: int, batch: int,
                   device: torch.device) -> torch.Tensor:
    """Labels as (B, num_classes) float one-hot vectors; (B,) indices or (B, n) vectors accepted."""
    if num_classes == 0:
        return torch.zeros(batch, 0, device=device)
    if labels is None:
        raise ValueError(f"this model is conditioned on {num_classes} classes; pass labels")
    if labels.dim() == 1:
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must lie in [0, {num_classes}); got "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        return nn.functional.one_hot(labels.long(), num_classes).float()
    if labels.shape != (batch, num_classes):
        raise ValueError(f"one-hot labels must be ({batch}, {num_classes}); got {tuple(labels.shape)}")
    return labels.float()


def label_map(onehot: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Replicate (B, n) one-hot vectors into a (B, n, *size) label map (video or image)."""
    view = onehot.reshape(*onehot.shape, *([1] * len(size)))
    return view.expand(*onehot.shape, *size)


def skip_fusion(video: torch.Tensor, image: torch.Tensor | None = None,
                onehot: torch.Tensor | None = None) -> torch.Tensor:
    """ImaGINator spatio-temporal fusion: every time slice of ``video`` (B, C1, T, H, W) is
    concatenated with the encoder map ``image`` (B, C2, H, W) and the label map -> C1+C2+n."""
    b, _, t, h, w = video.shape
    parts = [video]
    if image is not None:
        if image.shape[-2:] != (h, w):
            raise ValueError(f"skip fusion: encoder map {tuple(image.shape)} does not match the "
                             f"decoder map {tuple(video.shape)} spatially")
        parts.append(image.unsqueeze(2).expand(-1, -1, t, -1, -1))
    if onehot is not None and onehot.shape[1] > 0:
        parts.append(label_map(onehot, (t, h, w)))
    return torch.cat(parts, dim=1)


def g3_fusion(video: torch.Tensor, spatial: torch.Tensor, temporal: torch.Tensor) -> torch.Tensor:
    """G3AN spatio-temporal fusion: ``video`` (B, C, T, H, W) + temporal (B, C, T, 1, 1) replicated
    over space, then the spatial stream (B, C, 1, H, W) replicated over time is concatenated in
    front -> (B, 2C, T, H, W)."""
    t = video.shape[2]
    fused = video + temporal.expand_as(video)
    return torch.cat([spatial.expand(-1, -1, t, -1, -1), fused], dim=1)


# ---------------------------------------------------------------------------------------------
# factorised spatio-temporal self-attention
# ---------------------------------------------------------------------------------------------
class _AxisSelfAttention(nn.Module, ABC):
    """Self-attention along one axis group of a (B, C, T, H, W) map, every other position apart.

    f, g project to C/k channels, h keeps C; for output position j,
    ``y_j = gamma * sum_i softmax_i(g(x_j) . f(x_i)) h(x_i) + x_j`` (eqs. 4.1-4.4).
    """

    axis: str = ""

    def __init__(self, channels: int, reduction: int = 8, spectral_norm: bool = False):
        super().__init__()
        inner = max(1, channels // reduction)
        wrap: Callable[[nn.Module], nn.Module] = spectral if spectral_norm else (lambda m: m)
        self.f = wrap(nn.Conv3d(channels, inner, 1))
        self.g = wrap(nn.Conv3d(channels, inner, 1))
        self.h = wrap(nn.Conv3d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    @abstractmethod
    def _to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (batch of sequences, length, C) along the attended axes."""

    @abstractmethod
    def _from_sequences(self, y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Inverse of :meth:`_to_sequences` for the original ``shape``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys = self._to_sequences(self.f(x))        # (N, L, C')
        queries = self._to_sequences(self.g(x))     # (N, L, C')
        values = self._to_sequences(self.h(x))      # (N, L, C)
        attention = torch.softmax(queries @ keys.transpose(1, 2), dim=-1)  # (N, L_j, L_i)
        out = self._from_sequences(attention @ values, x.shape)
        return self.gamma * out + x


class TemporalSelfAttention(_AxisSelfAttention):
    """T-SA: attention over the T time steps of every spatial position (B*H*W sequences)."""

    axis = "time"

    def _to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        return x.permute(0, 3, 4, 2, 1).reshape(b * h * w, t, c)

    def _from_sequences(self, y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        b, _, t, h, w = shape
        c = y.shape[-1]
        return y.reshape(b, h, w, t, c).permute(0, 4, 3, 1, 2)


class SpatialSelfAttention(_AxisSelfAttention):
    """S-SA: attention over the H*W positions of every time step (B*T sequences)."""

    axis = "space"

    def _to_sequences(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        return x.permute(0, 2, 3, 4, 1).reshape(b * t, h * w, c)

    def _from_sequences(self, y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        b, _, t, h, w = shape
        c = y.shape[-1]
        return y.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)


class FactorizedSelfAttention(nn.Module):
    """F-SA: temporal self-attention, then spatial self-attention (thesis fig. 4.5)."""

    def __init__(self, channels: int, reduction: int = 8, spectral_norm: bool = False):
        super().__init__()
        self.temporal = TemporalSelfAttention(channels, reduction, spectral_norm)
        self.spatial = SpatialSelfAttention(channels, reduction, spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.temporal(x))
