"""The qualitative figures (Figures 2, 6, 7, 8): resample examples, their numbers, and matplotlib figures.

- `generate_originals` / `resample_originals` — N generated images and K resamples of chosen
  blocks of each (z̃_a = z'_a on the chosen cells, every other cell and every noise input kept).
- `change_table` — per example: distortion (mean squared change outside the blocks, Table 2's
  scale: images in [-1, 1], mean over RGB), in-block change and locality, as Table 2 but for
  exactly the pictured examples; `resample_change_table` — the same over many more originals,
  batch by batch: the sample a claim about the pictured blocks is judged on.
- `part_cells` — the cells covering a part (Figure 8: the left eye) found by the procedural part
  network on each original, with a fixed fallback when the segmentation finds none.
- `samples_figure` (Table 1) — rows of samples: the training data beside each model.
- `resample_figure` (Figures 2, 6, 7) — originals, resamples with the blocks outlined, |Δ| heat
  maps on one colour scale; `grid_overlay_figure` and `comparison_figure` (Figure 8) — the latent
  grid over the image with the chosen blocks in red, and SSN resamples beside inpainting baselines.

Every figure builder returns a matplotlib Figure whose image axes carry the label "image" and whose
heat-map axes carry "heatmap" (`ax.get_label()`); block outlines are `Rectangle` patches around the
blocks' pixel boxes in imshow coordinates (pixel (r, c) covers [c − ½, c + ½] × [r − ½, r + ½]).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..blocks import BlockGrid, BlockSpec, resample
from ..metrics.droplets import peak_to_median
from ..progress import progress_bar
from ..viz import difference_map, image_grid, to_uint8

logger = logging.getLogger(__name__)

OUTLINE = "red"
HEATMAP_CMAP = "inferno"


# ------------------------------------------------------------------ examples


@dataclass
class Originals:
    """N generated images with the latents and noise inputs that made them."""

    z: torch.Tensor  # (N, *latent_shape)
    noise: list[torch.Tensor]
    images: torch.Tensor  # (N, 3, H, W) in [-1, 1]
    truncation_psi: float = 1.0


@dataclass
class Resamples:
    """K resamples of chosen blocks of each of N originals (Figures 2, 6, 7, 8)."""

    originals: Originals
    grid: BlockGrid
    cell_masks: torch.Tensor  # (N, gh, gw) bool: the resampled cells of each original
    z: torch.Tensor  # (N, K, *latent_shape)
    images: torch.Tensor  # (N, K, 3, H, W)

    @property
    def pixel_masks(self) -> torch.Tensor:
        """(N, H, W) bool: the image regions of each original's resampled cells."""
        return torch.stack([self.grid.pixel_mask(m) for m in self.cell_masks])


@torch.no_grad()
def generate_originals(G, n: int, seed: int = 0, truncation_psi: float = 1.0, device=None) -> Originals:
    """n images of G from a seeded stream (latents first, then noise: deterministic for a seed)."""
    if n < 1:
        raise ValueError(f"need at least one image, got n={n}")
    rng = torch.Generator().manual_seed(seed)
    z = G.sample_z(n, rng, device=device)
    noise = G.make_noise(n, rng, device=z.device)
    return Originals(z, noise, G(z, truncation_psi=truncation_psi, noise=noise).cpu(), truncation_psi)


def _cell_masks(blocks, n: int, grid: BlockGrid) -> torch.Tensor:
    """One (gh, gw) cell mask per image from a shared block spec or a list of N specs."""
    if isinstance(blocks, torch.Tensor) and blocks.ndim == 3:
        if blocks.shape[0] != n:
            raise ValueError(f"{blocks.shape[0]} block masks for {n} images")
        specs = list(blocks)
    elif isinstance(blocks, (list, tuple)) and blocks and not _is_cell(blocks[0]):
        if len(blocks) != n:
            raise ValueError(f"{len(blocks)} block selections for {n} images: give one per image or one for all")
        specs = list(blocks)
    else:
        specs = [blocks] * n
    return torch.stack([grid.cell_mask(spec) for spec in specs])


def _is_cell(item) -> bool:
    return len(item) == 2 and all(isinstance(v, (int, np.integer)) for v in item)


