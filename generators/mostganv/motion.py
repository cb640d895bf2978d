"""MoStGAN-V's motion side.

* :class:`MotionEncoder` (StyleGAN-V): a trajectory of motion noises on anchors spaced
  ``anchor_spacing`` frames apart goes through 1D convolutions with a large kernel (11); at any
  (real-valued) time t the features of the two surrounding anchors are interpolated and predict
  amplitudes, phases and period scales of sin / cos waves evaluated at t -> continuous motion code.
* :class:`MotionStyleNetwork`: MLP on [w, motion code(t)] -> K time-dependent motion vectors.
* the hypernetworks, one per synthesis convolution that takes motion styles: motion vectors ->
  rank-R factors (I + k + k values per rank) whose outer products are the K motion styles
  (I, k, k) (eq. 1). :class:`Conv1dHyperNetwork` is the paper's ("conv1d-based"): a 1D
  convolution over the K motion vectors (kernel 1 = each vector on its own, as the authors'
  release has it; no bias, leaky ReLU); :class:`LowRankHyperNetwork` is one linear layer with a
  bias per vector (``MODEL.MOSTGANV.HYPERNET linear``). :func:`build_hypernetwork` picks one.
* :func:`motion_style_attention` (MoStAtt, eq. 2): the content-modulated filter of every output
  channel attends over the K motion styles; the attended style modulates the filter,
  W'' = W' * (1 + lrelu(normalised attended style)).
* :func:`motion_diversity_loss` (eq. 3): columns of the pre-softmax attention matrix, normalised,
  should be orthogonal: ||S^T S - I||_F^2 / K^2.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..stylegan.layers import EqualLinear


class MotionEncoder(nn.Module):
    """(z_traj (B, zm_dim, L), times (B, n)) -> motion codes (B, n, 2 * num_freqs)."""

    def __init__(self, zm_dim: int = 512, hidden_dim: int = 512, num_freqs: int = 256,
                 kernel_size: int = 11, num_layers: int = 2, anchor_spacing: float = 16.0,
                 min_period: float = 2.0, max_period: float = 256.0):
        super().__init__()
        layers: list[nn.Module] = []
        previous = zm_dim
        for _ in range(num_layers):
            layers += [nn.Conv1d(previous, hidden_dim, kernel_size, padding=kernel_size // 2,
                                 padding_mode="replicate"), nn.LeakyReLU(0.2)]
            previous = hidden_dim
        self.trajectory = nn.Sequential(*layers)
        self.amplitude = nn.Linear(hidden_dim, num_freqs)
        self.phase = nn.Linear(hidden_dim, num_freqs)
        self.period_scale = nn.Linear(hidden_dim, num_freqs)
        periods = torch.logspace(math.log10(min_period), math.log10(max_period), num_freqs)
        self.register_buffer("base_frequencies", 2 * math.pi / periods)
        self.zm_dim, self.num_freqs, self.anchor_spacing = zm_dim, num_freqs, anchor_spacing
        self.code_dim = 2 * num_freqs

    def num_anchors(self, max_time: float) -> int:
        """Anchors needed to cover frame times in [0, max_time]."""
        return int(math.floor(max(float(max_time), 0.0) / self.anchor_spacing)) + 2

    def sample_noise(self, batch: int, max_time: float, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(batch, self.zm_dim, self.num_anchors(max_time), device=device,
                           generator=generator)

    def forward(self, z_traj: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
        if z_traj.dim() != 3 or z_traj.shape[1] != self.zm_dim:
            raise ValueError(f"z_traj must be (B, {self.zm_dim}, L); got {tuple(z_traj.shape)}")
        if times.dim() != 2 or times.shape[0] != z_traj.shape[0]:
            raise ValueError(f"times must be (B, n) with B = {z_traj.shape[0]}; got "
                             f"{tuple(times.shape)}")
        anchors = z_traj.shape[2]
        needed = self.num_anchors(float(times.max()))
        if anchors < needed or float(times.min()) < 0:
            raise ValueError(f"times in [{float(times.min())}, {float(times.max())}] need >= "
                             f"{needed} anchors and t >= 0; z_traj has {anchors}")
        feats = self.trajectory(z_traj).transpose(1, 2)                 # (B, L, hidden)
        position = times / self.anchor_spacing
        left = position.floor().long().clamp(0, anchors - 2)
        frac = (position - left).unsqueeze(-1)
        index = left.unsqueeze(-1).expand(-1, -1, feats.shape[2])
        f_left = torch.gather(feats, 1, index)
        f_right = torch.gather(feats, 1, index + 1)
        f_t = f_left + frac * (f_right - f_left)                        # (B, n, hidden)
        freq = self.base_frequencies * (1.0 + torch.tanh(self.period_scale(f_t)) * 0.5)
        angle = freq * times.unsqueeze(-1) + self.phase(f_t)
        amplitude = self.amplitude(f_t)
        return torch.cat([amplitude * torch.sin(angle), amplitude * torch.cos(angle)], dim=-1)


class MotionStyleNetwork(nn.Module):
    """MLP on [w, motion code] -> K motion vectors of ``motion_dim`` (paper: K = 8, 128)."""

    def __init__(self, w_dim: int = 512, code_dim: int = 512, motion_dim: int = 128,
                 num_styles: int = 8, num_layers: int = 2):
        super().__init__()
        dims = [w_dim + code_dim] + [w_dim] * (num_layers - 1)
        layers: list[nn.Module] = [EqualLinear(a, b, activation=True)
                                   for a, b in zip(dims[:-1], dims[1:])]
        layers.append(EqualLinear(dims[-1], num_styles * motion_dim))
        self.mlp = nn.Sequential(*layers)
        self.num_styles, self.motion_dim = num_styles, motion_dim

    def forward(self, w: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        out = self.mlp(torch.cat([w, code], dim=-1))
        return out.reshape(*out.shape[:-1], self.num_styles, self.motion_dim)


class LowRankHyperNetwork(nn.Module):
    """Motion vectors (..., K, motion_dim) -> rank-R factors (..., K, R, I + k + k)."""

    def __init__(self, motion_dim: int, in_channels: int, kernel_size: int, rank: int = 1):
        super().__init__()
        self.rank, self.in_channels, self.kernel_size = rank, in_channels, kernel_size
        self.linear = EqualLinear(motion_dim, rank * (in_channels + 2 * kernel_size),
                                  bias_init=1.0)

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        out = self.linear(motion)
        return out.reshape(*out.shape[:-1], self.rank, self.in_channels + 2 * self.kernel_size)


class Conv1dHyperNetwork(nn.Module):
    """Motion vectors (..., K, motion_dim) -> rank-R factors (..., K, R, I + k + k) by a 1D
    convolution along the K motion vectors (channels = motion_dim, odd ``conv_kernel``, zero
    padding so that K factors come out), equalised learning rate, no bias, leaky ReLU(0.2) x
    sqrt 2. ``rank * (I + 2k) * motion_dim * conv_kernel`` parameters."""

    def __init__(self, motion_dim: int, in_channels: int, kernel_size: int, rank: int = 1,
                 conv_kernel: int = 1):
        super().__init__()
        if conv_kernel < 1 or conv_kernel % 2 == 0:
            raise ValueError(f"conv1d hypernetwork kernel is {conv_kernel}; expected an odd "
                             "positive size (the K motion styles keep their count)")
        self.rank, self.in_channels, self.kernel_size = rank, in_channels, kernel_size
        out = rank * (in_channels + 2 * kernel_size)
        self.weight = nn.Parameter(torch.randn(out, motion_dim, conv_kernel))
        self.scale = 1.0 / math.sqrt(motion_dim * conv_kernel)
        self.padding = conv_kernel // 2

    def forward(self, motion: torch.Tensor) -> torch.Tensor:
        lead, (k_styles, dim) = motion.shape[:-2], motion.shape[-2:]
        x = motion.reshape(-1, k_styles, dim).transpose(1, 2)             # (N, motion_dim, K)
        out = F.conv1d(x, self.weight * self.scale, padding=self.padding)
        out = F.leaky_relu(out, 0.2) * math.sqrt(2.0)
        out = out.transpose(1, 2).reshape(*lead, k_styles, self.rank, -1)
        return out


HYPERNETWORKS = ("conv1d", "linear")


def build_hypernetwork(kind: str, motion_dim: int, in_channels: int, kernel_size: int,
                       rank: int = 1, conv_kernel: int = 1) -> nn.Module:
    """The hypernetwork of one synthesis convolution: ``kind`` conv1d (the paper) or linear."""
    if kind == "conv1d":
        return Conv1dHyperNetwork(motion_dim, in_channels, kernel_size, rank, conv_kernel)
    if kind == "linear":
        return LowRankHyperNetwork(motion_dim, in_channels, kernel_size, rank)
    raise ValueError(f"hypernetwork '{kind}': expected one of {', '.join(HYPERNETWORKS)}")


def motion_styles(factors: torch.Tensor, in_channels: int, kernel_size: int) -> torch.Tensor:
    """Rank-R factors (B, K, R, I + 2k) -> motion styles (B, K, I, k, k) = sum_r a (x) b (x) c."""
    b, k_styles, rank, _ = factors.shape
    a = factors[..., :in_channels]
    rows = factors[..., in_channels:in_channels + kernel_size]
    cols = factors[..., in_channels + kernel_size:]
    m = a[..., :, None, None] * rows[..., None, :, None] * cols[..., None, None, :]
    return m.sum(dim=2) / math.sqrt(rank)


def motion_style_attention(weight: torch.Tensor, factors: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """MoStAtt. weight: content-modulated filters (B, O, I, k, k); factors (B, K, R, I + 2k).

    Returns (motion-modulated filters (B, O, I, k, k), pre-softmax scores (B, O, K)).
    """
    b, o, i, kh, kw = weight.shape
    styles = motion_styles(factors, i, kh).reshape(b, factors.shape[1], -1)       # (B, K, D)
    flat = weight.reshape(b, o, -1)
    scores = flat @ styles.transpose(1, 2) / math.sqrt(flat.shape[-1])           # (B, O, K)
    attended = torch.softmax(scores, dim=-1) @ styles                            # (B, O, D)
    scale = attended.abs().amax(dim=(1, 2), keepdim=True) + 1e-8
    modulation = F.leaky_relu(attended / scale, 0.2)
    return (flat * (1.0 + modulation)).reshape(b, o, i, kh, kw), scores


def motion_diversity_loss(scores: torch.Tensor) -> torch.Tensor:
    """||S_hat^T S_hat - I||_F^2 / K^2 averaged over the batch; S_hat: columns of the pre-softmax
    attention matrix (B, O, K) normalised to unit length."""
    normalised = F.normalize(scores, dim=1)
    gram = normalised.transpose(1, 2) @ normalised
    eye = torch.eye(gram.shape[-1], device=gram.device, dtype=gram.dtype)
    return (gram - eye).square().sum(dim=(1, 2)).mean() / gram.shape[-1] ** 2
