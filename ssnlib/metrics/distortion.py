"""Block metrics of Table 2: distortion, in-block change and locality of single-block resamples.

For many (z, z', a) with a uniform over the blocks, compare x = g(z) and x̃ = g(z̃^a) (z̃_a = z'_a,
other cells kept; the same noise inputs for both), with images in [-1, 1]:

- distortion — mean squared pixel change outside block a (Table 2's column; eq. 2's D),
- in-block change — mean squared pixel change inside block a (how much the resample changes),
- locality — the fraction of the change energy Σ(x̃ − x)² that falls inside block a.

Low distortion alone is trivial (change nothing); the in-block column keeps the trade-off honest.
"""

from __future__ import annotations

import torch

from ..losses import single_block_resample
from ..progress import progress_bar
from .stats import mean_se


@torch.no_grad()
def distortion(
    G,
    n_samples: int,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    truncation_psi: float = 1.0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Distortion, in-block change and locality (each with a standard error) over `n_samples`
    single-block resamples. `G` needs `sample_z(n, generator)`, `.grid`, `.resolution`,
    `make_noise(n, generator)` and `G(z, truncation_psi=…, noise=…)`."""
    if not hasattr(G, "grid"):
        raise ValueError(f"{type(G).__name__} has no latent grid: distortion needs a block-structured latent (an SSN)")
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    outside, inside, locality = [], [], []
    done = 0
    with progress_bar(total=n_samples, desc="distortion", shown=progress, leave=False) as bar:
        while done < n_samples:
            n = min(batch_size, n_samples - done)
            z = G.sample_z(n, generator, device=device)
            x, x_resampled, _, block = single_block_resample(G, z, generator, truncation_psi=truncation_psi)
            change = (x_resampled - x).float().square().mean(1).cpu()  # (n, H, W), mean over RGB
            mask = block[:, 0].cpu()
            energy_in = (change * mask).sum((1, 2))
            energy_all = change.sum((1, 2))
            outside.append((energy_all - energy_in) / (~mask).sum((1, 2)))
            inside.append(energy_in / mask.sum((1, 2)))
            changed = energy_all > 0
            locality.append(energy_in[changed] / energy_all[changed])
            done += n
            bar.update(n)
    result = {}
    for name, values in (("distortion", outside), ("in_block", inside), ("locality", locality)):
        result[name], result[f"{name}_se"] = mean_se(torch.cat(values))
    result["n_samples"] = n_samples
    result["n_unchanged"] = n_samples - sum(v.numel() for v in locality)
    return result
