"""GCL generative networks: structure encoder E_str, AdaIN decoder G, multi-scale discriminator D."""
from .discriminator import MultiScaleDiscriminator, PatchDiscriminator
from .generative_module import GCLGenerativeModule, GeneratedViews, build_generative_module
from .generator import AppearanceDecoder, Generator
from .grad import count_parameters, set_requires_grad
from .structure_encoder import StructureEncoder

__all__ = [
    "AppearanceDecoder",
    "GCLGenerativeModule",
    "GeneratedViews",
    "Generator",
    "MultiScaleDiscriminator",
    "PatchDiscriminator",
    "StructureEncoder",
    "build_generative_module",
    "count_parameters",
    "set_requires_grad",
]
