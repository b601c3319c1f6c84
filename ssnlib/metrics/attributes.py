"""Attribute coverage: how often images show each class of each procedural attribute (hair style, eye
colour, number of towers, …) as ProcNet's attribute heads classify them, and the total-variation
distance between a generator's frequencies and the real images'. Recall says *how much* of the data's
variety a generator misses; this says *which* part.

    cov = attribute_coverage(fake, real, "face")
    cov["eye_color"]["tv"], cov["eye_color"]["generated"]   # 0 … 1, and the (n_classes,) frequencies
"""

from __future__ import annotations

import numpy as np
import torch

from .procnet import DOMAINS, ProcNet, _check_domain, shipped_procnet


def _check(images: torch.Tensor, name: str) -> None:
    shape = tuple(getattr(images, "shape", ()))
    if not torch.is_tensor(images) or len(shape) != 4 or shape[1] != 3 or shape[0] < 1:
        raise ValueError(f"{name}: expected images (B, 3, H, W) in [-1, 1], got {shape}")


@torch.no_grad()
def attribute_predictions(images: torch.Tensor, domain: str, net: ProcNet | None = None,
                          batch_size: int = 200) -> dict[str, np.ndarray]:
    """ProcNet's class (argmax of its head) for each image and each of the domain's attributes:
    {attribute: (B,) int64}."""
    _check(images, "images")
    _check_domain(domain)
    net = shipped_procnet() if net is None else net
    device = next(net.parameters()).device
    names = list(DOMAINS[domain].ATTRIBUTES)
    chunks: dict[str, list[torch.Tensor]] = {a: [] for a in names}
    for chunk in images.split(batch_size):
        out = net.predict(chunk.to(device).float().clamp(-1, 1))
        for a in names:
            chunks[a].append(out[f"{domain}/{a}"].argmax(1).cpu())
    return {a: torch.cat(c).numpy() for a, c in chunks.items()}


def class_frequencies(predictions: dict[str, np.ndarray], domain: str) -> dict[str, np.ndarray]:
    """{attribute: (n_classes,) float64} fraction of the images in each class."""
    sizes = DOMAINS[_check_domain(domain)].ATTRIBUTES
    return {a: np.bincount(p, minlength=sizes[a]) / len(p) for a, p in predictions.items()}


def attribute_coverage(fake: torch.Tensor, real: torch.Tensor, domain: str, net: ProcNet | None = None,
                       batch_size: int = 200) -> dict[str, dict]:
    """Per attribute of `domain` ("face" / "church"): {"classes": names, "real": (K,), "generated":
    (K,) frequencies, "tv": ½ Σ_k |real_k − generated_k|} (0: the same mix, 1: disjoint)."""
    _check(fake, "fake")
    _check(real, "real")
    net = shipped_procnet() if net is None else net
    return compare_frequencies(class_frequencies(attribute_predictions(real, domain, net, batch_size), domain),
                               class_frequencies(attribute_predictions(fake, domain, net, batch_size), domain), domain)


def compare_frequencies(real_freq: dict[str, np.ndarray], fake_freq: dict[str, np.ndarray],
                        domain: str) -> dict[str, dict]:
    """`attribute_coverage` from class frequencies already computed (`class_frequencies`)."""
    classes = DOMAINS[_check_domain(domain)].CLASS_NAMES
    return {a: {"classes": tuple(classes[a]), "real": real_freq[a], "generated": fake_freq[a],
                "tv": float(0.5 * np.abs(real_freq[a] - fake_freq[a]).sum())} for a in real_freq}
