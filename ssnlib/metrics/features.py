"""Feature networks for the paper's metrics (§4, Tables 1–2) and the code path that feeds them.

Canonical networks are torch-fidelity's, with the exact weights of the reference implementations:

- FID: `inception-v3-compat` (the TensorFlow FID Inception graph of 2015-12-05, pool3 = 2048-d),
  fed uint8 images in [0, 255] (it resizes to 299×299 itself, like TF 1.x).
- PPL: `lpips-vgg16` (LPIPS v0.1 linear heads on torchvision's ImageNet VGG16).

Weights are looked up, in order: the explicit argument; an environment variable
(`SSNLIB_INCEPTION_WEIGHTS`, `SSNLIB_LPIPS_WEIGHTS`, `SSNLIB_VGG16_WEIGHTS`); torch hub's
checkpoint cache (where torch-fidelity and torchvision download to); a download if allowed.
If none works, `MissingWeightsError` says which file, from where, and where to put it. Other
weights are never substituted: a project-trained network (e.g. FD-proc on procedural data) is a
different `FeatureExtractor`, registered under its own name and reported as "FD-<name>".
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union
from unittest import mock
from urllib.parse import urlparse

import torch
import torchvision
from torch.utils.data import DataLoader, Dataset, Subset
from torch_fidelity import sample_similarity_lpips
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3
from torch_fidelity.sample_similarity_lpips import URL_VGG16_LPIPS, SampleSimilarityLPIPS

from ..progress import progress_bar
from .frechet import FeatureStats, fid_bootstrap_se, fid_from_stats

log = logging.getLogger(__name__)

INCEPTION_NAME = "inception-v3-compat"
INCEPTION_FEATURE = "2048"
INPUT_FORMATS = ("uint8", "float")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class WeightsSpec:
    """One canonical weight file: what it is, where torch-fidelity/torchvision download it from."""

    description: str
    url: str
    env_var: str

    @property
    def filename(self) -> str:
        return os.path.basename(urlparse(self.url).path)

    def hub_path(self) -> Path:
        """Where `torch.hub.load_state_dict_from_url` caches it (honours $TORCH_HOME)."""
        return Path(torch.hub.get_dir()) / "checkpoints" / self.filename


INCEPTION_WEIGHTS = WeightsSpec(
    "Inception-v3 FID weights (torch-fidelity 'inception-v3-compat', TF graph 2015-12-05)",
    URL_INCEPTION_V3,
    "SSNLIB_INCEPTION_WEIGHTS",
)
LPIPS_WEIGHTS = WeightsSpec(
    "LPIPS v0.1 linear-layer weights (torch-fidelity 'lpips-vgg16')",
    URL_VGG16_LPIPS,
    "SSNLIB_LPIPS_WEIGHTS",
)
VGG16_WEIGHTS = WeightsSpec(
    "VGG16 ImageNet backbone of LPIPS (torchvision VGG16_Weights.IMAGENET1K_V1)",
    torchvision.models.VGG16_Weights.IMAGENET1K_V1.url,
    "SSNLIB_VGG16_WEIGHTS",
)


class MissingWeightsError(RuntimeError):
    """Canonical feature-network weights are not available (offline, or a wrong path)."""

    def __init__(self, missing: list[tuple[WeightsSpec, str]]):
        self.missing = missing
        lines = ["Missing feature-network weights (no substitute weights are ever used):"]
        for spec, reason in missing:
            lines += [
                f"  - {spec.description}: file '{spec.filename}' — {reason}",
                f"      download it from {spec.url}",
                f"      and put it at {spec.hub_path()} (torch hub cache, found automatically)",
                f"      or set {spec.env_var}=/path/to/{spec.filename} (or pass the path as an argument).",
            ]
        super().__init__("\n".join(lines))


def resolve_weights(spec: WeightsSpec, weights_path: str | os.PathLike | None, allow_download: bool) -> Path | None:
    """The local file to load, or None meaning "let torch-fidelity/torchvision download it".

    Order: `weights_path`, then `$spec.env_var`, then the torch hub cache; an explicit path or
    variable that names a missing file is an error, not a reason to look further. `$SSNLIB_OFFLINE=1`
    forbids downloads whatever `allow_download` says (the test suite sets it).
    """
    allow_download = allow_download and os.environ.get("SSNLIB_OFFLINE", "") not in ("1", "true", "yes")
    for source, value in (("argument", weights_path), (f"${spec.env_var}", os.environ.get(spec.env_var))):
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise MissingWeightsError([(spec, f"{source} points to {path}, which is not a file")])
            log.info("%s: using %s (from %s)", spec.description, path, source)
            return path
    cached = spec.hub_path()
    if cached.is_file():
        log.info("%s: using the torch hub cache %s", spec.description, cached)
        return cached
    if allow_download:
        log.info("%s: not found locally, downloading from %s", spec.description, spec.url)
        return None
    raise MissingWeightsError([(spec, f"not found (argument, ${spec.env_var}, {cached}) and downloads are disabled")])


def load_state_dict_file(path: Path, spec: WeightsSpec) -> dict[str, torch.Tensor]:
    """Load a state dict without executing code from the file (`weights_only=True`)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — any failure means "not a usable weights file"
        raise ValueError(f"{path} is not a loadable weights file for the {spec.description}: {e}") from e
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors ({spec.description})")
    return state


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] → uint8 [0, 255], StyleGAN2's metric convention (x·127.5 + 128,
    clamped, truncated): exact inverse of u ↦ u/127.5 − 1 for uint8 data."""
    _check_images(images)
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def _check_images(images: torch.Tensor) -> None:
    if not torch.is_tensor(images) or not images.is_floating_point():
        raise TypeError(f"images must be a float tensor in [-1, 1], got {type(images).__name__} "
                        f"{getattr(images, 'dtype', '')}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")


class FeatureExtractor:
    """A named map images → (B, D) features; everything Fréchet-type runs through one of these.

    The module is put in eval mode; features come back detached, float64, on the CPU.

    `input_format` says what `module` expects: "uint8" ([0, 255], converted by
    `images_to_uint8`) or "float" (the [-1, 1] images unchanged). torch-fidelity extractors
    (`FeatureExtractorBase`, one requested feature) return a 1-tuple; that is unpacked.
    """

    def __init__(self, name: str, module: torch.nn.Module, input_format: str = "float"):
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"feature extractor name {name!r} must match {_NAME_RE.pattern}")
        if input_format not in INPUT_FORMATS:
            raise ValueError(f"input_format {input_format!r} must be one of {INPUT_FORMATS}")
        if isinstance(module, FeatureExtractorBase) and len(module.get_requested_features_list()) != 1:
            raise ValueError(f"{name}: request exactly one feature layer, got {module.get_requested_features_list()}")
        self.name, self.module, self.input_format = name, module.eval(), input_format
        self._fingerprint: str | None = None

    @property
    def metric_name(self) -> str:
        """The label to report: "FID" only for the canonical Inception network, else "FD-<name>"."""
        return "FID" if self.name == INCEPTION_NAME else f"FD-{self.name}"

    @property
    def device(self) -> torch.device:
        param = next(self.module.parameters(), None)
        return torch.device("cpu") if param is None else param.device

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        _check_images(images)
        x = images_to_uint8(images) if self.input_format == "uint8" else images
        out = self.module(x.to(self.device))
        if isinstance(out, tuple):
            (out,) = out
        if out.ndim != 2 or out.shape[0] != images.shape[0]:
            raise ValueError(f"{self.name} returned features of shape {tuple(out.shape)}, expected (B, D)")
        return out.detach().to("cpu", torch.float64)

    def fingerprint(self) -> str:
        """Hash of the weights (and input convention): part of every cache key, so stats made with
        other weights (e.g. a retrained FD-proc network, a test's random file) are never reused."""
        if self._fingerprint is None:
            h = hashlib.blake2b(f"{type(self.module).__name__}|{self.input_format}".encode(), digest_size=16)
            for key, tensor in sorted(self.module.state_dict().items()):
                t = tensor.detach().cpu().contiguous().reshape(-1)
                h.update(f"|{key}|{t.dtype}|{tuple(tensor.shape)}|".encode())
                h.update(t.view(torch.uint8).numpy().tobytes())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


ExtractorLike = Union[FeatureExtractor, torch.nn.Module, str]
_REGISTRY: dict[str, tuple[Callable[..., object], str]] = {}


def register_feature_extractor(
    name: str, factory: Callable[..., object], input_format: str = "float", replace: bool = False
) -> None:
    """Make `get_feature_extractor(name, **kwargs)` build `factory(**kwargs)`.

    The factory returns a `FeatureExtractor` or a plain `nn.Module` (wrapped with this `name`
    and `input_format`). This registry is ssnlib's own: torch-fidelity's registry holds
    `FeatureExtractorBase` subclasses for its `calculate_metrics` pipeline and cannot re-register
    a name; any torch-fidelity extractor instance can still be passed here directly.
    """
    if not _NAME_RE.fullmatch(name):
        raise ValueError(f"feature extractor name {name!r} must match {_NAME_RE.pattern}")
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input_format {input_format!r} must be one of {INPUT_FORMATS}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"feature extractor {name!r} is already registered (pass replace=True to override)")
    _REGISTRY[name] = (factory, input_format)


