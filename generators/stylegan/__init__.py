"""Style-based building blocks (StyleGAN2 family) in plain PyTorch, shared by InMoDeGAN and
MoStGAN-V: mapping network, modulated / demodulated convolution, synthesis network with skip
(toRGB) outputs and noise inputs, FIR up/down-sampling, residual minibatch-std discriminator,
non-saturating logistic loss, lazy R1 and a generator EMA."""
from .layers import (EqualConv2d, EqualLinear, MappingNetwork, ModulatedConv2d, NoiseInjection,
                     ToRGB, downsample2d, modulated_conv2d, upsample2d)
from .synthesis import StyledLayer, SynthesisBlock, SynthesisNetwork, channels_for_resolution
from .discriminator import MinibatchStdLayer, ResidualDiscriminator, ResidualDownBlock
from .losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from .ema import GeneratorEMA
from .training import AdversarialTrainer

__all__ = [
    "EqualConv2d", "EqualLinear", "MappingNetwork", "ModulatedConv2d", "NoiseInjection", "ToRGB",
    "downsample2d", "modulated_conv2d", "upsample2d", "StyledLayer", "SynthesisBlock",
    "SynthesisNetwork", "channels_for_resolution", "MinibatchStdLayer", "ResidualDiscriminator",
    "ResidualDownBlock", "d_logistic_loss", "g_nonsaturating_loss", "r1_penalty", "GeneratorEMA",
    "AdversarialTrainer",
]
