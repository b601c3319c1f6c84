"""Evaluate a trained generator: the paper's metrics (Tables 1–2) by name, as one call or CLI.

    python -m ssnlib eval --metrics fd_proc,ppl_proc,distortion runs/faces-ld100

| name | what | label in tables |
|---|---|---|
| `fid` | Fréchet distance of Inception-v3-compat features (canonical weights needed) | FID |
| `kid` | kernel Inception distance, same features | KID |
| `ppl` | StyleGAN2 PPL with LPIPS-VGG16 (canonical weights needed) | PPL |
| `fd_proc` | Fréchet distance of the project's procedural feature network | FD-proc |
| `prc_proc` | precision and recall (k = 3, Kynkäänniemi et al.), same features | precision-proc, recall-proc |
| `ppl_proc` | StyleGAN2's PPL protocol with the procedural network's feature distance | PPL-proc |
| `distortion` | distortion, in-block change, locality of single-block resamples | distortion |

FD-proc and PPL-proc are *proxies* for the offline presets, never reported under the canonical names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader, Subset

from .data import open_dataset
from .io.serialization import atomic_write
from .metrics.distortion import distortion
from .metrics.features import (
    INCEPTION_NAME,
    compute_feature_stats,
    dataset_feature_stats,
    fid_with_se,
    get_feature_extractor,
)
from .metrics.frechet import kernel_inception_distance
from .metrics.ppl import lpips_distance, perceptual_path_length
from .metrics.precision_recall import precision_recall
from .metrics.procnet import PROCNET_NAME

logger = logging.getLogger(__name__)

METRICS = ("fid", "kid", "ppl", "fd_proc", "prc_proc", "ppl_proc", "distortion")
LABELS = {"fid": "FID", "kid": "KID", "ppl": "PPL", "fd_proc": "FD-proc", "ppl_proc": "PPL-proc",
          "distortion": "distortion", "in_block": "in-block change", "locality": "locality",
          "prc_proc_precision": "precision-proc", "prc_proc_recall": "recall-proc"}


@dataclass
class EvalSettings:
    """Sample counts and data for an evaluation."""

    dataset: str
    resolution: int
    dataset_seed: int = 0
    n_fd: int = 5000
    n_ppl: int = 2000
    n_distortion: int = 2000
    batch_size: int = 64
    ppl_crop: bool = False
    seed: int = 0
    device: str = "cpu"
    cache_dir: str | None = None

    def stats_cache(self) -> Path:
        root = self.cache_dir or os.environ.get("SSNLIB_CACHE") or Path.home() / ".cache" / "ssnlib"
        return Path(root) / "feature-stats"


def parse_metrics(text: str | list[str]) -> list[str]:
    names = [m.strip() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"unknown metrics {unknown or names}; choose from {', '.join(METRICS)}")
    return names


def _rng(settings: EvalSettings) -> torch.Generator:
    """A fresh seeded stream per metric: each metric's samples do not depend on the others."""
    return torch.Generator().manual_seed(settings.seed)


def _generate_fn(G, settings: EvalSettings):
    rng = _rng(settings)

    @torch.no_grad()
    def generate(n: int) -> torch.Tensor:
        z = G.sample_z(n, rng, device=settings.device)
        return G(z, noise=G.make_noise(n, rng, device=settings.device))

    return generate


class _SampleFeatures:
    """The feature statistics of one evaluation, each computed once per feature network: FD, KID
    and precision/recall asked of one `evaluate_generator` call share the same n_fd generated
    images (kept whole, for the bootstrap and the k-NN metrics) and the same real ones."""

    def __init__(self, samples: Callable[[], Any], settings: EvalSettings, label: str = "generated"):
        self.samples, self.settings, self.label = samples, settings, label  # samples(): a fresh image source
        self._generated: dict[str, Any] = {}

    def generated(self, extractor_name: str):
        if extractor_name not in self._generated:
            s = self.settings
            self._generated[extractor_name] = compute_feature_stats(
                self.samples(), get_feature_extractor(extractor_name), s.n_fd, s.batch_size,
                keep_features=True, desc=f"{self.label} {extractor_name} features")
        return self._generated[extractor_name]

    def real(self, extractor_name: str, keep_features: bool = False):
        """The first n_fd dataset images' stats (cached on disk by `dataset_feature_stats`)."""
        s = self.settings
        dataset = open_dataset(s.dataset, s.resolution, length=s.n_fd, seed=s.dataset_seed)
        key = f"{Path(s.dataset).name}-seed{s.dataset_seed}"
        return dataset_feature_stats(dataset, get_feature_extractor(extractor_name), s.n_fd, s.batch_size,
                                     s.stats_cache(), key, keep_features=keep_features)


