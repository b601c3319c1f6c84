"""Summary statistics shared by the metrics."""

from __future__ import annotations

import math

import numpy as np
import torch


def mean_se(values) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / √n) of 1-D values (a tensor or an array),
    in float64, NaN entries left out (e.g. an image with nothing to compare); the SE is NaN below
    two values, both are NaN for none."""
    values = (values.double() if isinstance(values, torch.Tensor)
              else torch.from_numpy(np.array(values, dtype=np.float64))).flatten()
    values = values[~values.isnan()]
    n = values.numel()
    if n == 0:
        return math.nan, math.nan
    se = values.std(unbiased=True).item() / math.sqrt(n) if n > 1 else math.nan
    return values.mean().item(), se
