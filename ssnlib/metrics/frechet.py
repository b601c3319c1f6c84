"""Feature statistics and the distances computed from them: Fréchet distance (FID) and KID.

FID (Heusel et al. 2017), the paper's image-quality metric (Tables 1–2) is the Fréchet distance
between Gaussians fitted to feature sets:

    FD = ‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).

KID (Bińkowski et al. 2018) is the unbiased MMD² with the polynomial kernel
k(x, y) = (γ xᵀy + c0)^d, averaged over random subsets, exactly as torch-fidelity computes it.
Everything here is NumPy float64 and works on any feature space (Inception, FD-proc, ...).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

log = logging.getLogger(__name__)

FRECHET_METHODS = ("cholesky", "sqrtm")


class FeatureStats:
    """Running mean and covariance of (N, D) features, accumulated batch by batch in float64.

    Batches are merged with Chan et al.'s pairwise update (no sum-of-squares cancellation), so
    the result equals `np.mean` / `np.cov` on the concatenated features to float64 rounding.
    With `keep_features=True` the raw features are kept too (needed for KID).
    """

    def __init__(self, keep_features: bool = False):
        self.keep_features = keep_features
        self.n = 0
        self.mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # Σ (x − mean)(x − mean)ᵀ
        self._chunks: list[np.ndarray] = []

    @property
    def dim(self) -> int | None:
        return None if self.mean is None else self.mean.shape[0]

    def update(self, features) -> "FeatureStats":
        """Add a (B, D) batch (NumPy array or torch tensor)."""
        x = np.asarray(features.detach().cpu() if hasattr(features, "detach") else features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"features must be a non-empty (B, D) batch, got shape {x.shape}")
        if self.dim is not None and x.shape[1] != self.dim:
            raise ValueError(f"feature dimension changed from {self.dim} to {x.shape[1]}")
        if not np.isfinite(x).all():
            raise ValueError("features contain NaN or inf")
        nb = x.shape[0]
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        if self.n == 0:
            self.mean, self._m2 = mean_b, m2_b
        else:
            n = self.n + nb
            delta = mean_b - self.mean
            self.mean = self.mean + delta * (nb / n)
            self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (self.n * nb / n)
        self.n += nb
        if self.keep_features:
            self._chunks.append(x)
        return self

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance (divides by n − 1, as `np.cov`)."""
        if self.n < 2:
            raise ValueError(f"covariance needs at least 2 samples, have {self.n}")
        return self._m2 / (self.n - 1)

    @property
    def features(self) -> np.ndarray | None:
        """All raw features (N, D), or None when they were not kept."""
        if not self.keep_features or self.n == 0:
            return None
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks, axis=0)]
        return self._chunks[0]

    def save(self, path: str | os.PathLike) -> None:
        """Write to `path` (.npz) atomically: a partial file never replaces a good one."""
        if self.n == 0:
            raise ValueError("refusing to save empty FeatureStats")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"n": np.int64(self.n), "mean": self.mean, "m2": self._m2}
        if self.features is not None:
            arrays["features"] = self.features
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(Path(path), allow_pickle=False) as data:
            missing = {"n", "mean", "m2"} - set(data.files)
            if missing:
                raise ValueError(f"{path} is not a FeatureStats file: missing {sorted(missing)}")
            stats = cls(keep_features="features" in data.files)
            stats.n = int(data["n"])
            stats.mean = data["mean"].astype(np.float64)
            stats._m2 = data["m2"].astype(np.float64)
            if stats.keep_features:
                stats._chunks = [data["features"].astype(np.float64)]
        return stats


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: str = "cholesky",
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    `method="cholesky"` (default) is exact linear algebra without a matrix square root: with a
    pivoted Cholesky factor Σ1 = B Bᵀ (LAPACK `pstrf`, B has rank(Σ1) columns), the eigenvalues
    of Σ1Σ2 are those of the small symmetric PSD matrix Bᵀ Σ2 B, so
    Tr (Σ1Σ2)^{1/2} = Σ √eig(Bᵀ Σ2 B). It is faster than `sqrtm` (≈10× at D = 2048 on a CPU)
    and accurate to float64 rounding when Σ1 is rank-deficient (fewer samples than dimensions),
    where `sqrtm` and the eigenvalues of the non-symmetric Σ1Σ2 lose ~1e-6 relative.
    `method="sqrtm"` is the TTUR / pytorch-fid reference formula: `scipy.linalg.sqrtm(Σ1Σ2)`;
    if that is not finite, retry with `eps·I` added to both covariances; an imaginary part
    larger than 1e-3 on the diagonal is an error, smaller ones are numerical noise and dropped.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {sigma1.shape}, sigma2 {sigma2.shape}"
        )
    if method == "cholesky":
        tr_covmean = _trace_sqrt_product_cholesky(sigma1, sigma2)
    elif method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    else:
        raise ValueError(f"unknown Fréchet method {method!r}; choose one of {FRECHET_METHODS}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _trace_sqrt_product_cholesky(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    factor, piv, rank, info = scipy.linalg.lapack.dpstrf(sigma1, lower=1)
    if info < 0:
        raise ValueError(f"LAPACK dpstrf rejected argument {-info} (is sigma1 a finite covariance matrix?)")
    if rank == 0:
        return 0.0
    b = np.empty((sigma1.shape[0], rank))
    b[piv - 1] = np.tril(factor)[:, :rank]  # Σ1 = B Bᵀ
    inner = b.T @ sigma2 @ b
    lam = scipy.linalg.eigvalsh((inner + inner.T) / 2, driver="evd")
    return float(np.sqrt(np.clip(lam, 0.0, None)).sum())


def _trace_sqrt_product_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        log.warning("sqrtm(Σ1Σ2) is not finite; adding %g to the covariance diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        max_imag = np.max(np.abs(np.diagonal(covmean).imag))
        if max_imag > 1e-3:
            raise ValueError(f"sqrtm(Σ1Σ2) has an imaginary diagonal component of {max_imag:.3g}")
        covmean = covmean.real
    return float(np.trace(covmean))


def fid_from_stats(a: FeatureStats, b: FeatureStats, method: str = "cholesky") -> float:
    """Fréchet distance between two accumulated feature sets."""
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: {a.dim} vs {b.dim}")
    return frechet_distance(a.mean, a.cov, b.mean, b.cov, method=method)


def fid_bootstrap_se(fake: FeatureStats, real: FeatureStats, n_boot: int = 20, seed: int = 0,
                     method: str = "cholesky") -> float:
    """Standard error of the Fréchet distance from the generated side's sampling: the standard
    deviation of the distance over `n_boot` resamples (with replacement) of the generated
    features against the fixed reference statistics. `fake` must have kept its features."""
    features = fake.features
    if features is None:
        raise ValueError("fid_bootstrap_se needs the generated features: accumulate with keep_features=True")
    if n_boot < 2:
        raise ValueError(f"n_boot must be ≥ 2, got {n_boot}")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        sample = features[rng.integers(0, len(features), len(features))]
        values.append(frechet_distance(sample.mean(axis=0), np.cov(sample, rowvar=False), real.mean, real.cov,
                                       method=method))
    return float(np.std(values, ddof=1))


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, gamma: float | None = None, coef0: float = 1.0):
    """k(x, y) = (γ xᵀy + c0)^d with γ = 1/D by default (KID's kernel)."""
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD² of two equal-size samples: diagonals of K_XX, K_YY excluded, K_XY whole."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - np.trace(k_xx)
    sum_yy = k_yy.sum() - np.trace(k_yy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    feats1,
    feats2,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    coef0: float = 1.0,
    gamma: float | None = None,
    seed: int = 2020,
) -> tuple[float, float]:
    """KID: mean and std of the unbiased polynomial-kernel MMD² over `subsets` random subsets.

    Subsets are drawn without replacement with `np.random.RandomState(seed)`, first from
    `feats1` then from `feats2`, like torch-fidelity's `kid_features_to_metric` (whose default
    seed is 2020), so both give the same numbers for the same features and seed.
    """
    f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    if f1.ndim != 2 or f2.ndim != 2 or f1.shape[1] != f2.shape[1]:
        raise ValueError(f"features must be (N, D) with equal D, got {f1.shape} and {f2.shape}")
    if not 2 <= subset_size <= min(len(f1), len(f2)):
        raise ValueError(f"KID subset_size {subset_size} must be in [2, {min(len(f1), len(f2))}] (the smaller set)")
    kernel = functools.partial(polynomial_kernel, degree=degree, gamma=gamma, coef0=coef0)
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        x = f1[rng.choice(len(f1), subset_size, replace=False)]
        y = f2[rng.choice(len(f2), subset_size, replace=False)]
        mmds[i] = mmd2_unbiased(kernel(x, x), kernel(x, y), kernel(y, y))
    return float(mmds.mean()), float(mmds.std())