def get_feature_extractor(name: str, **kwargs) -> FeatureExtractor:
    if name not in _REGISTRY:
        raise KeyError(f"unknown feature extractor {name!r}; registered: {sorted(_REGISTRY)}")
    factory, input_format = _REGISTRY[name]
    made = factory(**kwargs)
    return made if isinstance(made, FeatureExtractor) else FeatureExtractor(name, made, input_format)


def as_feature_extractor(extractor: ExtractorLike) -> FeatureExtractor:
    """Accept a `FeatureExtractor`, a registered name, a torch-fidelity extractor (uint8 input)
    or any module mapping [-1, 1] float images to (B, D) (named after its class)."""
    if isinstance(extractor, FeatureExtractor):
        return extractor
    if isinstance(extractor, str):
        return get_feature_extractor(extractor)
    if isinstance(extractor, FeatureExtractorBase):
        return FeatureExtractor(extractor.get_name(), extractor, "uint8")
    if isinstance(extractor, torch.nn.Module):
        return FeatureExtractor(type(extractor).__name__, extractor, "float")
    raise TypeError(f"expected a FeatureExtractor, nn.Module or registered name, got {type(extractor).__name__}")


def inception_feature_extractor(
    weights_path: str | os.PathLike | None = None, device: str | torch.device = "cpu", allow_download: bool = True
) -> FeatureExtractor:
    """torch-fidelity's `inception-v3-compat`, pool3 (2048-d) features: the reference FID network."""
    path = resolve_weights(INCEPTION_WEIGHTS, weights_path, allow_download)
    if path is not None:
        load_state_dict_file(path, INCEPTION_WEIGHTS)  # refuse files that would run code before torch-fidelity's load
    try:
        module = FeatureExtractorInceptionV3(
            INCEPTION_NAME, [INCEPTION_FEATURE], feature_extractor_weights_path=None if path is None else str(path)
        )
    except OSError as e:
        if path is not None:
            raise
        raise MissingWeightsError([(INCEPTION_WEIGHTS, f"download failed: {e}")]) from e
    except RuntimeError as e:  # load_state_dict: missing / unexpected / mis-shaped keys
        where = path or INCEPTION_WEIGHTS.hub_path()
        raise ValueError(f"{where} does not hold the {INCEPTION_WEIGHTS.description}: {e}") from e
    return FeatureExtractor(INCEPTION_NAME, module.to(device), input_format="uint8")


