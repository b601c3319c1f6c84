"""Perceptual path length as StyleGAN2 defines it (W space, end-point sampling, ε = 1e-4).

For pairs of latents, w_t = lerp(w(z0), w(z1), t) with t = 0 (end-point sampling) or t ~ U(0, 1)
("full"), d = D(g(w_t), g(w_{t+ε})) / ε², keeping the values between the 1st and 99th
percentiles and averaging them. D is LPIPS-VGG16 for the canonical metric ("PPL"); with another
distance (e.g. the procedural feature network's) the result is a proxy and must be labelled as such.
For an SSN the whole w grid is interpolated (every cell with the same t).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..progress import progress_bar

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def face_crop(images: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's FFHQ crop for PPL: rows 3/8–7/8, columns 2/8–6/8 of the image."""
    c = images.shape[2] // 8
    return images[:, :, c * 3: c * 7, c * 2: c * 6]


def filtered_mean(distances: np.ndarray) -> float:
    """Mean of the values between the 1st (lower) and 99th (higher) percentiles, as StyleGAN2."""
    lo = np.percentile(distances, 1, method="lower")
    hi = np.percentile(distances, 99, method="higher")
    return float(distances[(distances >= lo) & (distances <= hi)].mean())


@torch.no_grad()
def path_length_distances(
    G,
    distance: Distance,
    n_samples: int,
    epsilon: float = 1e-4,
    sampling: str = "end",
    crop: bool = False,
    batch_size: int = 32,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> np.ndarray:
    """The `n_samples` scaled distances D(g(w_t), g(w_{t+ε})) / ε² (before percentile filtering)."""
    if sampling not in ("end", "full"):
        raise ValueError(f"sampling must be 'end' or 'full', got {sampling!r}")
    out, done = [], 0
    with progress_bar(total=n_samples, desc="path length", shown=progress, leave=False) as bar:
        while done < n_samples:
            n = min(batch_size, n_samples - done)
            w0 = G.mapping(G.sample_z(n, generator, device=device))
            w1 = G.mapping(G.sample_z(n, generator, device=device))
            t = torch.rand(n, generator=generator, device=generator.device if generator else "cpu").to(w0)
            t = t * (1.0 if sampling == "full" else 0.0)
            t = t.reshape(-1, *([1] * (w0.ndim - 1)))
            wt0, wt1 = w0.lerp(w1, t), w0.lerp(w1, t + epsilon)
            images = G.synthesize(G.broadcast_ws(torch.cat([wt0, wt1])), noise_mode="const")
            if crop:
                images = face_crop(images)
            a, b = images.chunk(2)
            out.append((distance(a, b).double() / epsilon**2).cpu().numpy())
            done += n
            bar.update(n)
    return np.concatenate(out)


def filtered_mean_se(distances: np.ndarray, n_boot: int = 200, seed: int = 0) -> float:
    """Bootstrap standard error of `filtered_mean` (the percentile filter is redone per resample)."""
    rng = np.random.default_rng(seed)
    values = [filtered_mean(distances[rng.integers(0, len(distances), len(distances))]) for _ in range(n_boot)]
    return float(np.std(values, ddof=1))


def perceptual_path_length(G, distance: Distance, n_samples: int, **kwargs) -> dict[str, float]:
    """StyleGAN2's PPL protocol with the given distance: {"ppl", "se", "n_samples", "median"}
    (`se`: bootstrap standard error of the filtered mean)."""
    d = path_length_distances(G, distance, n_samples, **kwargs)
    return {"ppl": filtered_mean(d), "se": filtered_mean_se(d), "median": float(np.median(d)), "n_samples": n_samples}


def lpips_distance(lpips_module) -> Distance:
    """Adapt torch-fidelity's LPIPS-VGG16 (inputs RGB in [0, 255]) to images in [-1, 1], feeding
    unquantised floats (x + 1)·127.5 and downsampling > 256 px images to 256 by box averaging, as
    StyleGAN2's metric does."""

    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        factor = a.shape[2] // 256
        if factor > 1:
            a, b = (x.reshape(x.shape[0], 3, x.shape[2] // factor, factor, x.shape[3] // factor, factor).mean((3, 5))
                    for x in (a, b))
        return lpips_module((a + 1) * 127.5, (b + 1) * 127.5).reshape(-1)

    return distance
