"""The GCL view generator: E_str + G + D and the forward passes of the generative module.

E_id is not owned here (it is shared with the contrastive module and has its own optimiser); it is
passed to :meth:`GCLGenerativeModule.generate_views`. It must provide ``forward_all(x)`` returning
an object with ``embedding`` (B, 512) and ``parts`` (B, 2048, P).
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from ..batchnorm import frozen_running_stats
from .discriminator import MultiScaleDiscriminator
from .generator import AppearanceDecoder
from .structure_encoder import StructureEncoder


@dataclass
class GeneratedViews:
    """Everything one generative forward pass produces (names follow thesis chapter 6).

    x_ori = x'_ori = G(E_str(s_ori), parts); x_new = x'_new = G(E_str(s_new), parts);
    x_cycle = x''_ori = G(E_str(s_ori), parts_new). ``embedding*`` are the 512-d features f,
    ``parts*`` the (B, 2048, P) appearance codes of E_id on x, x'_new and x''_ori.
    """

    x_ori: torch.Tensor
    x_new: torch.Tensor
    x_cycle: torch.Tensor
    embedding: torch.Tensor
    embedding_new: torch.Tensor
    embedding_cycle: torch.Tensor
    parts: torch.Tensor
    parts_new: torch.Tensor
    parts_cycle: torch.Tensor

    def fakes(self) -> torch.Tensor:
        """The three generated batches stacked along the batch axis: (x'_ori, x'_new, x''_ori)."""
        return torch.cat([self.x_ori, self.x_new, self.x_cycle], dim=0)

    def float(self) -> "GeneratedViews":
        """The same views in float32 (after a bf16 autocast pass; a no-op for float32)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).float()
                                            for f in dataclasses.fields(self)})


class GCLGenerativeModule(nn.Module):
    """Bundles the structure encoder, the AdaIN decoder and the multi-scale discriminator."""

    def __init__(self, structure_dim: int = 128, code_dim: int = 2048, num_parts: int = 4,
                 num_res_blocks: int = 4, mlp_dim: int = 512, disc_channels: int = 32,
                 disc_scales: int = 3, aspp_dilations: tuple[int, ...] = (3, 6, 9),
                 adain_input: str = "stripe"):
        super().__init__()
        self.structure_encoder = StructureEncoder(1, structure_dim, num_res_blocks, aspp_dilations)
        self.generator = AppearanceDecoder(structure_dim, code_dim, num_parts, mlp_dim, num_res_blocks,
                                           adain_input=adain_input)
        self.discriminator = MultiScaleDiscriminator(3, disc_channels, disc_scales)

    def generator_parameters(self) -> list[nn.Parameter]:
        """Parameters of E_str and G (one Adam optimiser in GCL)."""
        return list(self.structure_encoder.parameters()) + list(self.generator.parameters())

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def generate_views(self, identity_encoder: nn.Module, x: torch.Tensor, s_ori: torch.Tensor,
                       s_new: torch.Tensor, train_encoder: bool = True,
                       batched: bool = True, generated_bn_stats: bool = False) -> GeneratedViews:
        """Run x'_ori, x'_new, the cycle x''_ori and the E_id passes GCL needs.

        ``train_encoder=False`` (gan_warmup) runs E_id(x) without building a graph; gradients still
        flow *through* E_id from E_id(x'_new) and E_id(x''_ori) into G when G is trained.
        ``batched=True`` encodes s_ori and s_new in one E_str pass and decodes x'_new and x'_ori
        in one G pass (E_str(s_ori) is shared by x'_ori and x''_ori either way); ``batched=False``
        runs every pass separately, as a straightforward implementation would.
        ``generated_bn_stats=False`` keeps E_id's BatchNorm running statistics out of the E_id
        passes over x'_new and x''_ori (they are still normalised with their batch statistics).
        """
        if x.shape[0] != s_ori.shape[0] or x.shape[0] != s_new.shape[0]:
            raise ValueError(
                f"batch sizes differ: images {x.shape[0]}, s_ori {s_ori.shape[0]}, s_new {s_new.shape[0]}")
        if x.shape[-2:] != s_ori.shape[-2:] or x.shape[-2:] != s_new.shape[-2:]:
            raise ValueError(
                f"image size {tuple(x.shape[-2:])} differs from structure-map sizes "
                f"{tuple(s_ori.shape[-2:])} / {tuple(s_new.shape[-2:])}")
        ctx = contextlib.nullcontext() if train_encoder else torch.no_grad()
        with ctx:
            ids = identity_encoder.forward_all(x)
        parts, embedding = ids.parts, ids.embedding
        b = x.shape[0]
        if batched:
            str_all = self.structure_encoder(torch.cat([s_ori, s_new], dim=0))
            str_ori, str_new = str_all[:b], str_all[b:]
            decoded = self.generator(torch.cat([str_new, str_ori], dim=0), torch.cat([parts, parts], dim=0))
            x_new, x_ori = decoded[:b], decoded[b:]
        else:
            str_ori = self.structure_encoder(s_ori)
            str_new = self.structure_encoder(s_new)
            x_ori = self.generator(str_ori, parts)
            x_new = self.generator(str_new, parts)
        with frozen_running_stats(identity_encoder, enabled=not generated_bn_stats):
            ids_new = identity_encoder.forward_all(x_new)
            x_cycle = self.generator(str_ori, ids_new.parts)
            ids_cycle = identity_encoder.forward_all(x_cycle)
        return GeneratedViews(
            x_ori=x_ori, x_new=x_new, x_cycle=x_cycle,
            embedding=embedding, embedding_new=ids_new.embedding, embedding_cycle=ids_cycle.embedding,
            parts=parts, parts_new=ids_new.parts, parts_cycle=ids_cycle.parts)

    @torch.no_grad()
    def sample_views(self, identity_encoder: nn.Module, x: torch.Tensor, s_ori: torch.Tensor,
                     s_new_list: list[torch.Tensor]) -> dict[str, Any]:
        """Novel views at several structures plus the cycle reconstruction (for image grids)."""
        parts = identity_encoder.forward_all(x).parts
        str_ori = self.structure_encoder(s_ori)
        novel = [self.generator(self.structure_encoder(s), parts) for s in s_new_list]
        cycle = None
        if novel:
            cycle = self.generator(str_ori, identity_encoder.forward_all(novel[0]).parts)
        return {"reconstruction": self.generator(str_ori, parts), "novel": novel, "cycle": cycle}


def build_generative_module(cfg: Optional[Any] = None, code_dim: int = 2048) -> GCLGenerativeModule:
    """GCLGenerativeModule from ``cfg.MODEL`` (defaults = the authors' sizes when cfg is None).

    ``code_dim`` is the channel count of E_id's appearance code (``IdentityEncoder.feature_dim``:
    2048 for ResNet-50, 512 for ResNet-18).
    """
    if cfg is None:
        return GCLGenerativeModule(code_dim=code_dim)
    from reid.config.validation import check_aspp_dilations

    dilations = check_aspp_dilations(cfg)
    m = cfg.MODEL
    return GCLGenerativeModule(
        structure_dim=m.STRUCTURE_DIM, code_dim=code_dim, num_parts=m.NUM_PARTS,
        num_res_blocks=m.GEN_RES_BLOCKS, mlp_dim=512, disc_channels=m.DISC_BASE_CHANNELS,
        disc_scales=m.DISC_SCALES, aspp_dilations=dilations,
        adain_input=m.ADAIN_INPUT)
