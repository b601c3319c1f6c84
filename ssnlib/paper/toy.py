"""The two-pixel example of §2: sequential inpainting vs block resampling, as exact Markov chains.

An image is y = (y0, y1) ∈ {0, 1}², each pixel its own 1×1 block; P is a 2×2 array P[y0, y1].
States are numbered row-major, index = 2·y0 + y1 (the order of `P.flat`); distributions are
length-4 vectors and kernels are row-stochastic 4×4 matrices K[y, y'].

With the paper's P(1,1) = P(0,0) = ½, sequential inpainting from (1,1) never moves
(P(y0 = 1 | y1 = 1) = 1), while resampling the latent blocks of a generator gives an exact fresh
sample after one sweep. Everything is exact: pass `fractions.Fraction` probabilities for
rational arithmetic (object arrays), or floats.

Definition 1 is read conditionally: resampling every block once must give a sample from P
*whatever the starting y⁽⁰⁾* in P's support ("a new independent sample"). The marginal reading —
y⁽⁰⁾ ~ P implies y* ~ P — holds for every P-invariant kernel, inpainting (Gibbs sampling)
included, so it cannot be the intended one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

STATES = ((0, 0), (0, 1), (1, 0), (1, 1))
METHODS = ("inpainting", "block")
_TOL = 1e-12  # float tolerance; Fraction arithmetic is exact and differences are 0


def joint_distribution(p11=0.5, p00=0.5, p01=0, p10=0) -> np.ndarray:
    """P[y0, y1] as a 2×2 array; the defaults are the paper's example."""
    return _check_joint(np.array([[p00, p01], [p10, p11]]))


def _check_joint(P) -> np.ndarray:
    P = np.asarray(P)
    if P.shape != (2, 2):
        raise ValueError(f"P must be a 2×2 array P[y0, y1], got shape {P.shape}")
    if any(p < 0 for p in P.flat) or abs(sum(P.flat) - 1) > _TOL:
        raise ValueError(f"P must be non-negative and sum to 1, got {P.tolist()}")
    return P


def state_index(y: Sequence[int]) -> int:
    y0, y1 = y
    if y0 not in (0, 1) or y1 not in (0, 1):
        raise ValueError(f"a state is a pair of bits (y0, y1), got {tuple(y)}")
    return 2 * y0 + y1


def point_mass(y: Sequence[int], like: np.ndarray) -> np.ndarray:
    """The distribution concentrated on y, with the dtype of `like` (Fraction stays exact)."""
    v = np.zeros(4, dtype=np.asarray(like).dtype)
    v[state_index(y)] = 1
    return v


def _check_block(block: int) -> None:
    if block not in (0, 1):
        raise ValueError(f"block must be 0 (pixel y0) or 1 (pixel y1), got {block}")


def inpainting_kernel(P, block: int) -> np.ndarray:
    """Resample pixel `block` from P(y_block | y_other), the other pixel held fixed (§2).

    Where P(y_other) = 0 the conditional is undefined and the state is kept.
    """
    P = _check_joint(P)
    _check_block(block)
    K = np.zeros((4, 4), dtype=P.dtype)
    for y in STATES:
        s = state_index(y)
        other = y[1 - block]
        cond = [P[u, other] if block == 0 else P[other, u] for u in (0, 1)]
        total = cond[0] + cond[1]
        if total == 0:
            K[s, s] = 1
            continue
        for u in (0, 1):
            y_new = (u, other) if block == 0 else (other, u)
            K[s, state_index(y_new)] += cond[u] / total
    return K


@dataclass(frozen=True)
class BlockLatentGenerator:
    """y = g(z0, z1) with independent latent blocks z0 ~ z_probs[0], z1 ~ z_probs[1] (finite).

    `decode[i, j]` is the image state index of g(i, j). Latent states are numbered i·n1 + j.
    Resampling block a draws a fresh z_a and keeps z_b (§3, with the z̃ typo corrected).
    """

    z_probs: tuple[np.ndarray, np.ndarray]
    decode: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.z_probs[0]), len(self.z_probs[1])

    def prior(self) -> np.ndarray:
        return np.outer(self.z_probs[0], self.z_probs[1]).reshape(-1)

    def emission(self) -> np.ndarray:
        """(n0·n1, 4) 0/1 matrix: latent state → image state."""
        E = np.zeros((self.decode.size, 4), dtype=self.z_probs[0].dtype)
        E[np.arange(self.decode.size), self.decode.reshape(-1)] = 1
        return E

    def resample_kernel(self, block: int) -> np.ndarray:
        """Latent transition of resampling block `block`: z_block fresh, the other kept."""
        _check_block(block)
        n0, n1 = self.shape
        if block == 0:
            return np.kron(np.outer(np.ones(n0, dtype=int), self.z_probs[0]), np.eye(n1, dtype=int))
        return np.kron(np.eye(n0, dtype=int), np.outer(np.ones(n1, dtype=int), self.z_probs[1]))

    def image_distribution(self) -> np.ndarray:
        return self.prior() @ self.emission()

    def posterior(self, y: Sequence[int]) -> np.ndarray | None:
        """P(z | g(z) = y), or None when y has probability 0."""
        joint = self.prior() * self.emission()[:, state_index(y)]
        total = sum(joint)
        return None if total == 0 else joint / total


