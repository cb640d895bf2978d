"""Losses of the GCL job: GAN, reconstruction, view-invariant contrast, cluster contrast, supervised."""
from .cluster_contrast import ClusterContrastLoss, cluster_contrast_loss
from .gan import lsgan_discriminator_loss, lsgan_generator_loss, r1_gradient_penalty
from .reconstruction import (GANLossWeights, feature_reconstruction_loss, gan_objective,
                             image_reconstruction_loss, view_reconstruction_loss)
from .triplet import CrossEntropyLabelSmooth, TripletLoss, batch_hard_triplet_loss
from .view_invariant import VI_TERMS, ViewInvariantResult, contrastive_log_loss, view_invariant_losses

__all__ = [
    "ClusterContrastLoss",
    "CrossEntropyLabelSmooth",
    "GANLossWeights",
    "TripletLoss",
    "VI_TERMS",
    "ViewInvariantResult",
    "batch_hard_triplet_loss",
    "cluster_contrast_loss",
    "contrastive_log_loss",
    "feature_reconstruction_loss",
    "gan_objective",
    "image_reconstruction_loss",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "r1_gradient_penalty",
    "view_invariant_losses",
    "view_reconstruction_loss",
]
