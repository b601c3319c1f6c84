"""ssnlib — Spatially Stochastic Networks (NeurIPS 2020): low distortion block-resampling.

Public API::

    from ssnlib import SSNGenerator, StyleGAN2Generator, Discriminator, BlockGrid, resample, load
"""

import os

# Bit-identical CPU runs (exact resume, seeded reproducibility) need MKL's conditional numerical
# reproducibility mode: without it MKL's results depend on buffer alignment, which differs from
# process to process. Set before torch makes its first MKL call; a user's own setting wins.
os.environ.setdefault("MKL_CBWR", "AUTO")

from .blocks import BlockGrid, resample, resample_each
from .io.stylegan2_import import load
from .networks import Discriminator, SSNGenerator, StyleGAN2Generator

__all__ = ["BlockGrid", "Discriminator", "SSNGenerator", "StyleGAN2Generator", "load", "resample", "resample_each"]
__version__ = "0.1.0"