def _fd(features: _SampleFeatures, extractor_name: str) -> tuple[float, float]:
    """(Fréchet distance, bootstrap standard error) in the named feature space."""
    extractor = get_feature_extractor(extractor_name)
    return fid_with_se(features.generated(extractor_name), features.real(extractor_name), extractor.metric_name)


def _kid(features: _SampleFeatures) -> dict[str, float]:
    fake, real = features.generated(INCEPTION_NAME), features.real(INCEPTION_NAME, keep_features=True)
    mean, std = kernel_inception_distance(fake.features, real.features, subsets=100,
                                          subset_size=min(1000, features.settings.n_fd))
    return {"kid": mean, "kid_std": std}


def _prc(features: _SampleFeatures, extractor_name: str) -> dict[str, float]:
    """Precision and recall of n_fd generated vs the first n_fd real images in the named features."""
    fake, real = features.generated(extractor_name), features.real(extractor_name, keep_features=True)
    return precision_recall(torch.as_tensor(fake.features), torch.as_tensor(real.features))


SAMPLE_METRICS = ("fid", "fd_proc", "kid", "prc_proc")  # those of a sample set alone (no latent code needed)


def _sample_metric(name: str, features: _SampleFeatures) -> dict[str, float]:
    if name == "fid":
        return dict(zip(("fid", "fid_se"), _fd(features, INCEPTION_NAME)))
    if name == "fd_proc":
        return dict(zip(("fd_proc", "fd_proc_se"), _fd(features, PROCNET_NAME)))
    if name == "kid":
        return _kid(features)
    out = _prc(features, PROCNET_NAME)
    return {"prc_proc_precision": out["precision"], "prc_proc_recall": out["recall"]}


def evaluate_real(metrics: list[str], settings: EvalSettings,
                  transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, Any]:
    """The sample metrics of real images against real ones: the dataset's images n_fd … 2·n_fd − 1
    (held out from the reference set, its first n_fd) — the floor a perfect generator reaches at
    this n_fd. Metrics that need a latent code (PPL, distortion) have no value for real images.
    `transform` (a batch (B, 3, H, W) in [-1, 1] → the same shape) degrades the held-out images
    first: what a blur or noise of known size costs on the metric's scale."""
    names = parse_metrics(metrics)
    latent = [m for m in names if m not in SAMPLE_METRICS]
    if latent:
        raise ValueError(f"real images have no latent code: {', '.join(latent)} cannot be measured on them")
    s = settings
    dataset = open_dataset(s.dataset, s.resolution, length=2 * s.n_fd, seed=s.dataset_seed)
    if len(dataset) < 2 * s.n_fd:
        raise ValueError(f"dataset {s.dataset}: {len(dataset)} images; real vs real at n_fd = {s.n_fd} needs "
                         f"{2 * s.n_fd} (the reference set and as many held out)")

    def held_out():
        batches = DataLoader(Subset(dataset, range(s.n_fd, 2 * s.n_fd)), batch_size=s.batch_size, shuffle=False)
        return batches if transform is None else map(_checked(transform), batches)

    features = _SampleFeatures(held_out, s, label="held-out real")
    results: dict[str, Any] = {}
    for name in names:
        logger.info("computing %s (real vs real)", name)
        results.update(_sample_metric(name, features))
    return results


