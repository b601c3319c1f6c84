"""Safe, atomic tensor files: safetensors for tensors, JSON metadata for configs.

Loading never executes code from a file; writing goes to a temporary file in the same folder and
is renamed into place, so an interrupted write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..networks import SSNGenerator, StyleGAN2Generator

GENERATOR_CLASSES = {"StyleGAN2Generator": StyleGAN2Generator, "SSNGenerator": SSNGenerator}


def atomic_write(path: str | Path, write) -> None:
    """Call `write(tmp_path)` and rename the result to `path` (same filesystem, atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> None:
    """Write tensors (made contiguous, detached, on CPU) and JSON-encoded metadata atomically."""
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=meta))


def _header(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(header_len))


def load_tensors(path: str | Path,
                 device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by `save_tensors`: (tensors, decoded metadata)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        tensors = load_file(str(path), device=str(device))
        header = _header(path)
    except (SafetensorError, ValueError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    return tensors, {k: json.loads(v) for k, v in header.get("__metadata__", {}).items()}


def load_metadata(path: str | Path) -> dict[str, Any]:
    """The decoded metadata of a `save_tensors` file, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    try:
        header = _header(path)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    return {k: json.loads(v) for k, v in header.get("__metadata__", {}).items()}


def build_generator(class_name: str, config: dict[str, Any]):
    """Instantiate a generator from its class name and `config` dict (as saved in metadata)."""
    if class_name not in GENERATOR_CLASSES:
        raise ValueError(f"unknown generator class {class_name!r}; expected one of {sorted(GENERATOR_CLASSES)}")
    return GENERATOR_CLASSES[class_name](**config)


def save_generator(path: str | Path, generator, extra: dict[str, Any] | None = None) -> None:
    """One self-describing file: the generator's tensors, class name and config."""
    metadata = {"class": type(generator).__name__, "config": generator.config, **(extra or {})}
    save_tensors(path, generator.state_dict(), metadata)


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """Load a file written by `save_generator` (strict: missing or unexpected tensors are named)."""
    tensors, metadata = load_tensors(path)
    if "class" not in metadata or "config" not in metadata:
        raise ValueError(f"{path} has no generator class/config metadata; was it written by ssnlib.save_generator?")
    generator = build_generator(metadata["class"], metadata["config"])
    result = generator.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: missing tensors {result.missing_keys}, unexpected tensors {result.unexpected_keys}")
    return generator.to(device).eval()