def block_generator(P) -> BlockLatentGenerator:
    """A generator with independent latent blocks whose output law is exactly P.

    Construction (inverse CDF, autoregressive): z0 ∈ {0, 1} with P(z0 = u) = P(y0 = u) and
    y0 = z0; z1 ~ U[0, 1) and y1 = 1[z1 < t(y0)] with t(u) = P(y1 = 1 | y0 = u). Only the cell of
    [0, 1) cut at {0, t(0), t(1), 1} that z1 falls in matters, so z1 is kept as that finite cell.
    For the paper's P this is z0 ~ Bernoulli(½), a single z1 cell, y = (z0, z0): resampling block
    0 redraws both (perfectly correlated) pixels, resampling block 1 changes nothing. Any
    generator with independent blocks would do for exactness — resampling every block once
    draws a fresh z, hence an exact fresh y in any order (Definition 1); this is one valid
    choice, not a low-distortion one.
    """
    P = _check_joint(P)
    p_y0 = (P[0, 0] + P[0, 1], P[1, 0] + P[1, 1])
    t = [P[u, 1] / p_y0[u] if p_y0[u] > 0 else 0 * P[u, 1] for u in (0, 1)]
    cuts = sorted({0 * P[0, 0], t[0], t[1], 0 * P[0, 0] + 1})
    cells = [(lo, hi) for lo, hi in zip(cuts[:-1], cuts[1:]) if hi > lo]
    z0 = np.array(p_y0, dtype=P.dtype)
    z1 = np.array([hi - lo for lo, hi in cells], dtype=P.dtype)
    decode = np.array([[state_index((u, int(hi <= t[u]))) for _, hi in cells] for u in (0, 1)])
    return BlockLatentGenerator((z0, z1), decode)


def block_resampling_kernel(P, block: int) -> np.ndarray:
    """Image-space kernel P^a(y' | y) of resampling latent block a of `block_generator(P)` (§3).

    Given y, the latent z is drawn from its posterior P(z | g(z) = y), block a is resampled in
    latent space, and the result decoded. States with P(y) = 0 are kept.
    """
    gen = block_generator(P)
    T, E = gen.resample_kernel(block), gen.emission()
    K = np.zeros((4, 4), dtype=gen.z_probs[0].dtype)
    for y in STATES:
        s = state_index(y)
        post = gen.posterior(y)
        if post is None:
            K[s, s] = 1
        else:
            K[s] = post @ T @ E
    return K


def sweep_kernels(P, method: str) -> list[np.ndarray]:
    """The two kernels of one sweep (pixel/block 0, then 1) for "inpainting" or "block"."""
    if method == "inpainting":
        return [inpainting_kernel(P, 0), inpainting_kernel(P, 1)]
    if method == "block":
        return [block_resampling_kernel(P, 0), block_resampling_kernel(P, 1)]
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def run_chain(initial, kernels: Sequence[np.ndarray], steps: int) -> list[np.ndarray]:
    """Distributions after 0, 1, …, steps steps; step t applies kernels[t mod len(kernels)]."""
    dist = np.asarray(initial)
    if not kernels or any(K.shape != (dist.shape[0], dist.shape[0]) for K in kernels):
        raise ValueError(f"need ≥ 1 kernel of shape {(dist.shape[0],) * 2}, got {[K.shape for K in kernels]}")
    out = [dist]
    for t in range(steps):
        dist = dist @ kernels[t % len(kernels)]
        out.append(dist)
    return out


def total_variation(p, q):
    """½ Σ |p − q| (exact for Fraction arrays)."""
    p, q = np.asarray(p).reshape(-1), np.asarray(q).reshape(-1)
    if p.shape != q.shape:
        raise ValueError(f"distributions of different sizes: {p.shape} vs {q.shape}")
    return _plain(sum(abs(a - b) for a, b in zip(p, q)) / 2)


def _plain(x):
    """NumPy float scalars → Python floats (Fractions and ints unchanged), for printing."""
    return float(x) if isinstance(x, np.floating) else x


