"""Networks of the ReID system: the identity encoder E_id and its checkpoint formats.

The GCL generative networks live in :mod:`reid.models.gcl`.
"""
from .backbone import create_backbone, load_backbone_weights, set_last_stride
from .checkpoint import (ENCODER_FORMAT, identity_encoder_from_checkpoint, load_identity_encoder,
                         save_identity_encoder, split_encoder_checkpoint)
from .identity_encoder import IdentityEncoder, IdentityFeatures, build_identity_encoder
from .key_mapping import remap_state_keys
from .weight_checks import (NonFiniteWeightsError, PartialLoadError, check_complete_load,
                            check_finite_weights)

__all__ = [
    "ENCODER_FORMAT",
    "IdentityEncoder",
    "IdentityFeatures",
    "NonFiniteWeightsError",
    "PartialLoadError",
    "build_identity_encoder",
    "check_complete_load",
    "check_finite_weights",
    "create_backbone",
    "identity_encoder_from_checkpoint",
    "load_backbone_weights",
    "load_identity_encoder",
    "remap_state_keys",
    "save_identity_encoder",
    "set_last_stride",
    "split_encoder_checkpoint",
]
