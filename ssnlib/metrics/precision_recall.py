"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019) of generated vs real features.

Each set's manifold is the union of balls around its samples with radius the distance to the
sample's k-th nearest neighbour in the same set. Precision: the fraction of generated samples
inside the real manifold (fidelity); recall: the fraction of real samples inside the generated
manifold (coverage). Computed by torch-fidelity's `prc` on whatever features are given — the
offline presets pass ProcNet features (`prc_proc`), never labelled as the Inception-based metric.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3, batch_size: int = 10000) -> dict[str, float]:
    """{"precision", "recall"} of generated features `fake` (N, D) against real features (M, D)."""
    if fake.ndim != 2 or real.ndim != 2 or fake.shape[1] != real.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D) with one D, got {tuple(fake.shape)} and "
                         f"{tuple(real.shape)}")
    if min(fake.shape[0], real.shape[0]) <= k:
        raise ValueError(f"precision/recall with k = {k} needs more than {k} samples per set, "
                         f"got {fake.shape[0]} and {real.shape[0]}")
    out = prc_features_to_metric(fake.double(), real.double(), prc_neighborhood=k, prc_batch_size=batch_size,
                                 save_cpu_ram=True, verbose=False)
    return {"precision": float(out[KEY_METRIC_PRECISION]), "recall": float(out[KEY_METRIC_RECALL])}