@torch.no_grad()
def resample_originals(G, originals: Originals, blocks: BlockSpec | Sequence[BlockSpec], n_resamples: int,
                       seed: int = 1) -> Resamples:
    """K = n_resamples full resamples of `blocks` for each original: z̃_a = z'_a on the chosen
    cells, all other cells and all noise inputs kept (§3). `blocks`: one selection for every image
    (a list of (row, col) cells or a (gh, gw) bool mask) or one per image (a list of selections,
    or an (N, gh, gw) bool tensor)."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    grid = BlockGrid.for_generator(G)
    n = originals.z.shape[0]
    masks = _cell_masks(blocks, n, grid)
    rng = torch.Generator().manual_seed(seed)
    z = torch.stack([torch.stack([resample(originals.z[i:i + 1], masks[i], rng)[0] for _ in range(n_resamples)])
                     for i in range(n)])  # (N, K, ...)
    flat = z.flatten(0, 1)
    noise = [b.repeat_interleave(n_resamples, 0) for b in originals.noise]
    images = G(flat, truncation_psi=originals.truncation_psi, noise=noise).cpu()
    return Resamples(originals, grid, masks, z, images.reshape(n, n_resamples, *images.shape[1:]))


def change_table(originals: torch.Tensor, edited: torch.Tensor, masks: torch.Tensor) -> pd.DataFrame:
    """One row per (image, edit): distortion (mean squared change outside the mask), in-block change
    (inside), locality (share of the change energy inside; NaN if nothing changed) — Table 2's
    quantities (images in [-1, 1], squared change averaged over RGB) for these exact examples.
    originals (N, 3, H, W), edited (N, K, 3, H, W), masks (N, H, W) or (H, W) bool."""
    if edited.ndim != 5 or edited.shape[0] != originals.shape[0] or edited.shape[2:] != originals.shape[1:]:
        raise ValueError(f"edited images {tuple(edited.shape)} must be (N, K, *{tuple(originals.shape[1:])})")
    masks = masks.expand(originals.shape[0], *originals.shape[-2:]).cpu() if masks.ndim == 2 else masks.cpu()
    if tuple(masks.shape) != (originals.shape[0], *originals.shape[-2:]):
        raise ValueError(f"masks {tuple(masks.shape)} do not match images {tuple(originals.shape)}")
    change = (edited.cpu().double() - originals.cpu().double()[:, None]).square().mean(2)  # (N, K, H, W)
    inside = masks[:, None].expand_as(change)
    energy_in = (change * inside).sum((2, 3))
    energy = change.sum((2, 3))
    rows = []
    for i in range(change.shape[0]):
        n_in = int(masks[i].sum())
        for k in range(change.shape[1]):
            total = energy[i, k].item()
            rows.append({"image": i, "edit": k,
                         "distortion": (total - energy_in[i, k].item()) / (masks[i].numel() - n_in),
                         "in_block": energy_in[i, k].item() / n_in if n_in else float("nan"),
                         "locality": energy_in[i, k].item() / total if total > 0 else float("nan")})
    return pd.DataFrame(rows)


@torch.no_grad()
def resample_change_table(G, blocks: BlockSpec, n: int, n_resamples: int = 1, seed: int = 0, batch_size: int = 64,
                          truncation_psi: float = 1.0, device=None, progress: bool = True) -> pd.DataFrame:
    """`change_table` of n originals × `n_resamples` resamples of the same `blocks`, generated
    `batch_size` originals at a time: batch b is `generate_originals(G, ·, seed=s_b)` and
    `resample_originals(…, seed=s_b + 1)` with s_b = 10000·(seed + 1) + 2b, so it never repeats
    the pictured examples (seeds `seed`, `seed + 1`, …) and two generators with the same latent
    shape see the same latents and fresh draws (a paired comparison). Column `image` counts
    across batches. The pictures show a handful of examples; this is the sample their claim is
    judged on."""
    if n < 2:
        raise ValueError(f"need at least two originals for a mean and its standard error, got n={n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    tables = []
    for b, start in enumerate(progress_bar(range(0, n, batch_size), desc="resamples", shown=progress, leave=False)):
        batch_seed = 10000 * (seed + 1) + 2 * b
        originals = generate_originals(G, min(batch_size, n - start), seed=batch_seed,
                                       truncation_psi=truncation_psi, device=device)
        resamples = resample_originals(G, originals, blocks, n_resamples, seed=batch_seed + 1)
        table = change_table(originals.images, resamples.images, resamples.pixel_masks)
        tables.append(table.assign(image=table.image + start))
    return pd.concat(tables, ignore_index=True)


# ------------------------------------------------------------------ blocks from a part segmentation


@torch.no_grad()
def part_cells(images: torch.Tensor, grid: BlockGrid, net, part: str = "face/eyes", side: str = "left",
               min_cover: float = 0.1, fallback: Sequence[tuple[int, int]] | None = None,
               ) -> tuple[list[list[tuple[int, int]]], np.ndarray]:
    """Per image (N, 3, H, W): the cells whose pixel region is at least `min_cover` covered by
    `part` pixels on one `side` ("left" / "right" / "both") of the face's vertical midline (the
    mean column of its "face/skin" pixels, as `metrics.consistency`; the image centre if there is
    no skin) — Figure 8's "blocks constituting the left eye". Of several groups of such cells
    (8-connected), the one holding the most part pixels is kept: one eye, not stray pixels. `net`: a part segmenter with
    `part_names` and `segment(images, domain)` (the procedural part network). Images where none
    is found get `fallback` (an error if None). Returns (cells per image, found-by-segmentation
    flags (N,) bool)."""
    if side not in ("left", "right", "both"):
        raise ValueError(f"side must be 'left', 'right' or 'both', got {side!r}")
    if tuple(images.shape[-2:]) != grid.image_size:
        raise ValueError(f"images {tuple(images.shape)} do not match the grid's image size {grid.image_size}")
    if fallback is not None:
        grid.cell_mask(fallback)  # validate early
    domain = part.split("/", 1)[0]
    parts = net.segment(images, domain=domain).cpu()
    target, skin = net.part_names.index(part), net.part_names.index(f"{domain}/skin") if domain == "face" else None
    (gh, gw), (ch, cw) = grid.grid, grid.cell_size
    cols = torch.arange(images.shape[-1])
    cells, found = [], np.zeros(len(images), bool)
    for i, seg in enumerate(parts):
        skin_cols = (seg == skin).nonzero()[:, 1] if skin is not None else torch.empty(0)
        midline = skin_cols.float().mean().item() if skin_cols.numel() else images.shape[-1] / 2
        on_side = {"left": cols < midline, "right": cols >= midline, "both": cols >= 0}[side]
        mask = (seg == target) & on_side[None, :]
        cover = mask.reshape(gh, ch, gw, cw).float().mean((1, 3))
        chosen = _largest_component(cover >= min_cover, cover)
        found[i] = bool(chosen)
        if not chosen:
            if fallback is None:
                raise ValueError(f"image {i}: no {part} pixels ({side}) cover {min_cover:.0%} of any cell; "
                                 f"pass fallback= cells")
            chosen = [tuple(c) for c in fallback]
        cells.append(chosen)
    logger.info("%s blocks: found by segmentation in %d of %d images", part, found.sum(), len(found))
    return cells, found


def _largest_component(chosen: torch.Tensor, weight: torch.Tensor) -> list[tuple[int, int]]:
    """The cells of the 8-connected group of `chosen` (gh, gw) with the largest total `weight`."""
    todo = {tuple(cell) for cell in chosen.nonzero().tolist()}
    best, best_weight = [], -1.0
    while todo:
        stack, group = [todo.pop()], []
        while stack:
            r, c = stack.pop()
            group.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if (r + dr, c + dc) in todo:
                        todo.remove((r + dr, c + dc))
                        stack.append((r + dr, c + dc))
        total = float(sum(weight[cell] for cell in group))
        if total > best_weight:
            best, best_weight = group, total
    return sorted(best)


# ------------------------------------------------------------------ drawing


def cell_boxes(grid: BlockGrid, cells: BlockSpec) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) pixel box of every chosen cell, row-major."""
    mask = grid.cell_mask(cells)
    boxes = []
    for r, c in mask.nonzero().tolist():
        rows, cols = grid.pixel_box((r, c))
        boxes.append((rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start))
    return boxes


