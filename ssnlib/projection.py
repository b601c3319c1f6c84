"""Projection of an image into an SSN's latent grid, and block resampling of the result.

StyleGAN2's projector (Karras et al. 2020, Appendix D) adapted to a spatial latent: Adam on the
w grid (one w per cell, shared by every layer — or one per layer and cell with `per_layer=True`)
and on the noise inputs, from the mean w, with the learning rate ramped up and cosine-ramped
down, Gaussian noise of decreasing size added to w early on, and the noise maps kept white by
the multi-scale autocorrelation penalty. The distance is a perceptual one plus pixel MSE:
LPIPS-VGG16 when its weights are on this machine, else the procedural feature network's LPIPS-style
distance (`metrics.procnet.proc_perceptual_distance`); `Projection.distance` says which.

A projected image has no z, so its cells are resampled in w: cell a gets w'_a = mapping(z'_a)
with z'_a ~ N(0, I), the prior's w for that cell, in every layer (`resample_projected`); other
cells and the noise inputs are kept. `strength` t ∈ [0, 1] moves only part of the way, w_a ←
(1 − t)·w_a + t·w'_a (t = 1 is a draw from the prior for that cell, t = 0 keeps it).

    projection = project(G, target)                  # target (3, H, W) in [-1, 1]
    image = projection.latent.render(G)
    edited = resample_projected(G, projection.latent, [(1, 2)], generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .blocks import BlockGrid, BlockSpec
from .io.serialization import load_tensors, save_tensors
from .progress import progress_bar

logger = logging.getLogger(__name__)

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ProjectedLatent:
    """N images' place in an SSN: per-layer w grids (N, num_ws, w_dim, gh, gw) and the noise
    inputs (one (N, 1, r, r) map per noise layer). Everything the generator needs to redraw them."""

    ws: torch.Tensor
    noise: list[torch.Tensor]
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.ws.ndim != 5:
            raise ValueError(f"ws must be (N, num_ws, w_dim, gh, gw), got {tuple(self.ws.shape)}")
        # contiguous, as a saved-and-loaded latent is: convolutions and matrix products may sum in
        # another order for another memory layout, and a latent must render the same either way
        self.ws, self.noise = self.ws.contiguous(), [n.contiguous() for n in self.noise]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.ws.shape[3:])

    def check_for(self, G) -> None:
        """Raise a one-line error unless this latent fits generator G."""
        if not hasattr(G, "grid"):
            raise ValueError(f"{type(G).__name__} has no latent grid: projection and block resampling need an SSN")
        expected = (len(self.ws), G.num_ws, G.w_dim, *G.grid)
        if tuple(self.ws.shape) != expected:
            raise ValueError(f"latent ws {tuple(self.ws.shape)} do not fit this generator (expects {expected})")
        resolutions = list(G.synthesis.noise_resolutions())
        if [n.shape[-1] for n in self.noise] != resolutions:
            raise ValueError(f"latent noise maps {[n.shape[-1] for n in self.noise]} do not fit this generator's "
                             f"{resolutions}")

    @torch.no_grad()
    def render(self, G) -> torch.Tensor:
        """The images (N, 3, H, W) in about [-1, 1]."""
        self.check_for(G)
        return G.synthesize(self.ws.to(_device(G)), noise=[n.to(_device(G)) for n in self.noise])

    def save(self, path: str | Path) -> Path:
        tensors = {"ws": self.ws.detach().cpu().contiguous(),
                   **{f"noise.{i}": n.detach().cpu().contiguous() for i, n in enumerate(self.noise)}}
        save_tensors(path, tensors, {"kind": "ssnlib.ProjectedLatent", **self.meta})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "ProjectedLatent":
        tensors, meta = load_tensors(path)
        if meta.get("kind") != "ssnlib.ProjectedLatent" or "ws" not in tensors:
            raise ValueError(f"{path} is not a projected latent (write one with `python -m ssnlib project`)")
        noise = [tensors[f"noise.{i}"] for i in range(sum(k.startswith("noise.") for k in tensors))]
        meta = {k: v for k, v in meta.items() if k != "kind"}
        return cls(tensors["ws"], noise, meta)


@dataclass
class Projection:
    latent: ProjectedLatent
    image: torch.Tensor  # (N, 3, H, W): the reconstructions
    distance: str  # "lpips-vgg16" or "procnet"
    history: list[dict]  # per step: loss, perceptual, mse


def _device(G) -> torch.device:
    return next(G.parameters()).device


def perceptual_distance(device: str | torch.device = "cpu") -> tuple[str, Distance]:
    """(name, distance on [-1, 1] images): LPIPS-VGG16 if its weights are here, else ProcNet's."""
    from .metrics.features import MissingWeightsError, lpips_vgg16
    from .metrics.ppl import lpips_distance

    try:
        return "lpips-vgg16", lpips_distance(lpips_vgg16(device=device, allow_download=False))
    except MissingWeightsError:
        from .metrics.procnet import proc_perceptual_distance, shipped_procnet

        net = shipped_procnet().to(device)
        return "procnet", lambda a, b: proc_perceptual_distance(a, b, net)


