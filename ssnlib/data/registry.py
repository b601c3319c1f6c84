"""`open_dataset`: one entry point from a name ("faces", "churches") or a path to a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from torch.utils.data import Dataset

from .churches import ProceduralChurches
from .errors import DatasetError
from .faces import ProceduralFaces
from .images import ImageFolderDataset, LMDBImageDataset, ZipImageDataset
from .procedural import ProceduralDataset

PROCEDURAL: dict[str, type[ProceduralDataset]] = {"faces": ProceduralFaces, "churches": ProceduralChurches}


def open_dataset(
    spec: str | os.PathLike,
    resolution: int,
    *,
    length: int | None = None,
    seed: int = 0,
    xflip: bool = False,
    skip_bad: bool = False,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Dataset:
    """The dataset named by `spec`: "faces", "churches", a folder, a .zip, or an LMDB folder.

    `length` is the number of procedural samples (default 10000) or caps the number of files
    read from disk; `seed` selects the procedural family member; `xflip`, `skip_bad` and
    `background` (the RGB colour transparent pixels are composited onto) apply to image files only.
    """
    if isinstance(spec, str) and spec in PROCEDURAL:
        if xflip:
            raise ValueError(f"xflip applies to image datasets, not to the procedural dataset {spec!r}")
        return PROCEDURAL[spec](resolution=resolution, length=10000 if length is None else length, seed=seed)
    path = Path(spec)
    if not path.exists():
        names = ", ".join(repr(n) for n in PROCEDURAL)
        raise DatasetError(f"unknown dataset {str(spec)!r}: not one of {names} and no such file or folder")
    kwargs = dict(xflip=xflip, skip_bad=skip_bad, max_images=length, background=tuple(background))
    if path.is_dir():
        cls = LMDBImageDataset if (path / "data.mdb").is_file() else ImageFolderDataset
        return cls(path, resolution, **kwargs)
    if path.suffix.lower() == ".zip":
        return ZipImageDataset(path, resolution, **kwargs)
    raise DatasetError(f"unsupported dataset file {path}: expected a folder, a .zip, or an LMDB folder (data.mdb)")