def _outline(ax, boxes, colour: str = OUTLINE, fill_alpha: float = 0.0, linewidth: float = 1.5) -> None:
    for top, left, height, width in boxes:
        face = to_rgba(colour, fill_alpha) if fill_alpha else "none"
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, edgecolor=colour, facecolor=face,
                               linewidth=linewidth))


def _image_axis(ax, image: np.ndarray, boxes=(), title: str | None = None) -> None:
    ax.imshow(image, interpolation="nearest")
    _outline(ax, boxes)
    ax.set_label("image")
    _tidy(ax, title)


def _heat_axis(ax, heat: np.ndarray, norm, boxes=(), title: str | None = None):
    shown = ax.imshow(heat, cmap=HEATMAP_CMAP, norm=norm, interpolation="nearest")
    _outline(ax, boxes, colour="cyan", linewidth=1.0)
    ax.set_label("heatmap")
    _tidy(ax, title, fontsize=6.5)
    return shown


def _tidy(ax, title: str | None, fontsize: float = 8) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def _norm(maps: list[np.ndarray], vmax: float | None):
    top = vmax if vmax is not None else max([float(np.nanmax(m)) for m in maps if np.isfinite(m).any()] + [1e-6])
    return Normalize(vmin=0.0, vmax=max(top, 1e-6))