def fit_target(image: torch.Tensor, resolution: int) -> tuple[torch.Tensor, str | None]:
    """A (3, H, W) image in [-1, 1] resized to the generator's square resolution (area averaging
    down, bicubic up; a non-square image is centre-cropped first); the note says what was done."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"target must be an RGB image (3, H, W), got shape {tuple(image.shape)}")
    note = None
    h, w = image.shape[1:]
    if h != w:
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        image = image[:, top: top + side, left: left + side]
        note = f"centre-cropped {w}×{h} to {side}×{side}"
    if image.shape[1] != resolution:
        mode = "area" if image.shape[1] > resolution else "bicubic"
        image = F.interpolate(image[None], size=(resolution, resolution), mode=mode,
                              **({} if mode == "area" else {"align_corners": False}))[0].clamp(-1, 1)
        note = (note + ", then " if note else "") + f"resized {side if h != w else h}² to {resolution}² ({mode})"
    return image, note


def noise_regularization(noise: Sequence[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2 projector's penalty: the squared autocorrelation at lag 1 (both axes, wrapping) of
    every noise map, repeated on 2× average-pooled copies down to 8×8 — zero for white noise. Maps
    (N, 1, r, r): one penalty per image, summed (images do not interact)."""
    total = noise[0].new_zeros(())
    for n in noise:
        while True:
            total = total + ((n * n.roll(1, dims=3)).mean((1, 2, 3)).square()
                             + (n * n.roll(1, dims=2)).mean((1, 2, 3)).square()).sum()
            if n.shape[2] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