def is_block_resampling(P, kernels_in_order: Sequence[np.ndarray]) -> bool:
    """Definition 1, conditional reading: from every y⁽⁰⁾ with P(y⁽⁰⁾) > 0, applying the kernels
    in order gives exactly P (rows of the product kernel in P's support equal P)."""
    P = _check_joint(P)
    if not kernels_in_order:
        raise ValueError("need at least one kernel")
    product = functools.reduce(np.matmul, kernels_in_order)
    target = P.reshape(-1)
    return all(
        total_variation(product[s], target) <= _TOL for s in range(4) if target[s] > 0
    )


def sweep_distributions(P, method: str, start: Sequence[int] = (1, 1), sweeps: int = 3) -> list[np.ndarray]:
    """Distribution of y after 0, 1, …, sweeps full sweeps (pixel/block 0 then 1) from `start`."""
    P = _check_joint(P)
    dists = run_chain(point_mass(start, P), sweep_kernels(P, method), 2 * sweeps)
    return dists[::2]


def inpainting_tv_closed_form(P, sweeps: int):
    """TV to P after k ≥ 1 inpainting sweeps, for symmetric P (p00 = p11, p01 = p10).

    Each inpainting update copies the other pixel with probability c = p00 + p11 (flips
    otherwise), so a pixel's bias P(·=1) − ½ shrinks by ρ = 2c − 1 = (p00 + p11) − (p01 + p10)
    per update. After k sweeps y1 has been updated k times and y0 k times, and the joint is
    q(y0)·P(y1 | y0) with q(1) − ½ = ±½ ρ^{2k−1}, hence TV = ½ |ρ|^{2k−1}, from any start.
    The paper's P has ρ = 1: TV stays ½ forever.
    """
    P = _check_joint(P)
    if P[0, 0] != P[1, 1] or P[0, 1] != P[1, 0]:
        raise ValueError(f"the closed form needs a symmetric P (p00 = p11, p01 = p10), got {P.tolist()}")
    if sweeps < 1:
        raise ValueError(f"the closed form holds for sweeps ≥ 1, got {sweeps}")
    rho = abs((P[0, 0] + P[1, 1]) - (P[0, 1] + P[1, 0]))
    return rho ** (2 * sweeps - 1) / 2


def toy_summary(P=None, start: Sequence[int] = (1, 1), sweeps: int = 3) -> list[dict]:
    """One row per sweep: TV to P and probability of still being at `start`, for both chains —
    the numbers the §2 notebook cell prints."""
    P = joint_distribution() if P is None else _check_joint(P)
    inp = sweep_distributions(P, "inpainting", start, sweeps)
    blk = sweep_distributions(P, "block", start, sweeps)
    s = state_index(start)
    return [
        {
            "sweep": k,
            "inpainting_tv": total_variation(inp[k], P),
            "block_tv": total_variation(blk[k], P),
            "inpainting_p_start": _plain(inp[k][s]),
            "block_p_start": _plain(blk[k][s]),
        }
        for k in range(sweeps + 1)
    ]


def chain_steps(targets: dict[str, np.ndarray], sweeps: int, start: Sequence[int] = (1, 1)) -> pd.DataFrame:
    """The §2 notebook's table: for every target P and both methods, the distribution after every
    single-block step from `start` (2·sweeps steps), exact, with its TV to P."""
    rows = []
    for name, P in targets.items():
        for method in METHODS:
            chain = run_chain(point_mass(start, P), sweep_kernels(P, method), 2 * sweeps)
            for step, dist in enumerate(chain):
                rows.append({"p": name, "method": method, "step": step,
                             "updates": "start" if step == 0 else f"block {(step - 1) % 2}",
                             **{f"p{a}{b}": dist[state_index((a, b))] for a, b in STATES},
                             "tv": total_variation(dist, P)})
    return pd.DataFrame(rows)


def sweep_report(targets: dict[str, np.ndarray], sweeps: int) -> str:
    """Per target: the per-sweep summary (`toy_summary`) beside inpainting's closed-form TV, and
    Definition 1 checked exactly for both methods in both block orders — as printed text."""
    lines = []
    for name, P in targets.items():
        summary = pd.DataFrame(toy_summary(P, sweeps=sweeps))
        summary["inpainting_tv_closed_form"] = ["n/a"] + [inpainting_tv_closed_form(P, k) for k in range(1, sweeps + 1)]
        lines.append(f"P = {name}: " + ", ".join(f"P{s} = {P.flat[state_index(s)]}" for s in STATES))
        lines.append(summary.astype(str).to_string(index=False))
        for method in METHODS:
            kernels = sweep_kernels(P, method)
            lines.append(f"  {method}: block-resampling (Definition 1)? order 0→1: {is_block_resampling(P, kernels)}, "
                         f"order 1→0: {is_block_resampling(P, kernels[::-1])}")
        lines.append("")
    return "\n".join(lines)
