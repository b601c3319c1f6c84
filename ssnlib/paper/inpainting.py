"""Inpainting baselines for Figure 8: fill a masked region while keeping every other pixel exactly.

The paper's contrast (§1, §4.1, Figure 8): inpainting samples the masked pixels given the rest,
which stays *exactly* fixed — so resampling the left eye can never change the right one (case B,
glasses across the face), whereas low-distortion block-resampling may make the small changes
elsewhere that global consistency needs. Two baselines, both exact outside the mask:

- `harmonic_fill` — classical: each channel solves Laplace's equation Δu = 0 inside the hole with
  the known pixels as Dirichlet boundary values (a membrane / diffusion fill, scipy.sparse).
- `latent_inpaint` — generative: optimise the generator's whole latent grid z so that g(z) matches
  the known pixels (pixel loss + Gaussian prior on z), from several random starts for diversity,
  then paste the known pixels back.

Masks are boolean, True where pixels are *unknown* (to be filled), as `BlockGrid.pixel_mask`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.linalg
import torch

from ..metrics.stats import mean_se
from ..progress import progress_bar

logger = logging.getLogger(__name__)


def _batch_masks(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Check (N, C, H, W) images and a (H, W) or (N, H, W) boolean mask; return (N, H, W)."""
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    mask = torch.as_tensor(mask)
    if mask.dtype != torch.bool:
        raise ValueError(f"the hole mask must be boolean (True = unknown), got dtype {mask.dtype}")
    n, _, h, w = images.shape
    if mask.ndim == 2 and tuple(mask.shape) == (h, w):
        mask = mask.expand(n, h, w)
    if tuple(mask.shape) != (n, h, w):
        raise ValueError(f"hole mask of shape {tuple(mask.shape)} does not match images {tuple(images.shape)}: "
                         f"expected ({h}, {w}) or ({n}, {h}, {w})")
    if mask.flatten(1).all(1).any():
        raise ValueError("a hole mask covers the whole image: inpainting needs some known pixels")
    return mask.to(images.device)