def _checked(transform: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    def apply(batch: torch.Tensor) -> torch.Tensor:
        out = transform(batch)
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        if got != tuple(batch.shape):
            raise ValueError(f"evaluate_real: transform must return a tensor of the batch's shape "
                             f"{tuple(batch.shape)}, got {got}")
        return out
    return apply


def evaluate_generator(G, metrics: list[str], settings: EvalSettings) -> dict[str, Any]:
    """Compute the named metrics for G; returns a flat dict (values, standard errors, counts)."""
    G = G.to(settings.device).eval()
    features = _SampleFeatures(lambda: _generate_fn(G, settings), settings)
    results: dict[str, Any] = {}
    for name in parse_metrics(metrics):
        logger.info("computing %s", name)
        if name in SAMPLE_METRICS:
            results.update(_sample_metric(name, features))
        elif name in ("ppl", "ppl_proc"):
            if name == "ppl":
                from .metrics.features import lpips_vgg16

                dist = lpips_distance(lpips_vgg16(device=settings.device))
            else:
                from .metrics.procnet import load_procnet, proc_perceptual_distance

                net = load_procnet(device=settings.device)

                def dist(a, b):
                    return proc_perceptual_distance(a, b, net)
            out = perceptual_path_length(G, dist, settings.n_ppl, crop=settings.ppl_crop,
                                         batch_size=settings.batch_size, generator=_rng(settings),
                                         device=settings.device)
            results[name], results[f"{name}_se"] = out["ppl"], out["se"]
            results[f"{name}_n"] = out["n_samples"]
        elif name == "distortion":
            if not hasattr(G, "grid"):
                results.update({"distortion": math.nan, "in_block": math.nan, "locality": math.nan})
                continue
            out = distortion(G, settings.n_distortion, batch_size=settings.batch_size, generator=_rng(settings),
                             device=settings.device)
            results.update(out)
    return results


EVAL_CACHE_VERSION = 1  # bump when a metric's definition changes: older cached numbers are then ignored


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:16]


def evaluate_cached(source: str | Path, load: Callable[[], Any], metrics: list[str],
                    settings: EvalSettings) -> dict[str, Any]:
    """`evaluate_generator` with an on-disk cache (`<cache>/evals/`), one file per metric, keyed by
    the generator file's content, the metric and the settings (not the device): notebooks that
    measure the same model with the same settings (Table 2 and Appendix B) compute it once.
    `load()` builds the generator from `source`, called only on a cache miss."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"generator file {source} does not exist")
    fields = {k: v for k, v in asdict(settings).items() if k not in ("device", "cache_dir")}
    settings_digest = _digest(json.dumps([EVAL_CACHE_VERSION, fields], sort_keys=True).encode())
    key = _digest(source.read_bytes()) + "-" + settings_digest
    folder = settings.stats_cache().parent / "evals"
    results: dict[str, Any] = {}
    G = None
    for name in parse_metrics(metrics):
        path = folder / f"{key}-{name}.json"
        if path.is_file():
            results.update(json.loads(path.read_text()))
            logger.info("%s of %s loaded from %s", name, source.name, path)
            continue
        G = load() if G is None else G
        fresh = evaluate_generator(G, [name], settings)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp, fresh=fresh: Path(tmp).write_text(json.dumps(fresh, indent=2) + "\n"))
        results.update(fresh)
    return results


def format_table(results: dict[str, Any]) -> str:
    """Markdown table of the headline numbers (value ± standard error where known)."""
    rows = ["| metric | value |", "|---|---|"]
    for key, label in LABELS.items():
        if key in results:
            value, se = results[key], results.get(f"{key}_se")
            text = f"{value:.4g}" if se is None or math.isnan(se) else f"{value:.4g} ± {se:.2g}"
            rows.append(f"| {label} | {text} |")
    return "\n".join(rows)


def evaluate_run(run: str | Path, metrics: list[str], label: str | None = None, generator=None,
                 **settings) -> dict[str, Any]:
    """Evaluate RUN/generator.safetensors (or `generator`, a snapshot of the run such as its
    best.safetensors) against the run's own dataset, `settings` being EvalSettings fields (sample
    counts, device, …); merges the results into RUN/eval-<label>.json (default label: the preset
    named in the run's config)."""
    from .io.serialization import load_generator

    run = Path(run)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory (no config.json)")
    config = json.loads(config_path.read_text())
    settings = EvalSettings(**{"dataset": config["dataset"], "resolution": config["resolution"],
                               "dataset_seed": config.get("seed", 0), **settings})
    G = load_generator(run / "generator.safetensors", device=settings.device) if generator is None else generator
    results = evaluate_generator(G, metrics, settings)
    out = run / f"eval-{label or config.get('preset', 'run')}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    payload = {**previous, **results}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    return results
