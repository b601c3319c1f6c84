"""Deterministic procedural datasets: seeding, tensors, batches and an on-disk render cache.

Sample i is drawn from `numpy.random.default_rng((seed, i))`, so it is the same whatever the
order of access, the other indices, or the process (DataLoader workers included). Subclasses
only draw: `draw(canvas, rng) -> labels`.
"""

from __future__ import annotations

import abc
import logging
import operator
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..progress import progress_bar
from .convert import to_tensor
from .errors import DatasetError
from .raster import Canvas

logger = logging.getLogger(__name__)

RENDER_VERSION = 1  # bump whenever a drawing changes, so stale caches are not reused


@dataclass(frozen=True)
class ProceduralSample:
    """One rendered sample: uint8 (H, W, 3) image, attribute labels, uint8 (H, W) part map."""

    image: np.ndarray
    labels: dict[str, int]
    segmentation: np.ndarray


def default_cache_dir() -> Path:
    """$SSNLIB_CACHE if set, else ~/.cache/ssnlib."""
    env = os.environ.get("SSNLIB_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ssnlib"


class ProceduralDataset(Dataset, abc.ABC):
    """Base class: image i of a procedural family at a given resolution and seed."""

    PARTS: ClassVar[tuple[str, ...]]  # part names; index = value in the segmentation
    CLASS_NAMES: ClassVar[dict[str, tuple[str, ...]]]  # attribute -> names of its classes
    ATTRIBUTES: ClassVar[dict[str, int]]  # attribute -> number of classes

    def __init__(self, resolution: int = 64, length: int = 10000, seed: int = 0):
        for name, value, low in (("resolution", resolution, 8), ("length", length, 1), ("seed", seed, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise ValueError(f"{type(self).__name__}: {name} must be an integer >= {low}, got {value!r}")
        self.resolution, self.length, self.seed = int(resolution), int(length), int(seed)

    @abc.abstractmethod
    def draw(self, canvas: Canvas, rng: np.random.Generator) -> dict[str, int]:
        """Paint one sample onto `canvas` (parts indexing PARTS) and return its labels."""

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.render(index).image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(resolution={self.resolution}, length={self.length}, seed={self.seed})"

    def _check_index(self, index: int) -> int:
        i = operator.index(index)
        if not 0 <= i < self.length:
            raise IndexError(f"index {index} out of range for {self!r}")
        return i

    def render(self, index: int) -> ProceduralSample:
        """Image, labels and segmentation of sample `index`."""
        i = self._check_index(index)
        canvas = Canvas(self.resolution, part=0)
        labels = self.draw(canvas, np.random.default_rng((self.seed, i)))
        return ProceduralSample(canvas.to_uint8(), labels, canvas.parts)

    def render_batch(
        self, indices: Iterable[int], progress: bool = False
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """(images uint8 (B, H, W, 3), labels {name: int64 (B,)}, segmentations uint8 (B, H, W))."""
        indices = [self._check_index(i) for i in indices]
        r = self.resolution
        images = np.empty((len(indices), r, r, 3), np.uint8)
        segmentations = np.empty((len(indices), r, r), np.uint8)
        labels = {name: np.empty(len(indices), np.int64) for name in self.ATTRIBUTES}
        bar = progress_bar(indices, desc=f"render {type(self).__name__} {r}px", shown=progress)
        for k, i in enumerate(bar):
            sample = self.render(i)
            images[k], segmentations[k] = sample.image, sample.segmentation
            for name in labels:
                labels[name][k] = sample.labels[name]
        return images, labels, segmentations

    def cache_path(self, n: int, cache_dir: str | os.PathLike | None = None) -> Path:
        """Where `cached(n)` stores its arrays."""
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        name = f"{type(self).__name__}-res{self.resolution}-seed{self.seed}-n{n}-v{RENDER_VERSION}.npz"
        return root / name

    def cached(self, n: int, cache_dir: str | os.PathLike | None = None) -> CachedDataset:
        """The first `n` samples, pre-rendered once to an .npz file and loaded from it later."""
        if not isinstance(n, (int, np.integer)) or not 1 <= n <= self.length:
            raise ValueError(f"cached: n must be an integer in [1, {self.length}], got {n!r}")
        path = self.cache_path(int(n), cache_dir)
        if path.exists():
            logger.info("loading %s", path)
            return CachedDataset.load(path, type(self), int(n), self.resolution)
        images, labels, segmentations = self.render_batch(range(n), progress=True)
        _save_npz(path, images=images, segmentations=segmentations, **{f"label_{k}": v for k, v in labels.items()})
        logger.info("cached %d %s images in %s", n, type(self).__name__, path)
        return CachedDataset(images, labels, segmentations, type(self))


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write an .npz atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class CachedDataset(Dataset):
    """Pre-rendered procedural samples held in memory; items are float32 (3, H, W) in [-1, 1]."""

    def __init__(
        self,
        images: np.ndarray,
        labels: dict[str, np.ndarray],
        segmentations: np.ndarray,
        kind: type[ProceduralDataset],
    ):
        self.images, self.labels, self.segmentations = images, labels, segmentations
        self.PARTS, self.CLASS_NAMES, self.ATTRIBUTES = kind.PARTS, kind.CLASS_NAMES, kind.ATTRIBUTES
        self.resolution = images.shape[1]

    @classmethod
    def load(cls, path: Path, kind: type[ProceduralDataset], n: int, resolution: int) -> CachedDataset:
        """Read a cache file of `kind` samples, checking that it holds what its name promises."""
        try:
            with np.load(path) as f:
                images, segmentations = f["images"], f["segmentations"]
                labels = {k: f[f"label_{k}"] for k in kind.ATTRIBUTES}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"cache file {path} is unreadable ({exc}); delete it to re-render") from exc
        expected = (n, resolution, resolution)
        if images.shape != (*expected, 3) or segmentations.shape != expected:
            raise DatasetError(
                f"cache file {path} holds images {images.shape}, expected {(*expected, 3)}; delete it to re-render"
            )
        return cls(images, labels, segmentations, kind)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.images[index])

    def render(self, index: int) -> ProceduralSample:
        """The stored sample `index`, as `ProceduralDataset.render` returns it."""
        labels = {k: int(v[index]) for k, v in self.labels.items()}
        return ProceduralSample(self.images[index], labels, self.segmentations[index])