def lpips_vgg16(
    weights_path: str | os.PathLike | None = None,
    vgg16_weights_path: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    allow_download: bool = True,
    resize: int | None = None,
    input_dtype: str | None = None,
) -> SampleSimilarityLPIPS:
    """torch-fidelity's LPIPS-VGG16 (the distance inside PPL): `module(a, b)` → (B,) distances.

    Inputs are RGB in [0, 255], uint8 or float (StyleGAN2's PPL feeds unquantised floats:
    (x + 1)·127.5). `resize` / `input_dtype` are torch-fidelity's `sample_similarity_resize` /
    `sample_similarity_dtype` (its own PPL uses 64 and "uint8"). Two weight files are needed: the
    LPIPS heads (`weights_path`, $SSNLIB_LPIPS_WEIGHTS) and torchvision's ImageNet VGG16
    (`vgg16_weights_path`, $SSNLIB_VGG16_WEIGHTS; only its `features.*` tensors are used).
    """
    paths: dict[WeightsSpec, Path | None] = {}
    missing: list[tuple[WeightsSpec, str]] = []
    for spec, explicit in ((LPIPS_WEIGHTS, weights_path), (VGG16_WEIGHTS, vgg16_weights_path)):
        try:
            paths[spec] = resolve_weights(spec, explicit, allow_download)
        except MissingWeightsError as e:
            missing += e.missing
    if missing:
        raise MissingWeightsError(missing)
    lin_path, vgg_path = paths[LPIPS_WEIGHTS], paths[VGG16_WEIGHTS]
    download_heads = sample_similarity_lpips.load_state_dict_from_url
    download_vgg = sample_similarity_lpips.torchvision_load_pretrained_vgg16

    def load_heads(url, **kwargs):
        return download_heads(url, **kwargs) if lin_path is None else load_state_dict_file(lin_path, LPIPS_WEIGHTS)

    def load_vgg(**kwargs):
        if vgg_path is None:
            return download_vgg(**kwargs)
        state = load_state_dict_file(vgg_path, VGG16_WEIGHTS)
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        with torch.device("meta"):  # the 120M-parameter classifier is never materialised
            vgg = torchvision.models.vgg16(weights=None)
        vgg.features.to_empty(device="cpu")
        try:
            vgg.features.load_state_dict(features)
        except RuntimeError as e:
            raise ValueError(f"{vgg_path} does not hold the {VGG16_WEIGHTS.description}: {e}") from e
        return vgg

    # torch-fidelity's constructor always downloads; route its two loaders to the resolved files.
    with mock.patch.object(sample_similarity_lpips, "load_state_dict_from_url", load_heads), \
            mock.patch.object(sample_similarity_lpips, "torchvision_load_pretrained_vgg16", load_vgg):
        try:
            module = SampleSimilarityLPIPS("lpips-vgg16", sample_similarity_resize=resize,
                                           sample_similarity_dtype=input_dtype)
        except OSError as e:
            if lin_path is not None and vgg_path is not None:
                raise
            failed = [spec for spec, p in paths.items() if p is None]
            raise MissingWeightsError([(spec, f"download failed: {e}") for spec in failed]) from e
        except RuntimeError as e:  # load_state_dict of the heads
            where = lin_path or LPIPS_WEIGHTS.hub_path()
            raise ValueError(f"{where} does not hold the {LPIPS_WEIGHTS.description}: {e}") from e
    return module.to(device)