def w_statistics(G, n: int = 10000, generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """(mean w (w_dim,), RMS distance of w from it) over n prior cells (the SSN's mapping is the
    same per cell, so every cell of every sample counts)."""
    with torch.no_grad():
        cells = max(1, n // (G.grid[0] * G.grid[1]))
        w = G.mapping(G.sample_z(cells, generator)).permute(0, 2, 3, 1).reshape(-1, G.w_dim)
    mean = w.mean(0)
    return mean, float((w - mean).square().sum(1).mean().sqrt())


def project(G, target: torch.Tensor, steps: int = 300, lr: float = 0.1, per_layer: bool = False,
            optimize_noise: bool = True, mse_weight: float = 1.0, noise_weight: float = 1e5,
            initial_w_noise: float = 0.05, w_noise_ramp: float = 0.75, lr_rampdown: float = 0.25,
            lr_rampup: float = 0.05, distance: tuple[str, Distance] | None = None,
            generator: torch.Generator | None = None, progress: bool = True,
            on_step: Callable[[int], None] | None = None) -> Projection:
    """Reconstruct `target` (3, H, W), or N images (N, 3, H, W), in [-1, 1] at G's resolution with
    G's latent grid and noise inputs. Loss per image: perceptual distance + `mse_weight` · pixel MSE
    + `noise_weight` · `noise_regularization`; N images are N independent problems solved at once
    (their losses summed; Adam is per parameter). Seeded by `generator` (the start noise maps and
    the w perturbations); G's weights are not changed. `on_step(step)` is called after every step
    (a progress display)."""
    if not hasattr(G, "grid"):
        raise ValueError(f"{type(G).__name__} has no latent grid: projection into cells needs an SSN")
    target = target[None] if target.ndim == 3 else target
    expected = (3, G.resolution, G.resolution)
    if target.ndim != 4 or tuple(target.shape[1:]) != expected:
        raise ValueError(f"target must be {expected} or (N, {', '.join(map(str, expected))}) (use fit_target to "
                         f"resize), got {tuple(target.shape)}")
    device = _device(G)
    target, n = target.to(device).float(), len(target)
    name, dist = distance or perceptual_distance(device)
    was_training, trainable = G.training, [q.requires_grad for q in G.parameters()]
    G.eval().requires_grad_(False)
    w_mean, w_std = w_statistics(G, generator=generator)
    num_ws = G.num_ws if per_layer else 1
    w = w_mean.to(device)[None, None, :, None, None].expand(n, num_ws, G.w_dim, *G.grid).clone().requires_grad_(True)
    noise = [m.requires_grad_(optimize_noise) for m in G.make_noise(n, generator, device=device)]
    optimizer = torch.optim.Adam([w] + (noise if optimize_noise else []), lr=lr, betas=(0.9, 0.999))
    history = []
    for step in progress_bar(range(steps), desc=f"projecting ({name})", shown=progress, leave=False):
        t = step / max(steps, 1)
        w_noise_scale = w_std * initial_w_noise * max(0.0, 1.0 - t / w_noise_ramp) ** 2
        ramp = min(1.0, (1.0 - t) / lr_rampdown)
        ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / lr_rampup)
        for group in optimizer.param_groups:
            group["lr"] = lr * ramp
        perturbed = w + torch.randn(w.shape, generator=generator, device=w.device if generator is None else
                                    generator.device).to(w.device) * w_noise_scale
        image = G.synthesize(perturbed.expand(n, G.num_ws, *w.shape[2:]), noise=noise)
        perceptual = dist(image, target).sum()
        mse = (image - target).square().mean((1, 2, 3)).sum()
        loss = perceptual + mse_weight * mse + (noise_weight * noise_regularization(noise) if optimize_noise else 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # the noise maps stay zero-mean, unit-variance (the projector's normalisation)
            for m in noise if optimize_noise else ():
                m.sub_(m.mean((1, 2, 3), keepdim=True)).div_(m.square().mean((1, 2, 3), keepdim=True).sqrt())
        history.append({"step": step, "loss": loss.item() / n, "perceptual": perceptual.item() / n,
                        "mse": mse.item() / n})  # per image
        if on_step is not None:
            on_step(step)
    G.train(was_training)
    for q, flag in zip(G.parameters(), trainable):
        q.requires_grad_(flag)
    latent = ProjectedLatent(w.detach().expand(n, G.num_ws, *w.shape[2:]).clone(), [m.detach().clone() for m in noise],
                             {"distance": name, "steps": steps, "per_layer": per_layer})
    reconstruction = latent.render(G)
    latent.meta["psnr"] = [psnr(a, b) for a, b in zip(reconstruction, target)]
    logger.info("projected %d image(s) in %d steps (%s distance): PSNR %s dB", n, steps, name,
                ", ".join(f"{v:.2f}" for v in latent.meta["psnr"]))
    return Projection(latent, reconstruction, name, history)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.float().clamp(-1, 1) - b.float().clamp(-1, 1)).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


@torch.no_grad()
def resample_projected(G, latent: ProjectedLatent, blocks: BlockSpec, strength: float = 1.0,
                       generator: torch.Generator | None = None) -> ProjectedLatent:
    """The latent with the chosen cells' w redrawn from the prior (w'_a = mapping(z'_a), z'_a ~
    N(0, I), in every layer) and moved `strength` of the way there: w_a ← (1 − t)·w_a + t·w'_a.
    Other cells and the noise inputs are kept. `blocks` as for `ssnlib.resample`."""
    latent.check_for(G)
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    mask = BlockGrid(G.grid, G.grid).cell_mask(blocks).to(latent.ws.device)
    z_prior = G.sample_z(len(latent.ws), generator, device=_device(G))
    w_prior = G.mapping(z_prior).to(latent.ws.device)  # (N, w_dim, gh, gw)
    target = latent.ws + strength * (w_prior[:, None] - latent.ws)
    ws = torch.where(mask[None, None, None], target, latent.ws)
    return ProjectedLatent(ws, [n.clone() for n in latent.noise], dict(latent.meta))
