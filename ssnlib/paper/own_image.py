"""Notebook 10: block resampling of images the generator never produced — held-out procedural
images, one drawn here, or a user's file — through projection (`ssnlib.projection`).

    run = run_own_image(G, "faces", n_images=16, steps=200, cells=[(0, 1), (0, 2)], n_resamples=3)
    run.quality, run.changes, run.figure(n_show=6)     # held-out images: dataset seed 4242
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from ..blocks import BlockGrid, BlockSpec
from ..data import load_image, open_dataset
from ..data.convert import to_tensor
from ..metrics import compute_feature_stats, fid_from_stats
from ..metrics.procnet import procnet_feature_extractor
from ..metrics.stats import mean_se
from ..projection import ProjectedLatent, Projection, fit_target, project, psnr, resample_projected

HELD_OUT_SEED = 4242  # procedural stream disjoint from the GANs' data (seed 0) and ProcNet's (1000, 2000)


def held_out_images(dataset: str, n: int, resolution: int) -> torch.Tensor:
    """n procedural images (N, 3, R, R) from a stream no model was trained on."""
    data = open_dataset(dataset, resolution, length=n, seed=HELD_OUT_SEED)
    return torch.stack([data[i] for i in range(n)])


def drawn_image(dataset: str, resolution: int) -> torch.Tensor:
    """An image drawn with PIL in the dataset's spirit — a cartoon face with glasses, or a church
    with a spire — at 8× and box-filtered to `resolution`: (3, R, R) in [-1, 1]."""
    size = 8 * resolution
    image = Image.new("RGB", (size, size), (120, 170, 200))
    draw = ImageDraw.Draw(image)
    s = size / 64  # drawn on a 64-unit canvas
    if dataset == "faces":
        draw.ellipse([14 * s, 8 * s, 50 * s, 40 * s], fill=(90, 50, 30))  # hair
        draw.ellipse([18 * s, 14 * s, 46 * s, 54 * s], fill=(235, 190, 160))  # face
        for x in (24, 40):
            draw.ellipse([(x - 3) * s, 28 * s, (x + 3) * s, 33 * s], fill=(255, 255, 255))
            draw.ellipse([(x - 1.5) * s, 29 * s, (x + 1.5) * s, 32 * s], fill=(60, 110, 60))
            draw.ellipse([(x - 5) * s, 26 * s, (x + 5) * s, 35 * s], outline=(20, 20, 20), width=int(s))
        draw.line([29 * s, 30 * s, 35 * s, 30 * s], fill=(20, 20, 20), width=int(s))  # glasses' bridge
        draw.arc([26 * s, 38 * s, 38 * s, 48 * s], 20, 160, fill=(150, 50, 50), width=int(2 * s))  # smile
        draw.rectangle([16 * s, 54 * s, 48 * s, 64 * s], fill=(40, 60, 120))  # shoulders
    elif dataset == "churches":
        draw.rectangle([0, 50 * s, size, size], fill=(80, 130, 60))  # grass
        draw.rectangle([14 * s, 30 * s, 46 * s, 52 * s], fill=(200, 190, 170))  # nave
        draw.polygon([(12 * s, 30 * s), (30 * s, 18 * s), (48 * s, 30 * s)], fill=(140, 60, 50))  # roof
        draw.rectangle([38 * s, 14 * s, 46 * s, 52 * s], fill=(190, 180, 160))  # tower
        draw.polygon([(37 * s, 14 * s), (42 * s, 2 * s), (47 * s, 14 * s)], fill=(90, 90, 100))  # spire
        for x in (18, 26):
            draw.rectangle([x * s, 36 * s, (x + 4) * s, 44 * s], fill=(60, 70, 110))  # windows
    else:
        raise ValueError(f"drawn_image: no drawing for dataset {dataset!r} (faces or churches)")
    small = image.resize((resolution, resolution), Image.BOX)
    return to_tensor(np.array(small))


def notebook_targets(dataset: str, n: int, resolution: int, path: str | None = None,
                     ) -> tuple[torch.Tensor, list[str], str]:
    """Notebook 10's targets (N, 3, R, R) and their labels: n held-out images, the drawn one and,
    given `path`, the user's file (centre-cropped and resized); the note says what was done to it."""
    targets = torch.cat([held_out_images(dataset, n, resolution), drawn_image(dataset, resolution)[None]])
    labels = [f"held-out {i}" for i in range(n)] + ["drawn"]
    if path is None:
        return targets, labels, "no file of yours (parameter `target`)"
    image, note = fit_target(load_image(path), resolution)
    return torch.cat([targets, image[None]]), labels + ["yours"], f"{path}: {note or 'used as it is'}"


