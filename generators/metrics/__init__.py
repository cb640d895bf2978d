"""Video-generation metrics: SSIM, PSNR, ACD (native), video FID / FVD (user-supplied
feature-network weights, including the StyleGAN-V TorchScript I3D) and the classifier scores
(FCD, classifier score, action accuracy) of the project's own action classifier."""
from .action_classifier import ActionClassifier, load_action_classifier
from .classifier_scores import (action_accuracy, classifier_score, classifier_scores,
                                frechet_classifier_distance, inception_style_score, map_labels)
from .frechet import frechet_distance, gaussian_statistics
from .feature_networks import (FEATURE_NETWORK_KINDS, I3D_WEIGHTS_HINT, RESNEXT_WEIGHTS_HINT,
                               InceptionI3d, ResNeXt3D, load_feature_network, resnext101_3d)
from .i3d_torchscript import TorchScriptI3D, is_torchscript_file
from .image_quality import acd, psnr, ssim
from .video_scores import extract_features, fvd, video_fid

__all__ = ["ActionClassifier", "FEATURE_NETWORK_KINDS", "I3D_WEIGHTS_HINT", "InceptionI3d",
           "RESNEXT_WEIGHTS_HINT", "ResNeXt3D", "TorchScriptI3D", "acd", "action_accuracy",
           "classifier_score", "classifier_scores", "extract_features",
           "frechet_classifier_distance", "frechet_distance", "fvd", "gaussian_statistics",
           "inception_style_score",
           "is_torchscript_file", "load_action_classifier", "load_feature_network", "map_labels",
           "psnr", "resnext101_3d", "ssim", "video_fid"]