def _heat(original: torch.Tensor, edited: torch.Tensor, mask: torch.Tensor | None) -> np.ndarray:
    heat = difference_map(edited[None], original[None])[0].numpy()
    if mask is not None:
        heat = np.where(mask.numpy(), np.nan, heat)
    return heat


def resample_figure(resamples: Resamples, n_show: int | None = None, heatmaps: bool = True,
                    outside_only: bool = False, vmax: float | None = None, panel_size: float = 1.4) -> Figure:
    """Figures 2, 6, 7: one column per original; rows: the original, then per resample k the
    resample and (with `heatmaps`) its |Δ| map (mean over RGB of |x̃ − x|, images in [-1, 1]) on
    one colour scale shared by every heat map of the figure (`vmax`, default the largest value).
    Resampled blocks are outlined in every panel. `outside_only` (Figure 2's third row) blanks the
    blocks in the heat maps, leaving "the minimal necessary changes elsewhere"; each heat map's
    title gives the mean squared change outside the blocks (the distortion of that example)."""
    originals, images, masks = resamples.originals.images, resamples.images, resamples.pixel_masks
    n = originals.shape[0] if n_show is None else min(n_show, originals.shape[0])
    k = images.shape[1]
    rows = 1 + k * (2 if heatmaps else 1)
    fig = Figure(figsize=(panel_size * n + (0.8 if heatmaps else 0), panel_size * rows * 1.12))
    axes = fig.subplots(rows, n, squeeze=False)
    stats = change_table(originals[:n], images[:n], masks[:n])
    heat = [[_heat(originals[i], images[i, j], masks[i] if outside_only else None) for i in range(n)]
            for j in range(k)]
    norm = _norm([h for row in heat for h in row], vmax)
    pixels, shown = to_uint8(originals[:n]), None
    for i in range(n):
        boxes = cell_boxes(resamples.grid, resamples.cell_masks[i])
        _image_axis(axes[0, i], pixels[i], boxes, "original" if i == 0 else None)
        resampled = to_uint8(images[i])
        for j in range(k):
            row = 1 + j * (2 if heatmaps else 1)
            _image_axis(axes[row, i], resampled[j], boxes, f"resample {j + 1}" if i == 0 else None)
            if heatmaps:
                d = stats[(stats.image == i) & (stats.edit == j)].iloc[0]
                label = f"out {d.distortion:.2g}" if outside_only else f"out {d.distortion:.2g} · in {d.in_block:.2g}"
                shown = _heat_axis(axes[row + 1, i], heat[j][i], norm, boxes, label)
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.5, pad=0.02)
        bar.set_label("|Δ| per pixel (outside the blocks)" if outside_only else "|Δ| per pixel", fontsize=8)
    return fig


