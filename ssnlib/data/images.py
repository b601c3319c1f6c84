"""Datasets of real images on disk: a folder, a zip, or an LMDB.

Every image is converted to RGB (transparency composited onto white, `to_rgb`), centre-cropped
to a square, box-filtered to `resolution` and returned as float32 (3, H, W) in [-1, 1].
`xflip=True` appends mirrored copies (item n + i is item i flipped).
Unreadable input raises `DatasetError` naming the file (and zip member or LMDB key); with
`skip_bad=True` bad images are found up front and listed in `.skipped` instead.
"""

from __future__ import annotations

import abc
import io
import logging
import os
import zipfile
from pathlib import Path
from typing import Any, Hashable

import lmdb
import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from ..progress import progress_bar
from .convert import to_tensor
from .errors import DatasetError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")


class _BadImage(Exception):
    """An image that cannot be used; the message is the reason, without the location."""


def _open(source: Path | bytes) -> Image.Image:
    return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)


def _check_size(img: Image.Image, resolution: int) -> None:
    if min(img.size) < resolution:
        w, h = img.size
        raise _BadImage(f"image is {w}x{h}, smaller than the requested resolution {resolution}")


BACKGROUND = (255, 255, 255)  # what transparent pixels are composited onto


def to_rgb(img: Image.Image, background: tuple[int, int, int] = BACKGROUND) -> Image.Image:
    """RGB with transparency composited onto `background`: RGBA, LA, and palette or L / RGB
    images with a transparent colour (PIL's `info["transparency"]`). Other modes (grayscale,
    16-bit, CMYK, …) convert as PIL converts them; EXIF rotation is applied first."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if img.mode.startswith("I"):  # 16-bit grayscale (I;16*, or I as PIL reads some): scale to 8 bits, not clip
        array = np.asarray(img, dtype=np.float64) / 65535.0
        return Image.fromarray((array.clip(0, 1) * 255 + 0.5).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def _decode_image(source: Path | bytes, resolution: int, background: tuple[int, int, int] = BACKGROUND) -> np.ndarray:
    """Decode to RGB (`to_rgb`: transparency on `background`), centre-crop to a square, box-resize:
    uint8 (res, res, 3)."""
    try:
        with _open(source) as img:
            _check_size(img, resolution)
            img = to_rgb(img, background)
    except _BadImage:
        raise
    except Exception as exc:  # PIL reports corrupt data with many exception types
        raise _BadImage(f"cannot read image ({type(exc).__name__}: {exc})") from exc
    w, h = img.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    img = img.crop((left, top, left + s, top + s))
    if s != resolution:
        img = img.resize((resolution, resolution), Image.BOX)
    return np.array(img)


def load_image(source: str | Path | bytes, background: tuple[int, int, int] = BACKGROUND,
               name: str | None = None) -> torch.Tensor:
    """One image — a file, or a file's bytes (an upload; `name` says which in errors) — at its own
    size as float32 (3, H, W) in [-1, 1] (`to_rgb`: transparency on `background`, EXIF rotation
    applied). A missing or unreadable image raises naming it."""
    if not isinstance(source, bytes):
        source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such image file")
    try:
        with _open(source) as img:
            array = np.array(to_rgb(img, background))
    except Exception as exc:  # PIL reports corrupt data with many exception types
        where = name or (source if isinstance(source, Path) else "image bytes")
        raise DatasetError(f"{where}: cannot read image ({type(exc).__name__}: {exc})") from exc
    return to_tensor(array)


def _inspect_image(source: Path | bytes, resolution: int) -> None:
    """Raise `_BadImage` unless the file verifies, is large enough and decodes.

    JPEGs are decoded at reduced scale (PIL draft mode), which is cheap and still catches
    truncated data that `verify` does not look at.
    """
    try:
        with _open(source) as img:
            img.verify()
        with _open(source) as img:
            _check_size(img, resolution)
            if img.format == "JPEG":
                img.draft("RGB", (resolution, resolution))
            img.load()
    except _BadImage:
        raise
    except Exception as exc:  # PIL reports corrupt data with many exception types
        raise _BadImage(f"cannot read image ({type(exc).__name__}: {exc})") from exc


class ImageDataset(Dataset, abc.ABC):
    """Base class: a sorted list of image keys in some container, decoded on access."""

    def __init__(
        self,
        path: str | os.PathLike,
        resolution: int,
        xflip: bool = False,
        skip_bad: bool = False,
        max_images: int | None = None,
        background: tuple[int, int, int] = BACKGROUND,
    ):
        if not isinstance(resolution, int) or resolution < 1:
            raise ValueError(f"resolution must be a positive integer, got {resolution!r}")
        if max_images is not None and max_images < 1:
            raise ValueError(f"max_images must be positive or None, got {max_images!r}")
        if len(background) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in background):
            raise ValueError(f"background must be three integers in [0, 255] (R, G, B), got {background!r}")
        self.path, self.resolution, self.xflip = Path(path), resolution, xflip
        self.background = tuple(background)
        self._handle: Any = None
        self._handle_pid: int | None = None
        if not self.path.exists():
            raise DatasetError(f"dataset path does not exist: {self.path}")
        keys = self._list_keys()
        if not keys:
            raise DatasetError(f"no images found in {self.path}")
        self.skipped: list[tuple[str, str]] = []  # (location, reason) of each bad image skipped
        self.keys = self._scan(keys, max_images) if skip_bad else keys[:max_images]

    @abc.abstractmethod
    def _list_keys(self) -> list:
        """All image keys, in a deterministic order."""

    @abc.abstractmethod
    def _source(self, key: Hashable) -> Path | bytes:
        """The image file or its bytes; raises `_BadImage` if it cannot be read."""

    @abc.abstractmethod
    def where(self, key: Hashable) -> str:
        """A human-readable location of `key`, for error messages."""

    def _open_handle(self) -> Any:
        """An open container handle (zip, LMDB); None when files are opened directly."""
        return None

    def _container(self) -> Any:
        """The container handle of this process (reopened after a fork, e.g. in a DataLoader worker)."""
        if self._handle_pid != os.getpid():
            self._handle, self._handle_pid = self._open_handle(), os.getpid()
        return self._handle

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"], state["_handle_pid"] = None, None
        return state

    def _scan(self, keys: list, limit: int | None) -> list:
        """The first `limit` (default all) keys whose images are good; records the bad ones."""
        good = []
        for key in progress_bar(keys, desc=f"scan {self.path.name}", shown=len(keys) >= 2000):
            if len(good) == limit:
                break
            try:
                _inspect_image(self._source(key), self.resolution)
                good.append(key)
            except _BadImage as exc:
                self.skipped.append((self.where(key), str(exc)))
        if self.skipped:
            scanned = len(good) + len(self.skipped)
            logger.warning("%s: skipped %d bad image(s) of %d", self.path, len(self.skipped), scanned)
        if not good:
            raise DatasetError(f"no readable images found in {self.path} (all {len(keys)} are bad)")
        return good

    def __len__(self) -> int:
        return len(self.keys) * (2 if self.xflip else 1)

    def image(self, index: int) -> np.ndarray:
        """Item `index` as uint8 (H, W, 3)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images in {self.path}")
        key = self.keys[index % len(self.keys)]
        try:
            array = _decode_image(self._source(key), self.resolution, self.background)
        except _BadImage as exc:
            raise DatasetError(f"{self.where(key)}: {exc}") from exc
        return array[:, ::-1] if index >= len(self.keys) else array

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.image(index))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, resolution={self.resolution}, n={len(self)})"


