"""Image grids and block overlays for saving and displaying generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .io.serialization import atomic_write


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in [-1, 1] → (N, H, W, 3) uint8."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (N, 3, H, W), got shape {tuple(images.shape)}")
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def image_grid(images: torch.Tensor, ncol: int | None = None, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile (N, 3, H, W) images in [-1, 1] into one uint8 (rows·H, ncol·W, 3) array."""
    pixels = to_uint8(images)
    n, h, w, _ = pixels.shape
    ncol = ncol or int(np.ceil(np.sqrt(n)))
    nrow = int(np.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), pad_value, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = pixels[i]
    return grid


def save_image_grid(images: torch.Tensor, path: str | Path, ncol: int | None = None) -> None:
    """Write an image grid as PNG, atomically."""
    grid = Image.fromarray(image_grid(images, ncol))
    atomic_write(path, lambda tmp: grid.save(tmp, format="PNG"))


def difference_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel |a − b| averaged over RGB: (N, 3, H, W) twice → (N, H, W) float (images in [-1, 1])."""
    if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
        raise ValueError(f"expected two image batches (N, 3, H, W) of one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return (a.detach().float().cpu() - b.detach().float().cpu()).abs().mean(1)