def grid_overlay(ax, image: torch.Tensor, grid: BlockGrid, cells: BlockSpec, title: str | None = None) -> None:
    """Figure 8, left: the latent grid drawn over an image (3, H, W), the chosen cells in red."""
    _image_axis(ax, to_uint8(image[None])[0], (), title)
    ch, cw = grid.cell_size
    for r in range(1, grid.grid[0]):
        ax.axhline(r * ch - 0.5, color="white", linewidth=0.6, alpha=0.8)
    for c in range(1, grid.grid[1]):
        ax.axvline(c * cw - 0.5, color="white", linewidth=0.6, alpha=0.8)
    _outline(ax, cell_boxes(grid, cells), fill_alpha=0.35)


def grid_overlay_figure(image: torch.Tensor, grid: BlockGrid, cells: BlockSpec, size: float = 3.0) -> Figure:
    """A single-panel figure of `grid_overlay`."""
    fig = Figure(figsize=(size, size))
    title = f"{grid.grid[0]}×{grid.grid[1]} latent grid, chosen blocks in red"
    grid_overlay(fig.subplots(), image, grid, cells, title)
    return fig


def samples_figure(rows: dict[str, torch.Tensor], panel_size: float = 0.9) -> Figure:
    """Table 1 at a glance: one labelled row of images per source (e.g. "faces · training data",
    "faces · StyleGAN2", "faces · SSN"); every row (K, 3, H, W) in [-1, 1], all of one shape."""
    if not rows:
        raise ValueError("samples_figure needs at least one row of images")
    shapes = {name: tuple(images.shape) for name, images in rows.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 4:
        raise ValueError(f"every row must be one (K, 3, H, W) batch of the same shape, got {shapes}")
    k = next(iter(shapes.values()))[0]
    fig = Figure(figsize=(panel_size * k + 1.6, panel_size * len(rows) * 1.05))
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (name, images) in zip(axes, rows.items()):
        ax.imshow(image_grid(images, ncol=k), interpolation="nearest")
        ax.set_label("image")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(left=1.5 / fig.get_figwidth(), right=0.99, top=0.99, bottom=0.01, hspace=0.08)
    return fig


def comparison_figure(original: torch.Tensor, results: dict[str, torch.Tensor], grid: BlockGrid, cells: BlockSpec,
                      vmax: float | None = None, panel_size: float = 1.5) -> Figure:
    """Figure 8: one row per method (e.g. "SSN resample", "latent inpainting", "harmonic fill");
    column 0 the original (3, H, W) with the latent grid and the chosen blocks in red, then the
    method's results (K, 3, H, W) with the blocks outlined, then their |Δ| maps on one colour scale
    shared by the whole figure (titles: mean squared change outside the blocks · inside them).
    Methods may have different K (a deterministic fill has one result); missing panels are blank."""
    if not results:
        raise ValueError("comparison_figure needs at least one method's results")
    for name, res in results.items():
        if res.ndim != 4 or res.shape[1:] != original.shape:
            raise ValueError(f"{name}: results of shape {tuple(res.shape)}, expected (K, "
                             f"{', '.join(map(str, original.shape))})")
    k = max(res.shape[0] for res in results.values())
    boxes, mask = cell_boxes(grid, cells), grid.pixel_mask(cells)
    heat = {name: [_heat(original, r, None) for r in res] for name, res in results.items()}
    norm = _norm([h for maps in heat.values() for h in maps], vmax)
    fig = Figure(figsize=(panel_size * (1 + 2 * k) + 0.8, panel_size * len(results) * 1.15))
    axes = fig.subplots(len(results), 1 + 2 * k, squeeze=False)
    shown = None
    for row, (name, res) in enumerate(results.items()):
        grid_overlay(axes[row, 0], original, grid, cells, "original" if row == 0 else None)
        axes[row, 0].set_ylabel(name, fontsize=9)
        stats = change_table(original[None], res[None], mask)
        pixels = to_uint8(res)
        for j in range(k):
            if j >= res.shape[0]:
                axes[row, 1 + j].set_axis_off()
                axes[row, 1 + k + j].set_axis_off()
                continue
            _image_axis(axes[row, 1 + j], pixels[j], boxes, f"result {j + 1}" if row == 0 else None)
            d = stats.iloc[j]
            shown = _heat_axis(axes[row, 1 + k + j], heat[name][j], norm, boxes,
                               f"out {d.distortion:.2g} · in {d.in_block:.2g}")
    bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6, pad=0.02)
    bar.set_label("|Δ| per pixel", fontsize=8)
    return fig


