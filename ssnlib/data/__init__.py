"""Datasets: procedural faces and churches (offline stand-ins for FFHQ and LSUN churches, with
attribute labels and part maps) and real images from a folder, a zip or an LMDB."""

from .churches import ProceduralChurches
from .errors import DatasetError
from .export import export_pngs
from .faces import ProceduralFaces
from .images import ImageDataset, ImageFolderDataset, LMDBImageDataset, ZipImageDataset, load_image
from .procedural import RENDER_VERSION, CachedDataset, ProceduralDataset, ProceduralSample
from .registry import PROCEDURAL, open_dataset

__all__ = [
    "RENDER_VERSION",
    "PROCEDURAL",
    "CachedDataset",
    "DatasetError",
    "ImageDataset",
    "ImageFolderDataset",
    "LMDBImageDataset",
    "ProceduralChurches",
    "ProceduralDataset",
    "ProceduralFaces",
    "ProceduralSample",
    "ZipImageDataset",
    "export_pngs",
    "load_image",
    "open_dataset",
]
