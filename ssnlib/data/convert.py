"""Conversion between stored uint8 images and the float tensors the networks consume."""

import numpy as np
import torch


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) → float32 (3, H, W) in [-1, 1]."""
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
    return chw.float().div_(127.5).sub_(1.0)
