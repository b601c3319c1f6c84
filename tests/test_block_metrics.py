"""Distortion / in-block change / locality and PPL against known answers."""

import numpy as np
import pytest
import scipy.stats
import torch
from conftest import seeded
from torch import nn

from ssnlib import SSNGenerator, StyleGAN2Generator
from ssnlib.metrics.distortion import distortion
from ssnlib.metrics.ppl import face_crop, filtered_mean, filtered_mean_se, path_length_distances, perceptual_path_length


class CellGenerator(nn.Module):
    """Stand-in SSN: each z cell is mapped linearly to the colour of its own pixel square
    (`local=True`), or every pixel shows the same global mix of all cells (`local=False`)."""

    def __init__(self, grid=(4, 4), resolution=16, z_dim=3, local=True):
        super().__init__()
        self.grid, self.resolution, self.z_dim, self.local = grid, resolution, z_dim, local
        self.colour = nn.Linear(z_dim, 3)
        self.noise_gain = 0.5

    def sample_z(self, n, generator=None, device=None):
        return torch.randn(n, self.z_dim, *self.grid, generator=generator)

    def make_noise(self, n, generator=None, device=None):
        return [torch.randn(n, 1, self.resolution, self.resolution, generator=generator)]

    def forward(self, z, truncation_psi=1.0, noise=None, noise_mode="const"):
        cells = self.colour(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (N, 3, gh, gw)
        if not self.local:
            cells = cells.mean((2, 3), keepdim=True).expand_as(cells)
        size = self.resolution // self.grid[0]
        img = cells.repeat_interleave(size, 2).repeat_interleave(size, 3)
        return img + self.noise_gain * noise[0]


def test_block_local_generator_has_zero_distortion_and_full_locality():
    result = distortion(CellGenerator(), 200, batch_size=64, generator=seeded(0), progress=False)
    assert result["distortion"] == 0.0 and result["distortion_se"] == 0.0
    assert result["locality"] == 1.0
    assert result["in_block"] > 0.1
    assert result["n_unchanged"] == 0


def test_globally_mixing_generator_has_locality_one_over_n_blocks():
    result = distortion(CellGenerator(local=False), 200, batch_size=64, generator=seeded(1), progress=False)
    assert result["locality"] == pytest.approx(1 / 16, abs=1e-6)
    assert result["distortion"] == pytest.approx(result["in_block"], rel=1e-5)  # the change is uniform


def test_distortion_of_a_small_ssn_is_positive_deterministic_and_has_standard_errors():
    G = SSNGenerator(16, grid=(4, 4), z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)
    a = distortion(G, 48, batch_size=16, generator=seeded(2), progress=False)
    b = distortion(G, 48, batch_size=16, generator=seeded(2), progress=False)
    assert a == b
    assert 0 < a["distortion"] and 0 < a["distortion_se"] < a["distortion"]
    assert 1 / 16 < a["locality"] < 1  # untrained, but styles are block-wise: more than uniform


def test_distortion_needs_a_latent_grid():
    with pytest.raises(ValueError, match="latent grid"):
        distortion(StyleGAN2Generator(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8), 4, progress=False)


class LinearImageGenerator(nn.Module):
    """w = z; the image is the scalar ⟨a, w⟩ painted everywhere: PPL has a closed form."""

    def __init__(self, a):
        super().__init__()
        self.a, self.z_dim, self.num_ws = a, a.numel(), 1

    def sample_z(self, n, generator=None, device=None):
        return torch.randn(n, self.z_dim, generator=generator, dtype=torch.float64)

    def mapping(self, z):
        return z

    def broadcast_ws(self, w):
        return w.unsqueeze(1)

    def synthesize(self, ws, noise_mode="const"):
        return (ws[:, 0] @ self.a).reshape(-1, 1, 1, 1).expand(-1, 3, 8, 8)


def test_ppl_of_a_linear_generator_matches_the_truncated_chi_square_mean():
    """d = (⟨a, z1 − z0⟩ε)²/ε² ~ 2‖a‖² χ²₁; keeping the 1st–99th percentiles gives
    2‖a‖² · (F₃(q₉₉) − F₃(q₀₁)) / 0.98, since x·f₁(x) = f₃(x) for chi-square densities."""
    a = torch.tensor([0.6, -0.8, 0.3], dtype=torch.float64)
    G = LinearImageGenerator(a)

    def mse(x, y):
        return (x - y).square().mean((1, 2, 3))

    result = perceptual_path_length(G, mse, 40000, batch_size=4000, generator=seeded(3), progress=False)
    q01, q99 = scipy.stats.chi2.ppf([0.01, 0.99], 1)
    expected = 2 * a.square().sum().item() * (scipy.stats.chi2.cdf(q99, 3) - scipy.stats.chi2.cdf(q01, 3)) / 0.98
    assert result["ppl"] == pytest.approx(expected, rel=0.03)
    full = path_length_distances(G, mse, 2000, sampling="full", batch_size=1000, generator=seeded(4), progress=False)
    end = path_length_distances(G, mse, 2000, sampling="end", batch_size=1000, generator=seeded(4), progress=False)
    np.testing.assert_allclose(full, end, rtol=1e-6)  # a linear generator has no preferred t


def test_ppl_standard_error_matches_the_spread_over_independent_runs():
    """The bootstrap SE of one run ≈ the standard deviation of the PPL over 40 independent runs."""
    rng = np.random.default_rng(0)
    draws = [2 * rng.chisquare(1, 2000) for _ in range(40)]  # the linear generator's distances
    spread = np.std([filtered_mean(d) for d in draws], ddof=1)
    assert filtered_mean_se(draws[0]) == pytest.approx(spread, rel=0.35)
    a = torch.tensor([0.6, -0.8, 0.3], dtype=torch.float64)
    result = perceptual_path_length(LinearImageGenerator(a), lambda x, y: (x - y).square().mean((1, 2, 3)), 500,
                                    batch_size=500, generator=seeded(3), progress=False)
    assert 0 < result["se"] < 0.2 * result["ppl"]


def test_ppl_runs_on_an_ssn_interpolating_the_whole_grid():
    G = SSNGenerator(16, grid=(2, 2), z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2)

    def mse(x, y):
        return (x - y).square().mean((1, 2, 3))

    d = path_length_distances(G, mse, 8, batch_size=4, generator=seeded(5), progress=False)
    assert d.shape == (8,) and (d > 0).all() and np.isfinite(d).all()


def test_percentile_filter_and_face_crop():
    values = np.arange(1, 101, dtype=float)  # 1st percentile (lower) = 1, 99th (higher) = 100 → all kept
    assert filtered_mean(values) == pytest.approx(50.5)
    values = np.concatenate([np.ones(1000), [1e9]])
    assert filtered_mean(values) == 1.0
    assert face_crop(torch.zeros(1, 3, 256, 256)).shape == (1, 3, 128, 128)
    with pytest.raises(ValueError, match="sampling"):
        path_length_distances(None, None, 1, sampling="mid")
