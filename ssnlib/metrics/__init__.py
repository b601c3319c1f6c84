"""Metrics of the paper's experiments (§4): feature statistics, FID / KID and their feature networks.

Importing the package registers every feature extractor, the offline `procnet` one included."""

from .features import (
    INCEPTION_NAME,
    FeatureExtractor,
    MissingWeightsError,
    as_feature_extractor,
    compute_feature_stats,
    compute_fid,
    dataset_feature_stats,
    fid_with_se,
    get_feature_extractor,
    images_to_uint8,
    inception_feature_extractor,
    lpips_vgg16,
    register_feature_extractor,
)
from .frechet import FeatureStats, fid_bootstrap_se, fid_from_stats, frechet_distance, kernel_inception_distance
from .procnet import PROCNET_NAME  # noqa: F401 — registers the "procnet" feature extractor

__all__ = [
    "INCEPTION_NAME",
    "FeatureExtractor",
    "FeatureStats",
    "MissingWeightsError",
    "as_feature_extractor",
    "compute_feature_stats",
    "compute_fid",
    "fid_with_se",
    "dataset_feature_stats",
    "fid_bootstrap_se",
    "fid_from_stats",
    "frechet_distance",
    "get_feature_extractor",
    "images_to_uint8",
    "inception_feature_extractor",
    "kernel_inception_distance",
    "lpips_vgg16",
    "register_feature_extractor",
]
