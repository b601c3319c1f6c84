"""`export_pngs`: write a procedural dataset to disk as PNGs, labels and part maps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..progress import progress_bar
from .procedural import RENDER_VERSION
from .registry import PROCEDURAL

# Part-map PNGs are palette images: pixel value = part id, colours only for viewing.
PART_COLOURS = np.array(
    [(0, 0, 0), (230, 180, 140), (120, 70, 30), (60, 120, 220), (220, 40, 40), (240, 220, 60), (60, 170, 80),
     (200, 200, 200)],
    np.uint8,
)


def export_pngs(dataset_name: str, n: int, resolution: int, out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write images `out_dir/000000.png …`, `labels.json` and `segmentation/000000.png …`.

    `labels.json` holds the dataset, resolution, seed, part names, attribute class names and, per
    file, its attribute labels. Returns `out_dir`.
    """
    if dataset_name not in PROCEDURAL:
        raise ValueError(f"unknown procedural dataset {dataset_name!r}; expected one of {sorted(PROCEDURAL)}")
    ds = PROCEDURAL[dataset_name](resolution=resolution, length=n, seed=seed)
    out = Path(out_dir)
    (out / "segmentation").mkdir(parents=True, exist_ok=True)
    palette = PART_COLOURS.ravel().tolist()
    labels = {}
    for i in progress_bar(range(n), desc=f"export {dataset_name}"):
        sample = ds.render(i)
        name = f"{i:06d}.png"
        Image.fromarray(sample.image).save(out / name)
        seg = Image.fromarray(sample.segmentation)
        seg.putpalette(palette)  # "L" becomes "P": pixel values stay the part ids
        seg.save(out / "segmentation" / name)
        labels[name] = sample.labels
    meta = {
        "dataset": dataset_name,
        "resolution": resolution,
        "seed": seed,
        "render_version": RENDER_VERSION,
        "parts": list(ds.PARTS),
        "attributes": ds.ATTRIBUTES,
        "class_names": ds.CLASS_NAMES,
        "labels": labels,
    }
    (out / "labels.json").write_text(json.dumps(meta, indent=1))
    return out
