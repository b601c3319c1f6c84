"""Definition 1 (§2) on a generator, with numbers: `sweep` redraws exactly the cells it should, in
a random order per chain; `definition1_sets` reproduces the notebook's original table for a seed,
gives the exact correlations of a generator whose image *is* its latent grid, and
`verdicts.definition1_claims` applies the notebook's rules."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import seeded
from torch import nn

from ssnlib import BlockGrid, SSNGenerator, StyleGAN2Generator, resample_each
from ssnlib.metrics import compute_feature_stats, fid_from_stats
from ssnlib.paper.definition1 import (
    COLUMNS,
    block_grid,
    definition1_sets,
    pixel_corr,
    set_specs,
    sweep,
)
from ssnlib.paper.verdicts import definition1_claims, floor_interval

SMALL = dict(z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2)


def tiny_ssn(grid=(2, 2), noise_strength: float = 0.5) -> SSNGenerator:
    G = SSNGenerator(16, grid=grid, **SMALL)
    for name, p in G.named_parameters():
        if name.endswith("noise.strength"):
            p.data.fill_(noise_strength)  # 0 at init: make the noise inputs matter
    return G.eval()


class CellMeans(nn.Module):
    """A stand-in feature network: the mean colour of each 2×2 quarter of the image (12 features)."""

    def forward(self, x):
        return nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)


class BlockImageGenerator(nn.Module):
    """image = z_gain · (z's first 3 channels, nearest-upsampled: each cell owns its pixel square)
    + noise_gain · noise. Resampling a cell redraws exactly its square, so every correlation of the
    Definition 1 table is known in closed form."""

    def __init__(self, resolution=8, grid=(2, 2), z_gain=1.0, noise_gain=1.0):
        super().__init__()
        self.resolution, self.grid, self.z_gain, self.noise_gain = resolution, tuple(grid), z_gain, noise_gain

    def sample_z(self, n, generator=None, device=None):
        return torch.randn(n, 3, *self.grid, generator=generator)

    def make_noise(self, n, generator=None, device=None):
        return [torch.randn(n, 1, self.resolution, self.resolution, generator=generator)]

    def forward(self, z, noise):
        ch, cw = self.resolution // self.grid[0], self.resolution // self.grid[1]
        return self.z_gain * z.repeat_interleave(ch, 2).repeat_interleave(cw, 3) + self.noise_gain * noise[0]


# --------------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [(2, 2), (4, 4)])
def test_sweep_redraws_exactly_steps_cells_of_every_sample(grid):
    G = tiny_ssn(grid)
    blocks = BlockGrid.for_generator(G)
    nb = blocks.n_blocks
    z = G.sample_z(64, seeded(0))
    before = z.clone()
    for steps in range(nb + 1):
        out = sweep(z, blocks, steps, seeded(steps + 1))
        unchanged = (out == z).all(1)  # (N, gh, gw): the cell is exactly the start's
        changed = (out != z).all(1)  # every channel redrawn
        assert (unchanged | changed).all()
        assert unchanged.sum((1, 2)).tolist() == [nb - steps] * 64
    assert torch.equal(z, before)  # the input is not modified

    full, partial = sweep(z, blocks, nb, seeded(7)), sweep(z, blocks, nb - 1, seeded(7))
    assert not (full == z).all(1).any()  # a full sweep changes every cell of every sample
    kept = (partial == z).all(1).flatten(1)
    assert kept.sum(1).tolist() == [1] * 64  # all but one: exactly one cell of each sample is the start's
    # the same random order per sample: the full sweep's last step is the partial sweep's kept cell
    assert torch.equal(full.flatten(2).permute(0, 2, 1)[~kept], partial.flatten(2).permute(0, 2, 1)[~kept])
    assert len(set(kept.int().argmax(1).tolist())) > 1  # a fresh random order per sample, not one for all


def test_sweep_is_deterministic_and_draws_orders_then_redraws():
    G = tiny_ssn((4, 4))
    blocks = BlockGrid.for_generator(G)
    z = G.sample_z(5, seeded(0))
    a, b = sweep(z, blocks, 3, seeded(11)), sweep(z, blocks, 3, seeded(11))
    assert torch.equal(a, b)
    assert not torch.equal(a, sweep(z, blocks, 3, seeded(12)))
    # the documented RNG order: one randperm per sample, then one resample_each per step
    rng = seeded(11)
    order = torch.stack([torch.randperm(16, generator=rng) for _ in range(5)])
    expected = z
    for t in range(3):
        expected = resample_each(expected, [divmod(int(i), 4) for i in order[:, t]], rng)
    assert torch.equal(a, expected)
    # steps = 0 changes nothing but still draws the orders
    rng = seeded(11)
    assert torch.equal(sweep(z, blocks, 0, rng), z)
    after = seeded(11)
    for _ in range(5):
        torch.randperm(16, generator=after)
    assert torch.equal(torch.randn(3, generator=rng), torch.randn(3, generator=after))


def test_sweep_rejects_bad_input():
    blocks = BlockGrid((2, 2), (16, 16))
    z = torch.zeros(3, 8, 2, 2)
    with pytest.raises(ValueError, match=r"steps must lie in \[0, 4\]"):
        sweep(z, blocks, 5, seeded(0))
    with pytest.raises(ValueError, match=r"steps must lie in \[0, 4\]"):
        sweep(z, blocks, -1, seeded(0))
    with pytest.raises(ValueError, match=r"not a latent grid \(N, z_dim, 2, 2\)"):
        sweep(torch.zeros(3, 8, 4, 4), blocks, 1, seeded(0))
    with pytest.raises(ValueError, match="not a latent grid"):
        sweep(torch.zeros(3, 8), blocks, 1, seeded(0))


def test_pixel_corr_of_known_pairs():
    x = torch.randn(50, 3, 4, 4, generator=seeded(0))
    zero = torch.zeros(3, 4, 4)
    assert pixel_corr(x, x, zero) == pytest.approx((1.0, 0.0), abs=1e-6)
    assert pixel_corr(-x, x, zero) == pytest.approx((-1.0, 0.0), abs=1e-6)
    mean, _ = pixel_corr(x + 5, x + 5, torch.full((3, 4, 4), 5.0))  # the mean image is subtracted
    assert mean == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_corr(x, x[:3], zero)


# --------------------------------------------------------------------------------------------
# definition1_sets
# --------------------------------------------------------------------------------------------


def notebook_reference(G, n, n_floor, batch, extractor, seed, device="cpu"):
    """The notebook's original cells (but for the progress bar and a lambda made a def): the numbers to keep."""
    grid = BlockGrid.for_generator(G)
    rng = torch.Generator().manual_seed(seed)

    def draw(m):
        return G.sample_z(m, rng, device=device), G.make_noise(m, rng, device=device)

    def sweep(z, steps):
        order = torch.stack([torch.randperm(grid.n_blocks, generator=rng) for _ in range(len(z))])
        for t in range(steps):
            z = resample_each(z, [grid.cell(int(a)) for a in order[:, t]], rng)
        return z

    @torch.no_grad()
    def render(z, noise):
        return torch.cat([G(z[i:i + batch], noise=[x[i:i + batch] for x in noise]).cpu()
                          for i in range(0, len(z), batch)])

    def fixed(x):  # one start, repeated n times
        return x[:1].expand_as(x).contiguous()

    z0, noise0 = draw(n)
    z1, noise1 = fixed(z0), [fixed(x) for x in noise0]
    reference = render(*draw(n))
    mean_image = reference.mean(0)
    starts = {"y0": render(z0, noise0), "fixed y0": render(z1, noise1)}
    nb = grid.n_blocks
    specs = [("independent", 0, "fresh")] * n_floor + [("y0", 0, "kept")] + [
        (start, blocks, noise)
        for start in ("y0", "fixed y0") for blocks in (nb, nb - 1) for noise in ("kept", "fresh")]

    def make(start, blocks, noise):
        if start == "independent":
            return render(*draw(n))
        z, kept = (z0, noise0) if start == "y0" else (z1, noise1)
        return render(sweep(z, blocks), kept if noise == "kept" else draw(n)[1])

    def features(images):
        return compute_feature_stats(images.split(batch), extractor, len(images), batch, progress=False)

    def pixel_corr(images, start):
        r = torch.nn.functional.cosine_similarity((images - mean_image).flatten(1), (start - mean_image).flatten(1),
                                                  dim=1)
        return r.mean().item(), r.std().item() / len(r) ** 0.5

    ref_stats = features(reference)
    rows = []
    for k, (start, blocks, noise) in enumerate(specs):
        images = make(start, blocks, noise)
        corr, corr_se = pixel_corr(images, starts["y0" if start == "independent" else start])
        name = f"fresh samples {k + 1}" if start == "independent" else (
            "start samples y0" if blocks == 0 else f"{blocks}/{nb} blocks from {start}, noise {noise}")
        rows.append({"set": name, "start": start, "blocks_resampled": blocks, "noise": noise, "n": len(images),
                     "fd_proc": fid_from_stats(features(images), ref_stats), "pixel_corr": corr,
                     "pixel_corr_se": corr_se})
    return pd.DataFrame(rows)


def test_definition1_sets_rows_columns_and_the_notebooks_numbers():
    G = tiny_ssn((2, 2))
    chains = definition1_sets(G, 5, 2, 3, CellMeans(), seeded(0), progress=False)
    assert list(chains.columns) == list(COLUMNS)
    assert chains.set.tolist() == [
        "fresh samples 1", "fresh samples 2", "start samples y0",
        "4/4 blocks from y0, noise kept", "4/4 blocks from y0, noise fresh",
        "3/4 blocks from y0, noise kept", "3/4 blocks from y0, noise fresh",
        "4/4 blocks from fixed y0, noise kept", "4/4 blocks from fixed y0, noise fresh",
        "3/4 blocks from fixed y0, noise kept", "3/4 blocks from fixed y0, noise fresh"]
    assert chains.start.tolist() == ["independent"] * 2 + ["y0"] * 5 + ["fixed y0"] * 4
    assert chains.blocks_resampled.tolist() == [0, 0, 0, 4, 4, 3, 3, 4, 4, 3, 3]
    assert chains.noise.tolist() == ["fresh", "fresh", "kept"] + ["kept", "fresh"] * 4
    assert chains.n.tolist() == [5] * 11
    assert (chains.fd_proc > 0).all() and chains.pixel_corr.between(-1, 1).all()
    start = chains.set_index("set").loc["start samples y0"]
    assert start.pixel_corr == pytest.approx(1.0, abs=1e-6) and start.pixel_corr_se == pytest.approx(0.0, abs=1e-6)
    # exactly the numbers of the notebook's original code for this seed (same draws, same order)
    pd.testing.assert_frame_equal(chains, notebook_reference(G, 5, 2, 3, CellMeans(), seed=0), check_exact=True)
    # deterministic for a seed, different for another
    pd.testing.assert_frame_equal(chains, definition1_sets(G, 5, 2, 3, CellMeans(), seeded(0), progress=False),
                                  check_exact=True)
    other = definition1_sets(G, 5, 2, 3, CellMeans(), seeded(1), progress=False)
    assert not (other.fd_proc.to_numpy() == chains.fd_proc.to_numpy()).any()


def test_set_specs():
    assert set_specs(4, 2) == [("independent", 0, "fresh"), ("independent", 0, "fresh"), ("y0", 0, "kept"),
                               ("y0", 4, "kept"), ("y0", 4, "fresh"), ("y0", 3, "kept"), ("y0", 3, "fresh"),
                               ("fixed y0", 4, "kept"), ("fixed y0", 4, "fresh"),
                               ("fixed y0", 3, "kept"), ("fixed y0", 3, "fresh")]


def test_definition1_on_a_generator_whose_image_is_its_latent_grid():
    """image = upsampled z + noise (unit variances), 2×2 grid: the correlation with the start is the
    share of the start's variance kept — full sweep 0 (noise redrawn) or ½ (noise kept); all blocks
    but one: ¼·½ = 0.125 (noise redrawn) or (¼ + 1)/2 = 0.625 (kept); the start samples 1."""
    G = BlockImageGenerator(resolution=8, grid=(2, 2), z_gain=1.0, noise_gain=1.0)
    chains = definition1_sets(G, 400, 6, 64, CellMeans(), seeded(0), progress=False)
    corr = chains.set_index(["start", "blocks_resampled", "noise"]).pixel_corr
    expected = {("y0", 0, "kept"): 1.0, ("y0", 4, "fresh"): 0.0, ("y0", 4, "kept"): 0.5,
                ("y0", 3, "fresh"): 0.125, ("y0", 3, "kept"): 0.625, ("fixed y0", 4, "fresh"): 0.0}
    for key, value in expected.items():
        assert corr.loc[key] == pytest.approx(value, abs=0.04), key
    # from one fixed start the shares are that one image's (its z vs noise energy), not the averages
    fixed = corr.loc["fixed y0"]
    assert 0.1 < fixed.loc[(3, "fresh")] < fixed.loc[(4, "kept")] < fixed.loc[(3, "kept")] < 0.9
    fresh = chains[chains.start == "independent"]
    assert fresh.pixel_corr.abs().max() < 0.04
    assert (fresh.pixel_corr.abs() < 4 * fresh.pixel_corr_se).all()
    # FD in cell-mean features: from one start repeated, each chain keeps one of its cells, so a
    # quarter of every cell mean is that start's value — far from fresh samples; a full sweep from
    # it is a fresh sample again
    fd = chains.set_index(["start", "blocks_resampled", "noise"]).fd_proc
    floor = chains[chains.blocks_resampled == 0].fd_proc
    assert floor.max() < 0.5
    assert fd.loc[("fixed y0", 3, "fresh")] > max(2 * floor.max(), floor.mean() + 10 * floor.std())
    assert fd.loc[("fixed y0", 4, "fresh")] < floor.max() + 3 * floor.std()
    verdicts = [c.verdict for c in definition1_claims(chains, 400, 0.0)]
    assert verdicts == ["reproduced", "reproduced"]


def test_a_generator_blind_to_its_latents_is_not_tied_to_its_start():
    """image = noise only: with the noise redrawn, a partial sweep is as fresh as a full one, so the
    second claim (a partial sweep stays tied to its start) is not reproduced."""
    G = BlockImageGenerator(resolution=8, grid=(2, 2), z_gain=0.0, noise_gain=1.0)
    chains = definition1_sets(G, 200, 8, 64, CellMeans(), seeded(0), progress=False)
    partial = chains.set_index(["start", "blocks_resampled", "noise"]).loc[("y0", 3, "fresh")]
    assert abs(partial.pixel_corr) < 3 * partial.pixel_corr_se
    claims = definition1_claims(chains, 200, 0.0)
    assert [c.verdict for c in claims] == ["reproduced", "not reproduced"]


def test_definition1_sets_rejects_bad_input():
    G = tiny_ssn((2, 2))
    with pytest.raises(ValueError, match="block grid.*StyleGAN2Generator"):
        definition1_sets(StyleGAN2Generator(16, **SMALL), 4, 2, 4, CellMeans(), seeded(0), progress=False)
    with pytest.raises(ValueError, match=r"grid \(1, 1\) has 1 block"):
        block_grid(tiny_ssn((1, 1)))
    with pytest.raises(ValueError, match="n \\(images per set\\) must be at least 2"):
        definition1_sets(G, 1, 2, 4, CellMeans(), seeded(0), progress=False)
    with pytest.raises(ValueError, match="n_floor .* at least 2, got 1"):
        definition1_sets(G, 4, 1, 4, CellMeans(), seeded(0), progress=False)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        definition1_sets(G, 4, 2, 0, CellMeans(), seeded(0), progress=False)
    with pytest.raises(TypeError, match="FeatureExtractor"):
        definition1_sets(G, 4, 2, 4, lambda x: x.flatten(1), seeded(0), progress=False)


# --------------------------------------------------------------------------------------------
# definition1_claims
# --------------------------------------------------------------------------------------------


def chains_table(fd: dict, corr: dict, se: float = 0.01, nb: int = 16, n_floor: int = 4) -> pd.DataFrame:
    """A hand-made `definition1_sets` table: floor FD 10.0, 10.1, … (with n_floor = 4 and the start
    samples: mean 10.2, sd ≈ 0.158, 99.73% interval ±7.25 sd = 9.05–11.35), every other value from
    `fd` / `corr` keyed by (start, blocks, noise), else the floor mean and 0."""
    rows = []
    for k, (start, blocks, noise) in enumerate(set_specs(nb, n_floor)):
        key = (start, blocks, noise)
        rows.append({"set": f"set {k}", "start": start, "blocks_resampled": blocks, "noise": noise, "n": 100,
                     "fd_proc": 10.0 + 0.1 * k if blocks == 0 else fd.get(key, 10.2),
                     "pixel_corr": 1.0 if key == ("y0", 0, "kept") else corr.get(key, 0.0), "pixel_corr_se": se})
    return pd.DataFrame(rows)


def test_definition1_claims_reproduced():
    chains = chains_table(fd={("fixed y0", 15, "fresh"): 11.5}, corr={("y0", 15, "fresh"): 0.05})
    full, partial = definition1_claims(chains, 100, 100.0)
    assert (full.verdict, partial.verdict) == ("reproduced", "reproduced")
    assert full.claim == "Resampling every SSN block once in any order gives a fresh sample (Definition 1)"
    floor = ("floor 10.2 ± 0.158 (sd over 5 independent sets: fresh samples and the start samples; "
             "99.73% interval 9.05–11.3, ±7.25 sd)")
    assert floor in full.ours and full.ours.endswith("n = 100, λD = 100")
    assert partial.ours == ("noise redrawn: pixel correlation with the start 0.050 ± 0.010; FD-proc from one fixed "
                            f"start 11.5 vs {floor}; from independent starts 10.2 (the marginal is still the model's)")
    assert partial.reason == ("rule: correlation > 3 se and fixed-start FD-proc above the floor's 99.73% "
                              "prediction interval")
    assert full.source == partial.source == "§2, Definition 1"


@pytest.mark.parametrize("fd, corr, verdicts", [
    # a full sweep from the fixed start beyond the interval (10.2 + 7.25 sd = 11.35): not a fresh sample
    ({("fixed y0", 16, "fresh"): 11.4, ("fixed y0", 15, "fresh"): 11.5}, {("y0", 15, "fresh"): 0.05},
     ("not reproduced", "reproduced")),
    # full sweep still correlated with its start (0.031 ≥ 3 se); partial sweep neither correlated nor farther
    ({}, {("y0", 16, "fresh"): 0.031}, ("not reproduced", "not reproduced")),
    # just within the rules: |corr| < 3 se, FD 4.4 sd above the floor mean (beyond a plain 3 sd, inside the
    # interval a 5-set sd calls for); partial correlated but not farther
    ({("y0", 16, "fresh"): 10.9}, {("y0", 16, "fresh"): -0.029, ("y0", 15, "fresh"): 0.031},
     ("reproduced", "partly")),
    # partial farther from one fixed start, but uncorrelated from independent starts
    ({("fixed y0", 15, "fresh"): 11.5}, {}, ("reproduced", "partly")),
])
def test_definition1_claims_rules(fd, corr, verdicts):
    assert tuple(c.verdict for c in definition1_claims(chains_table(fd, corr), 100, 0.0)) == verdicts


def test_floor_interval_is_the_student_t_prediction_interval():
    floor = pd.Series([10.0, 10.1, 10.2, 10.3, 10.4])
    lo, hi, width = floor_interval(floor)
    assert width == pytest.approx(6.6201 * (1.2 ** 0.5), rel=1e-4)  # t(4) at 0.99865, times √(1 + 1/5)
    assert (lo, hi) == pytest.approx((10.2 - width * floor.std(), 10.2 + width * floor.std()))
    many = pd.Series(np.linspace(10.0, 11.2, 13))
    assert floor_interval(many)[2] == pytest.approx(3.7642 * (1 + 1 / 13) ** 0.5, rel=1e-4)
    # calibrated: over many simulated floors, one more normal draw falls outside about 0.27% of the time
    draws = np.random.default_rng(0).normal(size=(200000, 6))
    floors, new_set = draws[:, :5], draws[:, 5]
    off = np.abs(new_set - floors.mean(1)) / floors.std(1, ddof=1)
    assert 0.0022 < (off > width).mean() < 0.0033
    assert 0.047 < (off > 3).mean() < 0.057  # a plain 3 sd: 5.2% false alarms
    with pytest.raises(ValueError, match="at least 2 floor sets"):
        floor_interval(pd.Series([1.0]))


def test_definition1_claims_rejects_incomplete_tables():
    chains = chains_table({}, {})
    with pytest.raises(ValueError, match=r"lacks the columns \['pixel_corr_se'\]"):
        definition1_claims(chains.drop(columns="pixel_corr_se"), 100, 0.0)
    without = chains[~((chains.start == "fixed y0") & (chains.blocks_resampled == 15) & (chains.noise == "fresh"))]
    with pytest.raises(ValueError, match="start='fixed y0', blocks_resampled=15, noise='fresh'"):
        definition1_claims(without, 100, 0.0)
    with pytest.raises(ValueError, match="1 noise-floor sets"):
        definition1_claims(pd.concat([chains.iloc[[4]], chains[chains.blocks_resampled > 0]]), 100, 0.0)
