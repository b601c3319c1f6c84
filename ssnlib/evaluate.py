"""Evaluate a trained generator: the paper's metrics (Tables 1–2) by name, as one call or CLI.

    python -m ssnlib eval --metrics fd_proc,ppl_proc,distortion runs/faces-ld100

| name | what | label in tables |
|---|---|---|
| `fid` | Fréchet distance of Inception-v3-compat features (canonical weights needed) | FID |
| `kid` | kernel Inception distance, same features | KID |
| `ppl` | StyleGAN2 PPL with LPIPS-VGG16 (canonical weights needed) | PPL |
| `fd_proc` | Fréchet distance of the project's procedural feature network | FD-proc |
| `ppl_proc` | StyleGAN2's PPL protocol with the procedural network's feature distance | PPL-proc |
| `distortion` | distortion, in-block change, locality of single-block resamples | distortion |

FD-proc and PPL-proc are *proxies* for the offline presets, never reported under the canonical names.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .data import open_dataset
from .metrics.distortion import distortion
from .metrics.features import compute_feature_stats, compute_fid, dataset_feature_stats, get_feature_extractor
from .metrics.frechet import kernel_inception_distance
from .metrics.ppl import lpips_distance, perceptual_path_length
from .presets import get_preset
from .serialization import atomic_write

logger = logging.getLogger(__name__)

METRICS = ("fid", "kid", "ppl", "fd_proc", "ppl_proc", "distortion")
LABELS = {"fid": "FID", "kid": "KID", "ppl": "PPL", "fd_proc": "FD-proc", "ppl_proc": "PPL-proc",
          "distortion": "distortion", "in_block": "in-block change", "locality": "locality"}


@dataclass
class EvalSettings:
    """Sample counts and data for an evaluation; defaults from a preset's `eval` table."""

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

    @classmethod
    def from_preset(cls, preset: str | None, **overrides) -> "EvalSettings":
        counts = {k: v for k, v in get_preset(preset).eval.items()}
        return cls(**{**counts, **overrides})

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


def _fd(G, settings: EvalSettings, extractor_name: str) -> float:
    from .metrics import procnet  # noqa: F401 — registers the "procnet" feature extractor

    dataset = open_dataset(settings.dataset, settings.resolution, length=settings.n_fd, seed=settings.dataset_seed)
    key = f"{Path(settings.dataset).name}-seed{settings.dataset_seed}"
    return compute_fid(_generate_fn(G, settings), dataset, settings.n_fd, settings.n_fd, settings.batch_size,
                       get_feature_extractor(extractor_name), settings.stats_cache(), key)


def _kid(G, settings: EvalSettings) -> dict[str, float]:
    extractor = get_feature_extractor("inception-v3-compat")
    dataset = open_dataset(settings.dataset, settings.resolution, length=settings.n_fd, seed=settings.dataset_seed)
    key = f"{Path(settings.dataset).name}-seed{settings.dataset_seed}"
    real = dataset_feature_stats(dataset, extractor, settings.n_fd, settings.batch_size, settings.stats_cache(), key,
                                 keep_features=True)
    fake = compute_feature_stats(_generate_fn(G, settings), extractor, settings.n_fd, settings.batch_size,
                                 keep_features=True)
    mean, std = kernel_inception_distance(fake.features, real.features, subsets=100,
                                          subset_size=min(1000, settings.n_fd))
    return {"kid": mean, "kid_std": std}


def evaluate_generator(G, metrics: list[str], settings: EvalSettings) -> dict[str, Any]:
    """Compute the named metrics for G; returns a flat dict (values, standard errors, counts)."""
    G = G.to(settings.device).eval()
    results: dict[str, Any] = {}
    for name in parse_metrics(metrics):
        logger.info("computing %s", name)
        if name == "fid":
            results["fid"] = _fd(G, settings, "inception-v3-compat")
        elif name == "fd_proc":
            results["fd_proc"] = _fd(G, settings, "procnet")
        elif name == "kid":
            results.update(_kid(G, settings))
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
                                         batch_size=settings.batch_size, generator=_rng(settings), device=settings.device)
            results[name] = out["ppl"]
            results[f"{name}_n"] = out["n_samples"]
        elif name == "distortion":
            if not hasattr(G, "grid"):
                results.update({"distortion": math.nan, "in_block": math.nan, "locality": math.nan})
                continue
            out = distortion(G, settings.n_distortion, batch_size=settings.batch_size, generator=_rng(settings),
                             device=settings.device)
            results.update(out)
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


def evaluate_run(run: str | Path, metrics: list[str], preset: str | None = None, **overrides) -> dict[str, Any]:
    """Evaluate RUN/generator.safetensors against the run's own dataset; writes RUN/eval-<preset>.json."""
    from .serialization import load_generator

    run = Path(run)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory (no config.json)")
    config = json.loads(config_path.read_text())
    preset = preset or config.get("preset")
    settings = EvalSettings.from_preset(preset, dataset=config["dataset"], resolution=config["resolution"],
                                        dataset_seed=config.get("seed", 0), **overrides)
    G = load_generator(run / "generator.safetensors", device=settings.device)
    results = evaluate_generator(G, metrics, settings)
    out = run / f"eval-{preset}.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    payload = {**previous, **results}
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2) + "\n"))
    return results
