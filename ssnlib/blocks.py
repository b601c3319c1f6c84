"""Latent blocks ↔ image blocks, and block resampling (§2–3).

Resampling block a means drawing a fresh z'_a and keeping every other cell: z̃_a = z'_a and
z̃_b = z_b for b ≠ a. (§3 of the paper writes it the other way round — z̃_a = z_a, z̃_b = z'_b —
which would resample everything *except* block a; eq. 2 and Figure 3 make the intent clear.)
Resampling every block once in any order yields a fresh z ~ N(0, I), hence a fresh image:
the chain is a block-resampling in the sense of Definition 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch

BlockSpec = Union[Sequence[tuple[int, int]], torch.Tensor]


@dataclass(frozen=True)
class BlockGrid:
    """A (gh, gw) latent grid laid over an (H, W) image: cell (r, c) owns rows
    [r·H/gh, (r+1)·H/gh) and columns [c·W/gw, (c+1)·W/gw)."""

    grid: tuple[int, int]
    image_size: tuple[int, int]

    def __post_init__(self):
        (gh, gw), (h, w) = self.grid, self.image_size
        if gh < 1 or gw < 1 or h % gh or w % gw:
            raise ValueError(f"grid {self.grid} must divide the image size {self.image_size}")

    @classmethod
    def for_generator(cls, generator) -> "BlockGrid":
        return cls(tuple(generator.grid), (generator.resolution, generator.resolution))

    @property
    def n_blocks(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def cell_size(self) -> tuple[int, int]:
        return self.image_size[0] // self.grid[0], self.image_size[1] // self.grid[1]

    def cells(self) -> list[tuple[int, int]]:
        """All cells in row-major order (index a = r·gw + c)."""
        return [(r, c) for r in range(self.grid[0]) for c in range(self.grid[1])]

    def index(self, cell: tuple[int, int]) -> int:
        self.check_cell(cell)
        return cell[0] * self.grid[1] + cell[1]

    def cell(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.n_blocks:
            raise ValueError(f"block index {index} out of range for a {self.grid} grid ({self.n_blocks} blocks)")
        return divmod(index, self.grid[1])

    def check_cell(self, cell: tuple[int, int]) -> None:
        r, c = cell
        if not (0 <= r < self.grid[0] and 0 <= c < self.grid[1]):
            raise ValueError(f"block {tuple(cell)} is outside the {self.grid[0]}×{self.grid[1]} grid")

    def pixel_box(self, cell: tuple[int, int]) -> tuple[slice, slice]:
        """(row slice, column slice) of the image region a cell owns."""
        self.check_cell(cell)
        ch, cw = self.cell_size
        return slice(cell[0] * ch, (cell[0] + 1) * ch), slice(cell[1] * cw, (cell[1] + 1) * cw)

    def cell_mask(self, blocks: BlockSpec) -> torch.Tensor:
        """Boolean (gh, gw) mask of the chosen cells (see `resample` for the accepted forms)."""
        return _to_cell_mask(blocks, self)

    def pixel_mask(self, blocks: BlockSpec) -> torch.Tensor:
        """Boolean (H, W) mask of the image regions owned by the chosen cells."""
        ch, cw = self.cell_size
        return self.cell_mask(blocks).repeat_interleave(ch, 0).repeat_interleave(cw, 1)

    def block_masks(self, blocks: torch.Tensor) -> torch.Tensor:
        """Boolean (N, 1, H, W) masks of the image region of block `blocks[i]`, a row-major index
        a = r·gw + c (one block per sample, as the regularizer and the block metrics draw them)."""
        (_, gw), (h, w), (ch, cw) = self.grid, self.image_size, self.cell_size
        rows = torch.arange(h, device=blocks.device) // ch
        cols = torch.arange(w, device=blocks.device) // cw
        owner = rows[:, None] * gw + cols[None, :]
        return (owner == blocks[:, None, None])[:, None]

    def cells_of(self, pixel_mask: torch.Tensor) -> torch.Tensor:
        """Boolean (gh, gw) mask of the cells whose region overlaps a boolean (H, W) mask."""
        if tuple(pixel_mask.shape) != self.image_size:
            raise ValueError(f"pixel mask of shape {tuple(pixel_mask.shape)} does not match the image size "
                             f"{self.image_size}")
        (gh, gw), (ch, cw) = self.grid, self.cell_size
        return pixel_mask.bool().reshape(gh, ch, gw, cw).any(3).any(1)


def _to_cell_mask(blocks: BlockSpec, grid: BlockGrid) -> torch.Tensor:
    if isinstance(blocks, torch.Tensor):
        if blocks.dtype != torch.bool:
            raise ValueError(f"block masks must be boolean tensors, got dtype {blocks.dtype}")
        if tuple(blocks.shape) == grid.grid:
            mask = blocks.cpu()
        elif blocks.ndim == 2 and blocks.shape[0] % grid.grid[0] == 0 and blocks.shape[1] % grid.grid[1] == 0:
            mask = BlockGrid(grid.grid, tuple(blocks.shape)).cells_of(blocks.cpu())
        else:
            raise ValueError(f"block mask of shape {tuple(blocks.shape)} is neither the grid shape {grid.grid} nor "
                             f"an image-resolution mask divisible by it")
    else:
        mask = torch.zeros(grid.grid, dtype=torch.bool)
        for cell in blocks:
            if len(cell) != 2:
                raise ValueError(f"blocks must be (row, col) pairs, got {cell!r}")
            grid.check_cell(tuple(int(v) for v in cell))
            mask[int(cell[0]), int(cell[1])] = True
    if not mask.any():
        raise ValueError("the block selection is empty: choose at least one cell")
    return mask


def resample(
    z: torch.Tensor,
    blocks: BlockSpec,
    generator: torch.Generator | None = None,
    strength: float = 1.0,
) -> torch.Tensor:
    """Redraw the chosen cells of a latent grid z (N, z_dim, gh, gw) from N(0, I); keep the rest.

    `blocks`: a list of (row, col) cells, a boolean (gh, gw) grid mask, or a boolean image-
    resolution (H, W) mask (every cell overlapping it is chosen). The same cells are resampled in
    every sample of the batch. `strength` t ∈ [0, 1] mixes z_a ← cos(πt/2)·z_a + sin(πt/2)·z'_a,
    which keeps the N(0, I) marginal for every t; t = 1 is a full resample (z̃_a = z'_a).
    """
    _check_latent_grid(z)
    if math.isnan(float(strength)) or not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}")
    mask = _to_cell_mask(blocks, BlockGrid(tuple(z.shape[2:]), tuple(z.shape[2:])))
    return _redraw(z, mask.to(z.device), generator, float(strength))


def resample_each(z: torch.Tensor, cells: Sequence[tuple[int, int]], generator: torch.Generator | None = None):
    """Fully resample one cell per sample: `cells[i]` = (row, col) of sample i (eq. 2's z̃^a)."""
    _check_latent_grid(z)
    if len(cells) != z.shape[0]:
        raise ValueError(f"need one cell per sample: {z.shape[0]} samples, {len(cells)} cells")
    grid = BlockGrid(tuple(z.shape[2:]), tuple(z.shape[2:]))
    mask = torch.zeros(z.shape[0], 1, *z.shape[2:], dtype=torch.bool)
    for i, cell in enumerate(cells):
        grid.check_cell(tuple(cell))
        mask[i, 0, cell[0], cell[1]] = True
    return _redraw(z, mask.to(z.device), generator, 1.0)


def _check_latent_grid(z: torch.Tensor) -> None:
    if z.ndim != 4:
        raise ValueError(f"expected a latent grid (N, z_dim, gh, gw), got shape {tuple(z.shape)}")


def _redraw(z: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None, strength: float) -> torch.Tensor:
    fresh = torch.randn(z.shape, generator=generator, device=generator.device if generator else z.device)
    fresh = fresh.to(device=z.device, dtype=z.dtype)
    if strength < 1:
        angle = math.pi * strength / 2
        fresh = math.cos(angle) * z + math.sin(angle) * fresh
    return torch.where(mask, fresh, z)
