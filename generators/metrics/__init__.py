"""Video-generation metrics: SSIM, PSNR, ACD (native) and video FID / FVD (user-supplied
feature-network weights)."""
from .frechet import frechet_distance, gaussian_statistics
from .feature_networks import (I3D_WEIGHTS_HINT, RESNEXT_WEIGHTS_HINT, InceptionI3d,
                               ResNeXt3D, load_feature_network, resnext101_3d)
from .image_quality import acd, psnr, ssim
from .video_scores import extract_features, fvd, video_fid

__all__ = ["I3D_WEIGHTS_HINT", "InceptionI3d", "RESNEXT_WEIGHTS_HINT", "ResNeXt3D", "acd",
           "extract_features", "frechet_distance", "fvd", "gaussian_statistics",
           "load_feature_network", "psnr", "resnext101_3d", "ssim", "video_fid"]
