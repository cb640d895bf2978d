"""Key-name remapping of common ReID checkpoint formats onto the identity encoder (one place).

Handled formats (each key is mapped independently; keys that fit nowhere keep their name and are
then reported as unexpected by :func:`common.load_state_dict_with_report`):

* this project: ``backbone.*``, ``embedding.*``, ``embedding_bn.*``;
* ``DataParallel`` / ``DistributedDataParallel`` wrappers: ``module.`` prefixes (any depth);
* timm / torchvision / torchreid ImageNet-style ResNets: bare ``conv1.weight``, ``layer1.*``
  (become ``backbone.*``; classifiers such as ``fc.*`` / ``classifier.*`` stay unexpected);
* fast-reid: ``backbone.*`` (the ``heads.*`` classifier and ``pixel_mean/std`` stay unexpected);
* SpCL / cluster-contrast style encoders: ``base.<i>.*`` (an ``nn.Sequential`` of the ResNet's
  top-level layers) and the ``feat`` / ``feat_bn`` embedding.
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping

import torch

#: Wrapper prefixes stripped from the front of every key (repeatedly).
WRAPPER_PREFIXES = ("module.", "model.", "encoder.", "E_id.", "net.")
#: Renamings of sub-module prefixes used by other code bases -> this project's names.
PREFIX_RENAMES = (
    ("feat_bn.", "embedding_bn."),
    ("feat.", "embedding."),
    ("embedding.linear.", "embedding."),
    ("base_model.", "backbone."),
    ("base.", "backbone."),
)


def _strip_wrappers(key: str, wanted: set[str]) -> str:
    changed = True
    while changed and key not in wanted:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
                break
    return key


def _top_level_children(wanted: Iterable[str], prefix: str) -> list[str]:
    """Names of the parameterised top-level children below ``prefix``, in model order."""
    names: list[str] = []
    for key in wanted:
        if key.startswith(prefix):
            child = key[len(prefix):].split(".", 1)[0]
            if child not in names:
                names.append(child)
    return names


def _sequential_base_map(keys: Iterable[str], wanted: list[str], prefix: str) -> dict[int, str]:
    """Map ``base.<i>`` indices onto the backbone's top-level children when the counts agree."""
    indices = sorted({int(m.group(1)) for k in keys
                      if (m := re.match(r"^base\.(\d+)\.", k))})
    children = [c for c in _top_level_children(wanted, prefix) if not c.isdigit()]
    if indices and len(indices) == len(children):
        return dict(zip(indices, children))
    return {}


def _candidates(key: str, prefix: str, base_map: Mapping[int, str]) -> list[str]:
    out = [key, prefix + key]
    if prefix and key.startswith(prefix):
        out.append(key[len(prefix):])
    for old, new in PREFIX_RENAMES:
        if key.startswith(old):
            renamed = new + key[len(old):]
            out.extend([renamed, renamed.replace("backbone.", prefix, 1)])
    match = re.match(r"^base\.(\d+)\.(.*)$", key)
    if match and int(match.group(1)) in base_map:
        out.append(f"{prefix}{base_map[int(match.group(1))]}.{match.group(2)}")
    return out


def remap_state_keys(state: Mapping[str, torch.Tensor], wanted_keys: Iterable[str],
                     backbone_prefix: str = "backbone.") -> dict[str, torch.Tensor]:
    """Rename the keys of ``state`` to the model's names (``wanted_keys``) where a rule fits.

    ``backbone_prefix`` is where the backbone lives in the target model (``"backbone."`` for
    the whole identity encoder, ``""`` for a bare backbone).
    """
    wanted_list = list(wanted_keys)
    wanted = set(wanted_list)
    stripped = {_strip_wrappers(k, wanted): v for k, v in state.items()}
    base_map = _sequential_base_map(stripped, wanted_list, backbone_prefix)
    out: dict[str, torch.Tensor] = {}
    for key, value in stripped.items():
        target = next((c for c in _candidates(key, backbone_prefix, base_map)
                       if c in wanted and c not in out), key)
        if target in out:  # two source keys for one name: keep the second under its own name
            target = key + "#duplicate"
        out[target] = value
    return out


def remap_backbone_state(state: Mapping[str, torch.Tensor],
                         wanted_keys: Iterable[str]) -> dict[str, torch.Tensor]:
    """Remap a checkpoint onto a bare backbone (ImageNet weights files)."""
    return remap_state_keys(state, wanted_keys, backbone_prefix="")
