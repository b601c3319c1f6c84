"""Droplet diagnostic (§3.1, Figure 4): localized blobs of huge activation in generator features.

StyleGAN2 (Karras et al. 2020, §2) traced the "droplet" artifacts of StyleGAN to its
normalization: the generator learns to create one strong, localized spike in its intermediate
feature maps that dominates the per-channel statistics and so sneaks signal past the
normalization. The paper argues SPADE's data-dependent normalization (eq. 3) invites the same
defect, and that spatially modulated convolutions (eq. 1), normalizing by *expected* statistics,
remove it (Figure 4).

We measure it as StyleGAN2 showed it: per synthesis layer and sample, the magnitude map
‖h‖ (L2 norm over channels of the layer's output, after bias + lrelu), and its peak-to-median
ratio max ‖h‖ / median ‖h‖. A flat map gives 1; a droplet — a few pixels with an activation
many times the typical one — gives a large ratio.

    stats = droplet_statistics(G, n=256)            # one row per layer (pandas DataFrame)
    maps = magnitude_maps(G, z, noise=noise)        # {layer name: (N, H, W)} for display

Works with every generator of `ssnlib.networks` (SSN with "smc" or "spade" conditioning, and
StyleGAN2): the layers are the `StyledConv`s `conv0` / `conv1` of `G.synthesis.blocks()`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Iterator, Sequence

import pandas as pd
import torch
from torch import nn

from ..progress import progress_bar

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 10.0  # a peak ten times the median magnitude counts as a droplet


def synthesis_layers(G: nn.Module) -> dict[str, nn.Module]:
    """The generator's synthesis convolutions in forward order, named "b{R}.conv{0,1}"."""
    synthesis = getattr(G, "synthesis", None)
    if synthesis is None or not hasattr(synthesis, "blocks"):
        raise TypeError(f"expected an ssnlib generator with .synthesis.blocks(), got {type(G).__name__}")
    layers = {}
    for block in synthesis.blocks():
        for name in ("conv0", "conv1"):
            if hasattr(block, name):
                layers[f"b{block.resolution}.{name}"] = getattr(block, name)
    return layers


def middle_layer(G: nn.Module) -> str:
    """The last layer at half the output resolution — a mid-resolution layer to display."""
    resolution = G.synthesis.resolution
    return f"b{max(4, resolution // 2)}.conv1"


def _select(G: nn.Module, layers: Sequence[str] | None) -> dict[str, nn.Module]:
    available = synthesis_layers(G)
    if layers is None:
        return available
    unknown = [name for name in layers if name not in available]
    if unknown:
        raise ValueError(f"unknown synthesis layers {unknown}; this generator has {list(available)}")
    return {name: available[name] for name in layers}


@contextlib.contextmanager
def capture_magnitudes(G: nn.Module, layers: Sequence[str] | None = None) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Within the block, every forward pass appends each layer's magnitude map ‖h‖ (N, H, W)
    (L2 norm over channels, float32, on the CPU) to `captured[layer]`. Hooks are removed on exit,
    also after an exception."""
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in _select(G, layers)}
    handles = []

    def hook_for(name: str):
        def hook(module, inputs, output):
            if output.ndim != 4:
                raise ValueError(f"layer {name}: expected a feature map (N, C, H, W), got {tuple(output.shape)}")
            captured[name].append(output.detach().float().norm(dim=1).cpu())
        return hook

    try:
        for name, module in _select(G, layers).items():
            handles.append(module.register_forward_hook(hook_for(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def magnitude_maps(G: nn.Module, z: torch.Tensor, noise: list[torch.Tensor] | None = None,
                   layers: Sequence[str] | None = None, **forward_kwargs) -> dict[str, torch.Tensor]:
    """{layer: (N, H, W)} magnitude maps of one forward pass G(z, noise=noise) — for display
    (a droplet is a bright, localized blob)."""
    with capture_magnitudes(G, layers) as captured:
        G(z, noise=noise, **forward_kwargs)
    return {name: maps[0] for name, maps in captured.items()}


def peak_to_median(maps: torch.Tensor) -> torch.Tensor:
    """max / median of each magnitude map: (N, H, W) → (N,). 1 for a flat map; inf where the
    median is 0. The median is torch.quantile's (the mean of the two middle values for even H·W)."""
    if maps.ndim != 3:
        raise ValueError(f"expected magnitude maps (N, H, W), got shape {tuple(maps.shape)}")
    if (maps < 0).any():
        raise ValueError("magnitude maps must be non-negative")
    flat = maps.flatten(1).double()
    return (flat.amax(1) / flat.quantile(0.5, dim=1)).float()


@torch.no_grad()
def droplet_statistics(
    G: nn.Module,
    n: int,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    layers: Sequence[str] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    """Per synthesis layer, over n samples G(z, noise=fresh noise) drawn in batches of
    `batch_size` (SPADE normalizes with its batch's statistics, so the batch size matters):

    layer, resolution, channels, n, peak_to_median (mean over samples), peak_to_median_se
    (its standard error), peak_to_median_max, droplet_fraction (fraction of samples whose
    ratio exceeds `threshold`).
    """
    if n < 2 or batch_size < 1:
        raise ValueError(f"need n ≥ 2 samples and batch_size ≥ 1, got n={n}, batch_size={batch_size}")
    selected = _select(G, layers)
    G = G.to(device).eval()
    with capture_magnitudes(G, list(selected)) as captured, progress_bar(total=n, unit="img", desc="droplet features",
                                                                         shown=progress, leave=False) as bar:
        done = 0
        while done < n:
            m = min(batch_size, n - done)
            z = G.sample_z(m, generator, device=device)
            G(z, noise=G.make_noise(m, generator, device=device))
            done += m
            bar.update(m)
    rows = []
    for name, module in selected.items():
        maps = torch.cat(captured[name])
        ratio = peak_to_median(maps).double()
        rows.append({
            "layer": name,
            "resolution": maps.shape[-1],
            "channels": module.bias.numel(),
            "n": len(ratio),
            "peak_to_median": ratio.mean().item(),
            "peak_to_median_se": (ratio.std() / math.sqrt(len(ratio))).item(),
            "peak_to_median_max": ratio.max().item(),
            "droplet_fraction": (ratio > threshold).double().mean().item(),
        })
    log.info("droplet statistics over %d samples, %d layers", n, len(rows))
    return pd.DataFrame(rows)