def droplet_figure(images: dict[str, torch.Tensor], maps: dict[str, torch.Tensor], layer: str, ncol: int = 4):
    """Figure 4 as a matplotlib figure: per model (dict key), a row of samples and below it the
    same samples' magnitude maps at `layer`, each map on its own colour scale (bright = large)."""
    import matplotlib.pyplot as plt

    if images.keys() != maps.keys():
        raise ValueError(f"images and maps must name the same models, got {list(images)} and {list(maps)}")
    ncol = min(ncol, *(len(x) for x in images.values()))
    fig, axes = plt.subplots(2 * len(images), ncol, figsize=(1.6 * ncol, 3.4 * len(images)), squeeze=False)
    for row, name in enumerate(images):
        pixels = to_uint8(images[name][:ncol])
        for col in range(ncol):
            axes[2 * row, col].imshow(pixels[col])
            axes[2 * row + 1, col].imshow(maps[name][col].numpy(), cmap="magma")
            ratio = peak_to_median(maps[name][col: col + 1]).item()
            axes[2 * row + 1, col].set_title(f"peak/median {ratio:.1f}", fontsize=7)
        axes[2 * row, 0].set_ylabel(name, fontsize=8)
        axes[2 * row + 1, 0].set_ylabel(f"‖h‖ {layer}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def own_image_figure(targets: torch.Tensor, reconstructions: torch.Tensor, resampled: torch.Tensor, grid: BlockGrid,
                     cells: BlockSpec, labels: Sequence[str] | None = None, panel_size: float = 1.3) -> Figure:
    """Notebook 10: one row per image the generator never made — the target, its projection, and
    K resamples of `cells` (outlined) of the projection. targets, reconstructions (N, 3, H, W),
    resampled (N, K, 3, H, W), all in [-1, 1]."""
    n, k = resampled.shape[:2]
    if targets.shape != reconstructions.shape or len(targets) != n:
        raise ValueError(f"targets {tuple(targets.shape)}, reconstructions {tuple(reconstructions.shape)} and "
                         f"resampled {tuple(resampled.shape)} must hold the same N images")
    boxes = cell_boxes(grid, cells)
    fig = Figure(figsize=(panel_size * (k + 2), panel_size * n * 1.1))
    axes = fig.subplots(n, k + 2, squeeze=False)
    for i in range(n):
        label = labels[i] if labels else f"image {i}"
        _image_axis(axes[i, 0], to_uint8(targets[i:i + 1])[0], title=f"{label}: target" if i == 0 else None)
        axes[i, 0].set_ylabel(label, fontsize=7)
        _image_axis(axes[i, 1], to_uint8(reconstructions[i:i + 1])[0], boxes, "projection" if i == 0 else None)
        for j in range(k):
            _image_axis(axes[i, j + 2], to_uint8(resampled[i, j:j + 1])[0], boxes,
                        f"resample {j + 1}" if i == 0 else None)
    fig.tight_layout()
    return fig


def section2_figure(steps: pd.DataFrame, targets: dict, sweeps: int) -> Figure:
    """§2's chains: TV to P after every single-block step (`toy.chain_steps`), one panel per P."""
    from . import toy

    fig = Figure(figsize=(8, 3))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (name, P) in zip(axes, targets.items()):
        for method, marker in zip(toy.METHODS, "os"):
            s = steps[(steps.p == name) & (steps.method == method)]
            ax.plot(s.step, s.tv.astype(float), marker=marker, label=method)
        ax.set_title(f"{name} P: P(00, 01, 10, 11) = " + ", ".join(str(P.flat[toy.state_index(s)]) for s in toy.STATES),
                     fontsize=9)
        ax.set_xlabel("single-block steps from y = (1, 1)")
        ax.set_xticks(range(2 * sweeps + 1))
    axes[0].set_ylabel("total variation to P")
    axes[0].legend()
    fig.tight_layout()
    return fig
