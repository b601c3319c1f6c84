"""Adversarial losses and regularizers: StyleGAN2's (R1, path length, style mixing), the
distortion regularizer R_D (eq. 2, §3.3) and the low-distortion path length (Appendix B, eq. 15).

Every function returns the *unweighted* term: loss weights (γ/2 for R1, 2 for path length, λD
for R_D), lazy intervals and batch shrinking are the training loop's. A term evaluated lazily
every k steps is added with weight k × its weight, as in StyleGAN2.

Randomness comes from an optional `torch.Generator`; with a seeded one every function here is
deterministic. The order of draws is documented per function (tests rely on it).
"""

from __future__ import annotations

import math
from typing import Callable, Union

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import BlockGrid, resample_each

DistanceFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _draw_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    return generator.device if generator is not None else device


def _randn(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    x = torch.randn(shape, generator=generator, device=_draw_device(generator, like.device))
    return x.to(device=like.device, dtype=like.dtype)


def _randint(low: int, high: int, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    x = torch.randint(low, high, (n,), generator=generator, device=_draw_device(generator, device))
    return x.to(device)


def _check_logits(logits: torch.Tensor, name: str) -> None:
    if logits.ndim not in (1, 2) or (logits.ndim == 2 and logits.shape[1] != 1):
        raise ValueError(f"{name} must have shape (N,) or (N, 1), got {tuple(logits.shape)}")


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic loss of the generator: E[softplus(−D(G(z)))]."""
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic loss of the discriminator: E[softplus(D(G(z)))] + E[softplus(−D(x))]."""
    _check_logits(real_logits, "real_logits")
    _check_logits(fake_logits, "fake_logits")
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def r1_penalty(real_images: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """R1: E_x ‖∇_x D(x)‖² (summed over C, H, W; mean over the batch), differentiable.

    `real_images` must require grad and `real_logits` be D(real_images). The caller applies γ/2
    (paper weight: 1, §3.2) and the lazy interval.
    """
    if real_images.ndim != 4:
        raise ValueError(f"real_images must be (N, C, H, W), got {tuple(real_images.shape)}")
    if not real_images.requires_grad:
        raise ValueError("real_images must require grad (call .requires_grad_() before the discriminator)")
    _check_logits(real_logits, "real_logits")
    if real_logits.shape[0] != real_images.shape[0]:
        raise ValueError(f"{real_logits.shape[0]} logits for {real_images.shape[0]} images")
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.square().sum((1, 2, 3)).mean()


def _check_ws(G, ws: torch.Tensor) -> None:
    if ws.ndim < 3 or ws.shape[1] != G.num_ws:
        raise ValueError(f"ws must be (N, num_ws={G.num_ws}, w_dim[, gh, gw]), got {tuple(ws.shape)}")
    if not ws.requires_grad:
        raise ValueError("ws must require grad: the path length is a gradient with respect to ws")


class PathLengthRegularizer(nn.Module):
    """StyleGAN2 path length regularization ([18], paper weight 2, §3.2), in W.

    lengths = ‖J_wᵀ y‖ with y ~ N(0, I)/√(HW) on the image, the squared gradient summed over
    w_dim (and, for an SSN, over every grid cell: the perturbation is of the whole w grid) and
    averaged over the num_ws layer inputs. `pl_mean` tracks E[lengths] by
    pl_mean ← lerp(pl_mean, mean(lengths), decay); penalty = mean((lengths − pl_mean)²) with the
    freshly updated pl_mean, through which gradient flows as in NVlabs' implementation (only the
    stored buffer is detached). Batch shrinking, the weight and the lazy interval are the caller's.
    """

    def __init__(self, decay: float = 0.01):
        super().__init__()
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must lie in (0, 1], got {decay}")
        self.decay = decay
        self.register_buffer("pl_mean", torch.zeros([]))

    def forward(self, G, ws: torch.Tensor, noise: list[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """ws (N, num_ws, w_dim[, gh, gw]) requiring grad → (penalty, lengths (N,)).

        Draws, in order, from `generator`: the noise inputs (only if `noise` is None:
        `G.make_noise`, fresh noise as StyleGAN2's PL pass), then y.
        """
        _check_ws(G, ws)
        if noise is None:
            noise = G.make_noise(ws.shape[0], generator)
        img = G.synthesize(ws, noise=noise)
        y = _randn(img.shape, generator, img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().flatten(2).sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.to(lengths.dtype).lerp(lengths.mean(), self.decay)
        self.pl_mean.copy_(pl_mean.detach())
        return (lengths - pl_mean).square().mean(), lengths


def _check_grid_ws(G, ws: torch.Tensor) -> None:
    _check_ws(G, ws)
    if ws.ndim != 5 or tuple(ws.shape[3:]) != tuple(G.grid):
        raise ValueError(f"ws must be an SSN w grid (N, num_ws, w_dim, {G.grid[0]}, {G.grid[1]}), "
                         f"got {tuple(ws.shape)}")


class LowDistortionPathLength(nn.Module):
    """Low-distortion path length (Appendix B, eq. 15); a drop-in for `PathLengthRegularizer` (SSN only).

    With J_{ba} = ∂g_b/∂w_a (image block b, w grid cell a), y ~ N(0, I) on the image pixels and
    y_b = y restricted to block b / √(pixels per block):
        g_a = ‖J_{aa}ᵀ y_a‖² → γ+,   g_ab = ‖J_{ba}ᵀ y_b‖² → γ−   (b ≠ a).
    Per sample: a uniform, b uniform among the n − 1 others;
        penalty = mean_samples[(g_a − γ+)² + (n − 1)(g_ab − γ−)²],
    whose expectation is (1/n)·eq. 15 (`scale="mean_a"`): the (n − 1) factor makes the single b
    an unbiased estimate of eq. 15's Σ_{b≠a}, and the uniform a replaces Σ_a by its mean.
    `scale="eq15"` multiplies by n: an unbiased estimate of eq. 15 itself, both sums kept, the
    scale the paper's weights 2…200000 are on if they weigh eq. 15 as written.

    Why w_a for z_a: the mapping acts on each cell alone (1×1 convolutions, §3.2), so
    ∂w_b/∂z_a = 0 for b ≠ a and ∂g/∂z_a = (∂g/∂w_a)(∂w_a/∂z_a): which image blocks a latent block
    reaches is the same in W, and [18]'s path length is measured in W too. w_a feeds every
    layer, so ∂g/∂w_a sums the gradients of all num_ws layer inputs at cell a.

    With γ+ = γ− = γ, eq. 15 is Σ_a Σ_b (‖J_{ba}ᵀ y_b‖² − γ)²: [18]'s path length applied per
    (latent block, image block) pair — every sub-Jacobian J_{ba} pushed to the same squared
    length γ for every random direction — rather than to the whole Jᵀy. At its zero,
    E_y‖(∂g/∂w_a)ᵀ y‖² with y ~ N(0, I)/√(HW) over the whole image (the cross terms between
    blocks vanish in expectation) equals mean_b γ = γ for every a: [18]'s condition, with a
    fixed target instead of the running `pl_mean` and squared lengths instead of lengths.
    """

    def __init__(self, gamma_plus: float = 1.0, gamma_minus: float = 0.1, scale: str = "mean_a"):
        super().__init__()
        if scale not in EQ15_SCALES:
            raise ValueError(f"scale must be one of {EQ15_SCALES}, got {scale!r}")
        self.gamma_plus, self.gamma_minus, self.scale = float(gamma_plus), float(gamma_minus), scale

    def block_norms(self, G, ws: torch.Tensor, a: torch.Tensor, b: torch.Tensor, y: torch.Tensor,
                    noise: list[torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(g_a, g_ab), each (N,), for given row-major blocks a, b (N,) — b = a allowed, then
        g_ab = g_a — and image noise y ~ N(0, I), unnormalized: for exact enumerations."""
        _check_grid_ws(G, ws)
        n_blocks = G.grid[0] * G.grid[1]
        for name, block in (("a", a), ("b", b)):
            if block.shape != (ws.shape[0],) or not 0 <= int(block.min()) <= int(block.max()) < n_blocks:
                raise ValueError(f"{name} must be ({ws.shape[0]},) block indices in [0, {n_blocks}), got {block!r}")
        img = G.synthesize(ws, noise=noise)
        if y.shape != img.shape:
            raise ValueError(f"y must have the image's shape {tuple(img.shape)}, got {tuple(y.shape)}")
        return self._norms(G, ws, img, a, b, y)

    def forward(self, G, ws: torch.Tensor, noise: list[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """ws (N, num_ws, w_dim, gh, gw) requiring grad → (penalty, {"g_a", "g_ab"} batch means, detached).

        Draws, in order, from `generator`: a, the offset b − a mod n, the noise inputs (only if
        `noise` is None: `G.make_noise`), then y.
        """
        _check_grid_ws(G, ws)
        n, n_blocks = ws.shape[0], G.grid[0] * G.grid[1]
        if n_blocks < 2:
            raise ValueError(f"eq. 15 needs at least two blocks, the grid {tuple(G.grid)} has one")
        a = _randint(0, n_blocks, n, generator, ws.device)
        b = (a + _randint(1, n_blocks, n, generator, ws.device)) % n_blocks
        if noise is None:
            noise = G.make_noise(n, generator)
        img = G.synthesize(ws, noise=noise)
        g_a, g_ab = self._norms(G, ws, img, a, b, _randn(img.shape, generator, img))
        penalty = ((g_a - self.gamma_plus).square() + (n_blocks - 1) * (g_ab - self.gamma_minus).square()).mean()
        if self.scale == "eq15":
            penalty = penalty * n_blocks
        return penalty, {"g_a": g_a.detach().mean(), "g_ab": g_ab.detach().mean()}

    @staticmethod
    def _norms(G, ws, img, a, b, y) -> tuple[torch.Tensor, torch.Tensor]:
        grid = BlockGrid.for_generator(G)
        if img.shape[0] != ws.shape[0] or tuple(img.shape[2:]) != grid.image_size:
            raise ValueError(f"G.synthesize gave images {tuple(img.shape)}, expected "
                             f"(N={ws.shape[0]}, C, {grid.image_size[0]}, {grid.image_size[1]})")
        y = y / math.sqrt(grid.cell_size[0] * grid.cell_size[1])
        cell = a[:, None, None].expand(-1, ws.shape[2], 1)  # gather index into (N, w_dim, gh·gw)
        norms = []
        for block in (a, b):
            y_block = y * grid.block_masks(block)
            (grad,) = torch.autograd.grad((img * y_block).sum(), ws, create_graph=True, retain_graph=True)
            grad_a = grad.sum(1).flatten(2).gather(2, cell).squeeze(2)  # (N, w_dim): ∂g/∂w_a over all layers
            norms.append(grad_a.square().sum(1))
        return norms[0], norms[1]


def single_block_resample(G, z: torch.Tensor, generator: torch.Generator | None = None,
                          blocks: torch.Tensor | None = None, noise: list[torch.Tensor] | None = None,
                          images: torch.Tensor | None = None, truncation_psi: float = 1.0,
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pair that eq. 2's regularizer and Table 2's block metrics compare: per sample one block a
    (uniform over the grid unless `blocks`, row-major indices (N,), is given), z̃ = z with cell a
    redrawn from the prior, the same noise inputs for both, x = G(z) and x̃ = G(z̃).

    `images`: x already computed (reused; needs the `noise` it was made with). Draws, in order, from
    `generator`: the blocks (unless given), z'_a (`resample_each`), the noise (unless given).
    Returns (x, x̃, a, the (N, 1, H, W) masks of block a)."""
    grid = BlockGrid.for_generator(G)
    if z.ndim != 4 or tuple(z.shape[2:]) != grid.grid:
        raise ValueError(f"z must be a latent grid (N, z_dim, {grid.grid[0]}, {grid.grid[1]}), got {tuple(z.shape)}")
    if images is not None and noise is None:
        raise ValueError("images were passed without the noise inputs they were generated with; pass noise=")
    n = z.shape[0]
    if blocks is None:
        blocks = _randint(0, grid.n_blocks, n, generator, z.device)
    elif blocks.shape != (n,) or not 0 <= int(blocks.min()) <= int(blocks.max()) < grid.n_blocks:
        raise ValueError(f"blocks must be (N={n},) indices in [0, {grid.n_blocks}), got {blocks!r}")
    z_resampled = resample_each(z, [grid.cell(int(i)) for i in blocks], generator)
    if noise is None:
        noise = G.make_noise(n, generator, device=z.device)
    if images is None:  # both in one pass of 2N (G is per sample): fewer, larger kernels
        both = G(torch.cat([z, z_resampled]), truncation_psi=truncation_psi, noise=[torch.cat([x, x]) for x in noise])
        images, resampled = both.chunk(2)
    else:
        resampled = G(z_resampled, truncation_psi=truncation_psi, noise=noise)
    expected = (n, images.shape[1], *grid.image_size)
    if tuple(images.shape) != expected:
        raise ValueError(f"images must have shape {expected}, got {tuple(images.shape)}")
    return images, resampled, blocks, grid.block_masks(blocks.to(images.device))


def masked_mse(img: torch.Tensor, img_resampled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample squared difference averaged over channels and the pixels where the boolean
    `mask` (N, 1, H, W) is True. The default distance with the outside-of-block mask: Table 2's
    distortion scale for images in [-1, 1]."""
    sq = (img - img_resampled).square() * mask
    return sq.sum((1, 2, 3)) / (mask.sum((1, 2, 3)) * img.shape[1])


DISTORTION_SCALES = ("per_pixel", "eq2")
EQ15_SCALES = ("mean_a", "eq15")


class DistortionRegularizer(nn.Module):
    """Distortion regularizer R_D (eq. 2, §3.3), one extra generator pass per sample.

    Per sample: block a uniform, z̃ = z with cell a redrawn (z̃_a = z'_a, z̃_b = z_b — eq. 2's
    intent; §3's text has it reversed, see `ssnlib.blocks`), the *same* noise inputs for g(z)
    and g(z̃), R_D = mean_samples distance(g(z), g(z̃), outside mask of a). Gradient flows
    through both images. With the default pixel MSE, averaging over the pixels outside a equals
    averaging the per-block MSE over the n − 1 blocks b ≠ a, so E[R_D] = eq. 2 / (n(n − 1)).

    `distance`: "mse" (`masked_mse`) or any callable (img, img_resampled, outside (N, 1, H, W)
    bool) → (N,), e.g. a feature-space distance (§6). The loss term is λD·R_D (paper λD = 100 on
    its scale, Figure 5); evaluated lazily every k steps, add k·λD·R_D.

    `scale` says which of eq. 2's sums R_D keeps (the weight λD means something else under each):
    - "per_pixel": the mean over the pixels outside a; E[R_D] = eq. 2 / (n(n − 1)) with D the
      per-block mean squared change.
    - "eq2": Σ_{b≠a} of the per-block mean squared change for the one a drawn per sample —
      (n − 1) × "per_pixel", as the n − 1 other blocks have equal areas; E[R_D] = eq. 2 / n. The
      sum over b is eq. 2's literally; the sum over a is replaced by one uniform draw, as any
      one-extra-pass estimator must, so its 1/n stays.
    """

    def __init__(self, distance: Union[str, DistanceFn] = "mse", scale: str = "per_pixel"):
        super().__init__()
        if scale not in DISTORTION_SCALES:
            raise ValueError(f"scale must be one of {DISTORTION_SCALES}, got {scale!r}")
        self.scale = scale
        if distance == "mse":
            self.distance = masked_mse
        elif callable(distance):
            self.distance = distance
        else:
            raise ValueError(f"distance must be 'mse' or a callable (img, img_resampled, outside) → (N,), "
                             f"got {distance!r}")

    def forward(self, G, z: torch.Tensor, images: torch.Tensor | None = None,
                noise: list[torch.Tensor] | None = None, generator: torch.Generator | None = None,
                blocks: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """z (N, z_dim, gh, gw) → (R_D, {"distortion", "in_block"} detached).

        `images`: G(z, noise=noise) already computed in the generator step (reused; needs the
        `noise` it was made with). `blocks`: row-major block index per sample (N,) instead of a
        uniform draw. Draws, in order, from `generator`: the blocks (unless given), z' (in
        `resample_each`), the noise inputs (only if `noise` is None: `G.make_noise`).
        """
        images, resampled, _, inside = single_block_resample(G, z, generator, blocks, noise, images)
        distances = self.distance(images, resampled, ~inside)
        if distances.shape != (z.shape[0],):
            raise ValueError(f"distance must return one value per sample, shape ({z.shape[0]},); got "
                             f"{tuple(distances.shape)}")
        r_d = distances.mean() * (BlockGrid.for_generator(G).n_blocks - 1 if self.scale == "eq2" else 1)
        with torch.no_grad():
            in_block = masked_mse(images, resampled, inside).mean()
        return r_d, {"distortion": r_d.detach(), "in_block": in_block}


def mix_styles(G, z: torch.Tensor, prob: float, generator: torch.Generator | None = None,
               update_w_avg: bool = False) -> tuple[torch.Tensor, bool]:
    """Style mixing regularization (StyleGAN2, as NVlabs): → (ws (N, num_ws, …) for
    `G.synthesize`, mixed).

    With probability `prob` one cutoff c uniform in [1, num_ws) for the batch and a second latent
    z2: ws[:, c:] = w(z2) (for an SSN the whole w grids). `update_w_avg` is passed to the mapping
    of z only, never of z2. Draws, in order, from `generator` (none if prob = 0): the coin, then
    c and z2 if mixing.
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"style mixing probability must lie in [0, 1], got {prob}")
    ws = G.broadcast_ws(G.mapping(z, update_w_avg=update_w_avg))
    if prob == 0 or float(torch.rand([], generator=generator, device=_draw_device(generator, z.device))) >= prob:
        return ws, False
    cutoff = int(_randint(1, G.num_ws, 1, generator, z.device))
    ws2 = G.broadcast_ws(G.mapping(G.sample_z(z.shape[0], generator)))
    return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], 1), True