ImageSource = Union[Callable[[int], torch.Tensor], Iterable]


def _image_batches(images: ImageSource, n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """Exactly n images in batches: from `fn(batch_size)` calls or an iterable of batches
    (tensors, or tuples/lists whose first element is the image batch, as a DataLoader yields)."""
    if callable(images):
        done = 0
        while done < n:
            want = min(batch_size, n - done)
            batch = images(want)
            _check_images(batch)
            if batch.shape[0] != want:
                raise ValueError(f"generate_fn({want}) returned {batch.shape[0]} images")
            done += want
            yield batch
        return
    done = 0
    for item in images:
        batch = item[0] if isinstance(item, (tuple, list)) else item
        if torch.is_tensor(batch) and batch.ndim == 3:
            raise ValueError(f"expected batches (B, 3, H, W), got one image {tuple(batch.shape)}: "
                             "pass a DataLoader, not a Dataset")
        _check_images(batch)
        batch = batch[: n - done]
        done += batch.shape[0]
        yield batch
        if done == n:
            return
    raise ValueError(f"the image source ran out after {done} images, {n} requested")


def compute_feature_stats(
    images: ImageSource,
    extractor: ExtractorLike,
    n: int,
    batch_size: int = 64,
    keep_features: bool = False,
    progress: bool = True,
    desc: str | None = None,
) -> FeatureStats:
    """Features of n images (float (B, 3, H, W) in [-1, 1]) from `images(batch_size)` or an
    iterable of batches, accumulated into `FeatureStats`."""
    if n < 1 or batch_size < 1:
        raise ValueError(f"n ({n}) and batch_size ({batch_size}) must be positive")
    extractor = as_feature_extractor(extractor)
    stats = FeatureStats(keep_features=keep_features)
    with torch.no_grad(), progress_bar(total=n, unit="img", desc=desc or f"{extractor.name} features",
                                       shown=progress, leave=False) as bar:
        for batch in _image_batches(images, n, batch_size):
            stats.update(extractor(batch))
            bar.update(batch.shape[0])
    return stats


def dataset_feature_stats(
    dataset: Dataset,
    extractor: ExtractorLike,
    n: int | None = None,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    keep_features: bool = False,
    progress: bool = True,
) -> FeatureStats:
    """Feature stats of the first n items (all if None) of a dataset of [-1, 1] images.

    With `cache_dir`, the result is stored as `<cache_key>-<H>x<W>-n<n>-<extractor>-<weights
    hash>.npz` and later calls load it instead of recomputing. `cache_key` names the dataset
    (e.g. "faces-procedural-seed0"): it is the caller's promise that the same key means the same
    images.
    """
    extractor = as_feature_extractor(extractor)
    total = len(dataset)
    n = total if n is None else n
    if not 2 <= n <= total:
        raise ValueError(f"n = {n} images requested from a dataset of {total} (need 2 ≤ n ≤ {total})")
    loader = DataLoader(Subset(dataset, range(n)), batch_size=batch_size, shuffle=False)
    if cache_dir is None:
        return compute_feature_stats(loader, extractor, n, batch_size, keep_features, progress)
    if cache_key is None or not _NAME_RE.fullmatch(cache_key):
        raise ValueError(f"cache_dir needs a cache_key naming the dataset, matching {_NAME_RE.pattern}; "
                         f"got {cache_key!r}")
    first = dataset[0]
    first = first[0] if isinstance(first, (tuple, list)) else first
    height, width = first.shape[-2:]
    path = Path(cache_dir) / f"{cache_key}-{height}x{width}-n{n}-{extractor.name}-{extractor.fingerprint()}.npz"
    if path.is_file():
        stats = FeatureStats.load(path)
        if stats.n != n:
            raise ValueError(f"cache file {path} holds {stats.n} samples, expected {n}: delete it")
        if stats.features is not None or not keep_features:
            log.info("dataset feature stats loaded from %s", path)
            return stats
    stats = compute_feature_stats(loader, extractor, n, batch_size, keep_features, progress,
                                  desc=f"{cache_key} {extractor.name} features")
    stats.save(path)
    log.info("dataset feature stats saved to %s", path)
    return stats


def compute_fid(
    generate_fn: Callable[[int], torch.Tensor],
    dataset: Dataset,
    n_gen: int,
    n_real: int | None = None,
    batch_size: int = 64,
    extractor: ExtractorLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    cache_key: str | None = None,
    n_boot: int = 20,
    progress: bool = True,
) -> tuple[float, float]:
    """(FD, its bootstrap standard error): the Fréchet distance between n_gen images of
    `generate_fn(batch_size)` and n_real dataset images (all if None), and its SE over the generated
    images (`fid_bootstrap_se`; NaN when `n_boot` = 0). The canonical Inception network by default
    — FID proper; with another extractor the number is that network's FD (`metric_name`)."""
    extractor = inception_feature_extractor() if extractor is None else as_feature_extractor(extractor)
    real = dataset_feature_stats(dataset, extractor, n_real, batch_size, cache_dir, cache_key, progress=progress)
    fake = compute_feature_stats(generate_fn, extractor, n_gen, batch_size, keep_features=n_boot > 0,
                                 progress=progress, desc=f"generated {extractor.name} features")
    return fid_with_se(fake, real, extractor.metric_name, n_boot)


def fid_with_se(fake: FeatureStats, real: FeatureStats, metric_name: str = "FID",
                n_boot: int = 20) -> tuple[float, float]:
    """Fréchet distance of accumulated stats and its bootstrap standard error over the generated
    features (`fid_bootstrap_se`, which needs `fake` to have kept them; NaN when `n_boot` = 0)."""
    value = fid_from_stats(fake, real)
    se = fid_bootstrap_se(fake, real, n_boot) if n_boot > 0 else math.nan
    log.info("%s = %.4f ± %.2g (%d generated vs %d real images)", metric_name, value, se, fake.n, real.n)
    return value, se


register_feature_extractor(INCEPTION_NAME, inception_feature_extractor, input_format="uint8")
