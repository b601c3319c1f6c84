"""Definition 1 (block-resampling, §2) checked empirically on a trained SSN.

Definition 1 of the paper: kernels {P_a}, one per block, are a *block-resampling* of P if, starting
from y⁽⁰⁾ ~ P and resampling every block once in an arbitrary order a₁, …, a_nblocks, the result
y* = y⁽ⁿᵇˡᵒᶜᵏˢ⁾ is again distributed as P — "a new independent sample from P". An SSN is one by
construction: resampling latent cell a draws a fresh z_a ~ N(0, I) (`ssnlib.resample_each`), so
once every cell has been redrawn the latent grid, hence the image, is a fresh sample.

The check (notebook 08): sets of n images, each compared with one reference set of fresh samples
by the Fréchet distance of a feature network (FD-proc in the notebook, not FID), and by the pixel
correlation of every output with its start:

- the noise floor: `n_floor` sets of fresh samples, and the start samples y⁽⁰⁾ themselves;
- a full sweep (every block once, fresh random order per chain) and a partial sweep (all blocks
  but one), from independent starts y⁽⁰⁾ and from one fixed start repeated n times, with the
  per-pixel noise inputs kept from the start (as block resampling does) or redrawn.

`definition1_sets` builds that table; `ssnlib.paper.verdicts.definition1_claims` turns it into the
notebook's two claims. Everything is drawn from one `torch.Generator` in a fixed order, so a seed fixes every
number.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
import torch

from ..blocks import BlockGrid, resample_each
from ..metrics import as_feature_extractor, compute_feature_stats, fid_from_stats
from ..metrics.features import ExtractorLike
from ..metrics.frechet import FeatureStats
from ..progress import progress_bar

logger = logging.getLogger(__name__)

COLUMNS = ("set", "start", "blocks_resampled", "noise", "n", "fd_proc", "pixel_corr", "pixel_corr_se")
STARTS = ("y0", "fixed y0")  # independent starts, one start repeated n times
NOISE = ("kept", "fresh")  # noise inputs kept from the start, or redrawn

SetSpec = tuple[str, int, str]  # (start, blocks_resampled, noise)


def block_grid(G: torch.nn.Module) -> BlockGrid:
    """The block grid of a spatially stochastic generator; ValueError if it has none (e.g. StyleGAN2)
    or a single cell (then "all blocks but one" is no block at all)."""
    if getattr(G, "grid", None) is None or not hasattr(G, "resolution"):
        raise ValueError(f"G must be a generator with a block grid (an SSN with `grid` and `resolution`), got "
                         f"{type(G).__name__}: Definition 1 resamples latent blocks")
    grid = BlockGrid.for_generator(G)
    if grid.n_blocks < 2:
        raise ValueError(f"G's block grid {grid.grid} has {grid.n_blocks} block; the check needs at least 2 "
                         "(a partial sweep resamples all blocks but one)")
    return grid


def sweep(z: torch.Tensor, grid: BlockGrid, steps: int, rng: torch.Generator | None = None) -> torch.Tensor:
    """Resample `steps` cells of every latent grid in z (N, z_dim, gh, gw), one at a time, each chain
    in its own random order (without repetition): steps = grid.n_blocks is a full sweep.

    One `randperm(n_blocks)` per sample is drawn from `rng` first (also for steps = 0), then one
    `resample_each` per step; z itself is not modified."""
    if z.ndim != 4 or tuple(z.shape[2:]) != tuple(grid.grid):
        raise ValueError(f"z of shape {tuple(z.shape)} is not a latent grid (N, z_dim, {grid.grid[0]}, "
                         f"{grid.grid[1]}) of the block grid {grid.grid}")
    if not 0 <= steps <= grid.n_blocks:
        raise ValueError(f"steps must lie in [0, {grid.n_blocks}] (the number of blocks), got {steps}")
    order = torch.stack([torch.randperm(grid.n_blocks, generator=rng) for _ in range(len(z))])
    for t in range(steps):
        z = resample_each(z, [grid.cell(int(a)) for a in order[:, t]], rng)
    return z


@torch.no_grad()
def render(G: torch.nn.Module, z: torch.Tensor, noise: Sequence[torch.Tensor], batch_size: int) -> torch.Tensor:
    """G(z) with the given noise inputs, in batches; the images on the CPU."""
    return torch.cat([G(z[i:i + batch_size], noise=[x[i:i + batch_size] for x in noise]).cpu()
                      for i in range(0, len(z), batch_size)])


def pixel_corr(images: torch.Tensor, start: torch.Tensor, mean_image: torch.Tensor) -> tuple[float, float]:
    """Correlation over pixels of each image with its start, after subtracting `mean_image`
    (cosine similarity of the centred images): mean and standard error over the set."""
    if images.shape != start.shape:
        raise ValueError(f"images {tuple(images.shape)} and starts {tuple(start.shape)} differ in shape")
    r = torch.nn.functional.cosine_similarity((images - mean_image).flatten(1), (start - mean_image).flatten(1), dim=1)
    return r.mean().item(), r.std().item() / len(r) ** 0.5


def set_specs(n_blocks: int, n_floor: int) -> list[SetSpec]:
    """The sets, in order: n_floor fresh sets, the start samples, then for each start (independent,
    fixed) the full and the partial sweep with noise kept and redrawn."""
    return [("independent", 0, "fresh")] * n_floor + [("y0", 0, "kept")] + [
        (start, blocks, noise) for start in STARTS for blocks in (n_blocks, n_blocks - 1) for noise in NOISE]


def set_name(k: int, spec: SetSpec, n_blocks: int) -> str:
    """The `set` label of the k-th set."""
    start, blocks, noise = spec
    if start == "independent":
        return f"fresh samples {k + 1}"
    return "start samples y0" if blocks == 0 else f"{blocks}/{n_blocks} blocks from {start}, noise {noise}"


def definition1_sets(
    G: torch.nn.Module,
    n: int,
    n_floor: int,
    batch_size: int,
    extractor: ExtractorLike,
    rng: torch.Generator,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Definition 1 on generator G: one row per set of n images (see the module docstring), columns
    `COLUMNS`: set, start, blocks_resampled, noise, n, fd_proc (Fréchet distance to a reference set
    of n fresh samples, in `extractor`'s features), pixel_corr, pixel_corr_se (correlation with the
    start; fresh sets are paired with the start samples y⁽⁰⁾).

    All randomness comes from `rng`, in this order: the starts (z, then noise), the reference set,
    then each set in turn (its sweep orders and redraws, then any redrawn noise)."""
    grid = block_grid(G)
    if n < 2:
        raise ValueError(f"n (images per set) must be at least 2 for a covariance and a standard error, got {n}")
    if n_floor < 2:
        raise ValueError(f"n_floor (fresh sets in the noise floor) must be at least 2, got {n_floor}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    extractor = as_feature_extractor(extractor)
    nb = grid.n_blocks

    def draw(m: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return G.sample_z(m, rng, device=device), G.make_noise(m, rng, device=device)

    def features(images: torch.Tensor) -> FeatureStats:
        return compute_feature_stats(images.split(batch_size), extractor, len(images), batch_size, progress=False)

    def fixed(x: torch.Tensor) -> torch.Tensor:  # one start, repeated n times
        return x[:1].expand_as(x).contiguous()

    z0, noise0 = draw(n)
    z1, noise1 = fixed(z0), [fixed(x) for x in noise0]
    reference = render(G, *draw(n), batch_size)
    mean_image = reference.mean(0)
    latents = {"y0": (z0, noise0), "fixed y0": (z1, noise1)}
    starts = {name: render(G, z, noise, batch_size) for name, (z, noise) in latents.items()}
    ref_stats = features(reference)
    specs = set_specs(nb, n_floor)
    logger.info("Definition 1 on %s: %d×%d, grid %s (%d blocks), %d sets of %d images",
                type(G).__name__, G.resolution, G.resolution, grid.grid, nb, len(specs), n)

    rows = []
    for k, spec in enumerate(progress_bar(specs, desc="sets", shown=progress)):
        start, blocks, noise = spec
        if start == "independent":
            images = render(G, *draw(n), batch_size)
        else:
            z, kept = latents[start]
            swept = sweep(z, grid, blocks, rng)
            images = render(G, swept, kept if noise == "kept" else draw(n)[1], batch_size)
        corr, corr_se = pixel_corr(images, starts["y0" if start == "independent" else start], mean_image)
        rows.append({"set": set_name(k, spec, nb), "start": start, "blocks_resampled": blocks, "noise": noise,
                     "n": len(images), "fd_proc": fid_from_stats(features(images), ref_stats),
                     "pixel_corr": corr, "pixel_corr_se": corr_se})
        logger.debug("%s: FD %.4g, pixel correlation %.3f ± %.3f", rows[-1]["set"], rows[-1]["fd_proc"], corr, corr_se)
    return pd.DataFrame(rows, columns=list(COLUMNS))
