"""InMoDeGAN's latent side (thesis chapter 5.2): appearance net, motion net, motion bank and the
Linear Motion Decomposition w_t = w_0 + sum_{j<t} sum_i alpha_{j,i} d_i (eq. 5.4)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..stylegan.layers import EqualLinear, MappingNetwork

BASES = ("svd", "qr")


class AppearanceNet(nn.Module):
    """G_A: an 8-layer MLP mapping appearance noise z_a to the initial latent code w_0."""

    def __init__(self, za_dim: int = 512, w_dim: int = 512, num_layers: int = 8):
        super().__init__()
        self.mapping = MappingNetwork(za_dim, w_dim, num_layers, w_avg_beta=None)

    def forward(self, z_a: torch.Tensor) -> torch.Tensor:
        return self.mapping(z_a)


class MotionNet(nn.Module):
    """G_M: a GRU over the motion noises (initial hidden state = z_a, projected when the sizes
    differ) followed by an 8-layer MLP giving the magnitudes A_t (B, T-1, N)."""

    def __init__(self, za_dim: int = 512, zm_dim: int = 256, num_directions: int = 512,
                 hidden_dim: int = 512, num_layers: int = 8):
        super().__init__()
        self.init_hidden = nn.Identity() if za_dim == hidden_dim else nn.Linear(za_dim, hidden_dim)
        self.gru = nn.GRU(zm_dim, hidden_dim, batch_first=True)
        layers: list[nn.Module] = [EqualLinear(hidden_dim, hidden_dim, activation=True)
                                   for _ in range(num_layers - 1)]
        layers.append(EqualLinear(hidden_dim, num_directions))
        self.mlp = nn.Sequential(*layers)
        self.zm_dim = zm_dim

    def forward(self, z_a: torch.Tensor, z_m: torch.Tensor) -> torch.Tensor:
        if z_m.dim() != 3 or z_m.shape[0] != z_a.shape[0] or z_m.shape[2] != self.zm_dim:
            raise ValueError(f"z_m must be (B, T-1, {self.zm_dim}) with B = {z_a.shape[0]}; got "
                             f"{tuple(z_m.shape)}")
        h0 = self.init_hidden(z_a).unsqueeze(0).contiguous()
        states, _ = self.gru(z_m, h0)                                   # (B, T-1, hidden)
        return self.mlp(states)


class MotionBank(nn.Module):
    """Learnable matrix M (N x dim) whose orthonormal basis gives the N motion directions.

    ``basis="svd"``: D = V^T from M = U S V^T (the thesis); ``"qr"``: D = Q^T from M^T = Q R,
    signs fixed so that diag(R) > 0. Rows of :meth:`directions` are orthonormal (N <= dim).
    """

    def __init__(self, num_directions: int = 512, dim: int = 512, basis: str = "svd"):
        super().__init__()
        if basis not in BASES:
            raise ValueError(f"motion bank basis is '{basis}'; expected one of {BASES}")
        if num_directions > dim:
            raise ValueError(f"num_directions ({num_directions}) cannot exceed the latent size "
                             f"({dim}) for an orthonormal basis")
        self.matrix = nn.Parameter(torch.randn(num_directions, dim))
        self.basis = basis

    def directions(self) -> torch.Tensor:
        """(N, dim), orthonormal rows d_0 .. d_{N-1}."""
        if self.basis == "svd":
            _, _, vh = torch.linalg.svd(self.matrix, full_matrices=False)
            return vh
        q, r = torch.linalg.qr(self.matrix.t())                         # (dim, N), (N, N)
        signs = torch.sign(torch.diagonal(r))
        signs = torch.where(signs == 0, torch.ones_like(signs), signs)
        return (q * signs).t()


def linear_motion_decomposition(w0: torch.Tensor, magnitudes: torch.Tensor,
                                directions: torch.Tensor) -> torch.Tensor:
    """w_t = w_0 + sum_{j<t} A_j D for t = 0..T-1 (eq. 5.4), vectorised with a cumulative sum.

    w0: (B, dim); magnitudes A: (B, T-1, N); directions D: (N, dim) -> (B, T, dim).
    """
    steps = magnitudes @ directions                                     # (B, T-1, dim)
    offsets = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(dim=1)], dim=1)
    return w0.unsqueeze(1) + offsets


def direction_mask(num_directions: int, active: Optional[list[int]] = None,
                   inactive: Optional[list[int]] = None,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """(N,) 0/1 mask: only ``active`` directions on (when given), then ``inactive`` ones off."""
    for name, idx in (("active", active), ("inactive", inactive)):
        bad = [i for i in (idx or []) if not 0 <= int(i) < num_directions]
        if bad:
            raise ValueError(f"{name} directions {bad} are outside 0..{num_directions - 1}")
    mask = torch.ones(num_directions, device=device)
    if active is not None:
        mask = torch.zeros(num_directions, device=device)
        mask[list(active)] = 1.0
    if inactive:
        mask[list(inactive)] = 0.0
    return mask