def paste_known(filled: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`target` outside the hole, `filled` inside: (N, C, H, W) each, mask (H, W) or (N, H, W)."""
    if filled.shape != target.shape:
        raise ValueError(f"filled {tuple(filled.shape)} and target {tuple(target.shape)} shapes differ")
    mask = _batch_masks(target, mask)
    return torch.where(mask[:, None], filled.to(target.dtype), target)


# ------------------------------------------------------------------ classical: harmonic fill


def _laplace_system(mask: np.ndarray) -> tuple[scipy.sparse.csc_matrix, np.ndarray, np.ndarray, np.ndarray]:
    """The 4-neighbour graph Laplacian restricted to the hole: A u = B k, u = hole pixels, k = known
    pixels. Neighbours outside the image are left out (a Neumann image border)."""
    h, w = mask.shape
    hole = np.flatnonzero(mask)
    known = np.flatnonzero(~mask)
    index = np.full(h * w, -1)
    index[hole] = np.arange(hole.size)
    known_index = np.full(h * w, -1)
    known_index[known] = np.arange(known.size)
    rows, cols = np.divmod(hole, w)
    degree = np.zeros(hole.size)
    a_r, a_c, b_r, b_c = [], [], [], []
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        degree += inside
        me, flat = np.flatnonzero(inside), (r * w + c)[inside]
        unknown = mask.ravel()[flat]
        a_r.append(me[unknown]), a_c.append(index[flat[unknown]])
        b_r.append(me[~unknown]), b_c.append(known_index[flat[~unknown]])
    a_r, a_c, b_r, b_c = (np.concatenate(v) for v in (a_r, a_c, b_r, b_c))
    A = scipy.sparse.csc_matrix(
        (np.concatenate([degree, -np.ones(a_r.size)]), (np.concatenate([np.arange(hole.size), a_r]),
                                                        np.concatenate([np.arange(hole.size), a_c]))),
        shape=(hole.size, hole.size))
    B = scipy.sparse.csr_matrix((np.ones(b_r.size), (b_r, b_c)), shape=(hole.size, known.size))
    return A, B, hole, known


def harmonic_fill(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the hole of each image (N, C, H, W) with the harmonic interpolant of its boundary:
    Δu = 0 inside (discrete 4-neighbour Laplacian), u = the image on the known pixels. Harmonic
    (e.g. linear) images are recovered exactly; known pixels are returned bit-identical."""
    masks = _batch_masks(images, mask).cpu().numpy()
    x = images.detach().cpu().double().numpy()
    out = images.detach().cpu().clone().contiguous()
    systems: dict[bytes, tuple] = {}
    for i, m in enumerate(masks):
        if not m.any():
            continue
        key = np.packbits(m).tobytes()
        if key not in systems:
            A, B, hole, known = _laplace_system(m)
            systems[key] = (scipy.sparse.linalg.splu(A), B, hole, known)
        lu, B, hole, known = systems[key]
        flat = x[i].reshape(x.shape[1], -1)
        u = lu.solve(np.ascontiguousarray((B @ flat[:, known].T)))  # (n_hole, C)
        filled = out[i].reshape(x.shape[1], -1)
        filled[:, torch.from_numpy(hole)] = torch.from_numpy(u.T).to(out.dtype)
    return out.to(images.device)


# ------------------------------------------------------------------ generative: latent optimisation


@dataclass
class LatentInpainting:
    """Result of `latent_inpaint` for N targets × R restarts (index [n, r])."""

    images: torch.Tensor  # (N, R, 3, H, W): generated inside the hole, the target outside (exact)
    generated: torch.Tensor  # (N, R, 3, H, W): g(z*) before pasting
    z: torch.Tensor  # (N, R, *latent_shape): the optimised latents
    outside_mse_start: torch.Tensor  # (N, R): mean squared error on the known pixels at the start
    outside_mse_end: torch.Tensor  # (N, R): the same after optimisation (before pasting)


def latent_inpaint(
    G,
    target: torch.Tensor,
    mask: torch.Tensor,
    restarts: int = 3,
    steps: int = 200,
    lr: float = 0.1,
    prior_weight: float = 0.1,
    noise: list[torch.Tensor] | None = None,
    truncation_psi: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> LatentInpainting:
    """GAN inpainting with the same generator: for each target (N, 3, H, W) and each of `restarts`
    random starts z₀ ~ N(0, I), minimise

        mean_{known pixels} (g(z) − target)²  +  prior_weight · mean_cells (mean_channels z² − 1)²

    over the whole latent (grid) z with Adam; then paste the known pixels back, so the result
    equals the target exactly outside the hole (mask True = unknown). The prior keeps every cell
    on the shell where N(0, I) puts its mass (the mapping network's pixel norm makes g depend on
    each cell's direction only, so this is the part of −log N(z) that matters for the optimiser).
    Diversity comes from the random starts. `noise`: the generator's noise inputs for the N
    targets (e.g. those that made them), shared by the restarts; None draws fresh noise from
    `generator`. The generator's weights are not changed.
    """
    masks = _batch_masks(target, mask)
    if restarts < 1 or steps < 0:
        raise ValueError(f"restarts must be ≥ 1 and steps ≥ 0, got restarts={restarts}, steps={steps}")
    n, device = target.shape[0], target.device
    if target.shape[1:] != (3, G.resolution, G.resolution):
        raise ValueError(f"targets of shape {tuple(target.shape)} do not match the generator's images "
                         f"(3, {G.resolution}, {G.resolution})")
    if noise is None:
        noise = G.make_noise(n, generator, device=device)
    if any(b.shape[0] != n for b in noise):
        raise ValueError(f"noise inputs for {[b.shape[0] for b in noise]} images, expected {n} (one per target)")
    noise = [b.repeat_interleave(restarts, 0) for b in noise]
    goal = target.detach().repeat_interleave(restarts, 0)
    known = (~masks).repeat_interleave(restarts, 0)[:, None].to(goal.dtype)  # (N·R, 1, H, W)
    n_known = known.sum((1, 2, 3)) * goal.shape[1]
    z = G.sample_z(n * restarts, generator, device=device).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    requires_grad = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)

    def outside_mse(image: torch.Tensor) -> torch.Tensor:
        return ((image - goal).square() * known).sum((1, 2, 3)) / n_known

    try:
        with torch.no_grad():
            start = outside_mse(G(z, truncation_psi=truncation_psi, noise=noise))
        for _ in progress_bar(range(steps), desc="latent inpainting", shown=progress, leave=False):
            data = outside_mse(G(z, truncation_psi=truncation_psi, noise=noise))
            prior = (z.square().mean(1) - 1).square().reshape(len(z), -1).mean(1)  # per sample, over cells
            loss = (data + prior_weight * prior).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            generated = G(z, truncation_psi=truncation_psi, noise=noise)
            end = outside_mse(generated)
    finally:
        for p, flag in zip(G.parameters(), requires_grad):
            p.requires_grad_(flag)
    pasted = paste_known(generated, goal, masks.repeat_interleave(restarts, 0))
    shape = (n, restarts)
    logger.info("latent inpainting: known-pixel MSE %.4g → %.4g (mean over %d starts)",
                start.mean().item(), end.mean().item(), n * restarts)
    return LatentInpainting(pasted.reshape(*shape, *pasted.shape[1:]), generated.reshape(*shape, *generated.shape[1:]),
                            z.detach().reshape(*shape, *z.shape[1:]), start.reshape(shape), end.reshape(shape))


# ------------------------------------------------------------------ Figure 8 in numbers


@torch.no_grad()
def consistency_comparison(originals: torch.Tensor, edits: dict[str, torch.Tensor], masks: torch.Tensor,
                           net=None) -> pd.DataFrame:
    """Figure 8 over many faces: for each method's edits (N, K, 3, H, W) of the originals (N, 3, H, W)
    inside the hole masks (N, H, W) — SSN resamples, inpainting baselines — the rates of
    `metrics.consistency.face_consistency` ("consistent", "eye_colour_match", "glasses_consistent",
    "eyes_detected"), the distortion (mean squared change outside the mask) and in-block change,
    and `other_eye_change`: the mean squared change on the original's eye pixels outside the mask
    (the right eye when the left one is resampled; exactly 0 for any inpainting). A first row
    "original" gives the unedited images' rates. Values are means over images of the per-image
    mean over its K edits; `*_se` their standard errors over images."""
    from ..metrics.consistency import face_consistency
    from ..metrics.procnet import shipped_procnet

    net = shipped_procnet() if net is None else net
    masks = _batch_masks(originals, masks).cpu()
    n = originals.shape[0]
    eyes = net.segment(originals, domain="face").cpu() == net.part_names.index("face/eyes")
    other_eye = eyes & ~masks
    rows = []
    for name, images in {"original": originals[:, None], **edits}.items():
        if images.ndim != 5 or images.shape[0] != n or images.shape[2:] != originals.shape[1:]:
            raise ValueError(f"{name}: edits of shape {tuple(images.shape)}, expected (N={n}, K, "
                             f"{', '.join(map(str, originals.shape[1:]))})")
        k = images.shape[1]
        result = face_consistency(images.flatten(0, 1).cpu(), net)
        change = (images.cpu().double() - originals.cpu().double()[:, None]).square().mean(2)  # (N, K, H, W)
        outside, eye = (~masks)[:, None].expand_as(change), other_eye[:, None].expand_as(change)
        per_image = {flag: result["per_image"][flag].reshape(n, k).mean(1).astype(float)
                     for flag in ("consistent", "eye_colour_match", "glasses_consistent", "eyes_detected")}
        per_image["distortion"] = ((change * outside).sum((2, 3)) / outside.sum((2, 3))).mean(1).numpy()
        inside = (~outside).sum((2, 3))
        per_image["in_block"] = ((change * ~outside).sum((2, 3)) / inside).mean(1).numpy()
        eye_pixels = eye.sum((2, 3))
        eye_change = (change * eye).sum((2, 3)) / eye_pixels.clamp_min(1)
        per_image["other_eye_change"] = torch.where(eye_pixels > 0, eye_change, torch.nan).mean(1).numpy()
        row = {"method": name, "n_images": n, "edits_per_image": k}
        for key, values in per_image.items():
            row[key], row[f"{key}_se"] = mean_se(values)
        rows.append(row)
    return pd.DataFrame(rows)