def change_summary(projected: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error of distortion, in-block change and locality (`figures.change_table`
    rows) for the resamples of projections and of the model's own samples, one row each."""
    rows = []
    for name, table in (("projections", projected), ("samples", samples)):
        row = {"images": name, "resamples": len(table)}
        for column in ("distortion", "in_block", "locality"):
            row[column], row[f"{column}_se"] = mean_se(table[column].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def resample_projection(G, latent: ProjectedLatent, cells: BlockSpec, k: int, seed: int,
                        strength: float = 1.0) -> torch.Tensor:
    """k resamples of `cells` of every projected image: (N, K, 3, H, W)."""
    rng = torch.Generator().manual_seed(seed)
    images = [resample_projected(G, latent, cells, strength, rng).render(G).cpu() for _ in range(k)]
    return torch.stack(images, 1)


@torch.no_grad()
def projection_quality(G, targets: torch.Tensor, reconstructions: torch.Tensor, seed: int = 0) -> pd.DataFrame:
    """How close the projections are to their targets, beside what a random sample of G reaches:
    PSNR to each target (mean ± SE) and FD-proc of the set to the targets — both at the same n
    (FD-proc at small n is biased upward: compare the rows, not with Table 1's 2,000-sample FD)."""
    n = len(targets)
    samples = G(G.sample_z(n, torch.Generator().manual_seed(seed)), noise_mode="const").cpu()
    extractor = procnet_feature_extractor()
    reference = compute_feature_stats(targets.split(64), extractor, n, 64, progress=False)
    rows = []
    for name, images in (("projections", reconstructions.cpu()), ("random samples", samples)):
        values = [psnr(a, b) for a, b in zip(images, targets)]
        mean, se = mean_se(values)
        fd = (fid_from_stats(compute_feature_stats(images.split(64), extractor, n, 64, progress=False), reference)
              if n > 1 else math.nan)
        rows.append({"images": name, "n": n, "psnr_db": mean, "psnr_db_se": se, "fd_proc_to_targets": fd})
    return pd.DataFrame(rows)


@dataclass
class OwnImageRun:
    """Notebook 10 for one dataset's SSN: the targets, their projection, resamples of `cells`, and
    the two tables (`projection_quality`, `change_summary`)."""

    dataset: str
    targets: torch.Tensor
    labels: list[str]
    note: str
    projection: Projection
    cells: list[tuple[int, int]]
    resampled: torch.Tensor  # (N, K, 3, H, W)
    quality: pd.DataFrame
    changes: pd.DataFrame
    grid: BlockGrid

    def figure(self, n_show: int):
        """The first `n_show` held-out rows, then the drawn image and the user's (`own_image_figure`)."""
        from .figures import own_image_figure

        n_held = sum(label.startswith("held-out") for label in self.labels)
        show = list(range(min(n_show, n_held))) + list(range(n_held, len(self.targets)))
        return own_image_figure(self.targets[show], self.projection.image[show], self.resampled[show], self.grid,
                                self.cells, [f"{self.dataset} {self.labels[i]}" for i in show])


def run_own_image(G, dataset: str, n_images: int, steps: int, cells: list[tuple[int, int]], n_resamples: int,
                  seed: int = 0, path: str | None = None) -> OwnImageRun:
    """Project notebook 10's targets into G (n held-out images, the drawn one, the file at `path`),
    resample `cells` of every projection `n_resamples` times, and measure both (PSNR and FD-proc
    against random samples; distortion, in-block change and locality against resamples of G's own
    samples of the same cells)."""
    from .figures import change_table, resample_change_table

    grid = BlockGrid.for_generator(G)
    targets, labels, note = notebook_targets(dataset, n_images, G.resolution, path)
    result = project(G, targets, steps=steps, generator=torch.Generator().manual_seed(seed))
    quality = projection_quality(G, targets[:n_images], result.image[:n_images], seed=seed)
    resampled = resample_projection(G, result.latent, cells, n_resamples, seed=seed + 1)
    projected = change_table(result.image, resampled, grid.pixel_mask(cells))
    samples = resample_change_table(G, cells, len(targets), n_resamples, seed=seed)
    return OwnImageRun(dataset, targets, labels, note, result, cells, resampled,
                       quality.assign(dataset=dataset, distance=result.distance),
                       change_summary(projected, samples).assign(dataset=dataset), grid)
