"""ssnlib — Spatially Stochastic Networks (NeurIPS 2020): low distortion block-resampling.

Public API::

    from ssnlib import SSNGenerator, StyleGAN2Generator, Discriminator, BlockGrid, resample
"""

from .blocks import BlockGrid, resample, resample_each
from .networks import Discriminator, SSNGenerator, StyleGAN2Generator

__all__ = ["BlockGrid", "Discriminator", "SSNGenerator", "StyleGAN2Generator", "resample", "resample_each"]
__version__ = "0.1.0"
