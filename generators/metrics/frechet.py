"""Fréchet distance between Gaussians fitted to feature sets (FID / FVD); the math lives in
:mod:`common.frechet`, shared with the image FID of the ReID side."""
from common.frechet import feature_frechet_distance, frechet_distance, gaussian_statistics

__all__ = ["feature_frechet_distance", "frechet_distance", "gaussian_statistics"]