class ImageFolderDataset(ImageDataset):
    """All images under a folder, recursively, sorted by relative path."""

    def _list_keys(self) -> list[str]:
        if not self.path.is_dir():
            raise DatasetError(f"not a folder: {self.path}")
        found = []
        for root, dirs, files in os.walk(self.path, followlinks=True):
            dirs.sort()
            rel = Path(root).relative_to(self.path)
            found += [(rel / f).as_posix() for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
        return sorted(found)

    def _source(self, key: str) -> Path:
        return self.path / key

    def where(self, key: str) -> str:
        return str(self.path / key)


class ZipImageDataset(ImageDataset):
    """Images inside a zip (e.g. stylegan2-ada `dataset_tool` output), sorted by member name."""

    def _open_handle(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DatasetError(f"{self.path}: not a readable zip file ({exc})") from exc

    def _list_keys(self) -> list[str]:
        names = self._container().namelist()
        return sorted(n for n in names if not n.endswith("/") and n.lower().endswith(IMAGE_EXTENSIONS))

    def _source(self, key: str) -> bytes:
        try:
            return self._container().read(key)
        except Exception as exc:  # zipfile raises BadZipFile, zlib.error, EOFError, OSError...
            raise _BadImage(f"cannot read zip member ({type(exc).__name__}: {exc})") from exc

    def where(self, key: str) -> str:
        return f"{self.path} (member {key})"


class LMDBImageDataset(ImageDataset):
    """Encoded images in an LMDB.

    Two layouts: rosinality/stylegan2-pytorch `prepare_data.py` (key b"length" and keys
    f"{size}-{index:05d}"; the stored size must equal `resolution`), or any other LMDB whose
    every value is an image (LSUN exports, keys like b"0", b"00000000" or hashes), read in key
    order — numeric order when all keys are integers.
    """

    def _open_handle(self) -> lmdb.Environment:
        return _lmdb_environment(self.path)

    def _list_keys(self) -> list[bytes]:
        with self._container().begin() as txn:
            length = txn.get(b"length")
            if length is None:
                keys = list(txn.cursor().iternext(keys=True, values=False))
                return sorted(keys, key=int) if keys and all(k.isdigit() for k in keys) else keys
            sizes = _stored_sizes(txn)
        if not length.strip().isdigit():
            raise DatasetError(f"{self.path}: LMDB key b'length' holds {length[:20]!r}, not an integer")
        if not sizes or int(length) == 0:
            return []
        if self.resolution not in sizes:
            raise DatasetError(
                f"{self.path}: no images stored at resolution {self.resolution}; stored sizes: "
                + ", ".join(map(str, sorted(sizes)))
            )
        return [f"{self.resolution}-{str(i).zfill(5)}".encode() for i in range(int(length))]

    def _source(self, key: bytes) -> bytes:
        with self._container().begin() as txn:
            data = txn.get(key)
        if data is None:
            raise _BadImage("key missing from LMDB")
        return data

    def where(self, key: bytes) -> str:
        return f"{self.path} (key {key.decode(errors='replace')})"


_LMDB_ENVIRONMENTS: dict[str, lmdb.Environment] = {}


def _lmdb_environment(path: Path) -> lmdb.Environment:
    """One read-only environment per LMDB per process tree.

    py-lmdb refuses to open an environment twice in a process, and a forked DataLoader worker
    inherits the parent's registry; read-only, lock-free environments are safe to share.
    """
    key = str(path.resolve())
    if key not in _LMDB_ENVIRONMENTS:
        try:
            _LMDB_ENVIRONMENTS[key] = lmdb.open(key, readonly=True, lock=False, readahead=False, meminit=False)
        except lmdb.Error as exc:
            raise DatasetError(f"{path}: cannot open LMDB ({exc})") from exc
    return _LMDB_ENVIRONMENTS[key]


def _stored_sizes(txn: lmdb.Transaction) -> set[int]:
    """Sizes present as f"{size}-..." key prefixes, found by one cursor jump per size."""
    sizes, cursor = set(), txn.cursor()
    found = cursor.first()
    while found:
        prefix, dash, _ = cursor.key().partition(b"-")
        if dash and prefix.isdigit():
            sizes.add(int(prefix))
            found = cursor.set_range(prefix + b"-\xff")
        else:
            found = cursor.next()
    return sizes
