"""Block resampling: exactly the chosen cells change, every accepted selection form, strength
keeps the N(0, I) marginal, Definition 1 (resampling every block gives a fresh sample)."""

import math

import pytest
import torch
from conftest import seeded

from ssnlib import BlockGrid, SSNGenerator, resample, resample_each


def changed_cells(z, z2):
    return (z != z2).any(1)  # (N, gh, gw)


def test_resample_changes_exactly_the_chosen_cells():
    z = torch.randn(3, 8, 4, 4)
    z2 = resample(z, [(1, 1), (1, 2)], seeded(11))  # not seed 0: z itself came from global seed 0
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[1, 1] = expected[1, 2] = True
    assert torch.equal(changed_cells(z, z2), expected.expand(3, 4, 4))
    assert torch.equal(z2[:, :, ~expected], z[:, :, ~expected])  # bitwise untouched


def test_selection_forms_agree():
    z = torch.randn(2, 4, 4, 4)
    grid_mask = torch.zeros(4, 4, dtype=torch.bool)
    grid_mask[0, 3] = grid_mask[2, 0] = True
    pixel_mask = torch.zeros(32, 32, dtype=torch.bool)
    pixel_mask[3, 30] = True  # one pixel inside cell (0, 3)
    pixel_mask[16:24, 0:8] = True  # exactly cell (2, 0)
    from_list = resample(z, [(0, 3), (2, 0)], seeded(1))
    from_grid = resample(z, grid_mask, seeded(1))
    from_pixels = resample(z, pixel_mask, seeded(1))
    assert torch.equal(from_list, from_grid) and torch.equal(from_list, from_pixels)


@pytest.mark.parametrize("blocks, message", [
    ([(4, 0)], "outside"),
    ([(0, -1)], "outside"),
    ([], "empty"),
    (torch.zeros(4, 4, dtype=torch.bool), "empty"),
    (torch.zeros(3, 3, dtype=torch.bool), "shape"),
    (torch.zeros(4, 4), "boolean"),
    ([(1, 2, 3)], "pairs"),
])
def test_invalid_selections_raise_value_errors_naming_the_problem(blocks, message):
    with pytest.raises(ValueError, match=message):
        resample(torch.randn(1, 4, 4, 4), blocks)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_strength_outside_unit_interval_is_rejected(strength):
    with pytest.raises(ValueError, match="strength"):
        resample(torch.randn(1, 4, 4, 4), [(0, 0)], strength=strength)


def test_resample_rejects_non_grid_latents():
    with pytest.raises(ValueError, match="latent grid"):
        resample(torch.randn(2, 512), [(0, 0)])


@pytest.mark.parametrize("strength", [0.0, 0.3, 0.5, 1.0])
def test_strength_mixing_keeps_the_standard_normal_marginal(strength):
    z = torch.randn(20000, 1, 2, 2, generator=seeded(2))
    z2 = resample(z, [(0, 0)], seeded(3), strength=strength)
    a, b = z[:, 0, 0, 0], z2[:, 0, 0, 0]
    assert b.mean().abs() < 0.03 and b.var().item() == pytest.approx(1.0, abs=0.04)
    # the correlation with the old value is cos(πt/2)
    corr = torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    assert corr == pytest.approx(math.cos(math.pi * strength / 2), abs=0.03)


def test_zero_strength_changes_nothing():
    z = torch.randn(2, 4, 4, 4)
    assert torch.equal(resample(z, [(0, 0)], strength=0.0), z)


def test_resample_each_changes_one_cell_per_sample():
    z = torch.randn(3, 4, 2, 2)
    z2 = resample_each(z, [(0, 0), (1, 1), (0, 1)], seeded(4))
    changed = changed_cells(z, z2)
    assert changed.sum().item() == 3
    assert changed[0, 0, 0] and changed[1, 1, 1] and changed[2, 0, 1]
    with pytest.raises(ValueError, match="one cell per sample"):
        resample_each(z, [(0, 0)])


def test_definition_1_sequential_resampling_of_all_blocks_gives_an_independent_sample():
    """Definition 1: start at z⁽⁰⁾, resample the cells one by one in a random order; the end
    point must be independent of the start and distributed as N(0, I)."""
    n = 20000
    start = torch.randn(n, 2, 2, 2, generator=seeded(5))
    z = start
    order = torch.randperm(4, generator=seeded(6)).tolist()
    g = seeded(7)
    for a in order:
        z = resample(z, [divmod(a, 2)], g)
    flat_start, flat_end = start.reshape(n, -1), z.reshape(n, -1)
    cross = (flat_start - flat_start.mean(0)).T @ (flat_end - flat_end.mean(0)) / n
    assert cross.abs().max() < 0.04  # 4σ for 20000 samples is 0.028; all 64 entries
    assert flat_end.mean(0).abs().max() < 0.04
    assert (flat_end.var(0) - 1).abs().max() < 0.05
    # while resampling all but one cell keeps that cell exactly: a partial sweep is not a resample
    partial = start
    for a in order[:-1]:
        partial = resample(partial, [divmod(a, 2)], g)
    kept = divmod(order[-1], 2)
    assert torch.equal(partial[:, :, kept[0], kept[1]], start[:, :, kept[0], kept[1]])


def test_block_grid_maps_cells_to_pixels():
    grid = BlockGrid((4, 4), (64, 64))
    assert grid.n_blocks == 16 and grid.cell_size == (16, 16)
    rows, cols = grid.pixel_box((1, 2))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (16, 32, 32, 48)
    assert grid.index((1, 2)) == 6 and grid.cell(6) == (1, 2)
    mask = grid.pixel_mask([(1, 2)])
    assert mask.sum().item() == 256 and mask[16:32, 32:48].all()
    assert torch.equal(grid.cells_of(mask), grid.cell_mask([(1, 2)]))
    rect = BlockGrid((2, 4), (32, 64))
    assert rect.cell_size == (16, 16)
    with pytest.raises(ValueError, match="divide"):
        BlockGrid((3, 3), (32, 32))
    with pytest.raises(ValueError, match="out of range"):
        grid.cell(16)
    with pytest.raises(ValueError, match="does not match"):
        grid.cells_of(torch.zeros(32, 32, dtype=torch.bool))


def test_resampling_a_block_leaves_an_untrained_ssn_image_mostly_unchanged_far_away():
    """Sanity on the architecture: with nearest-resized styles and 3×3 convs, a resampled cell's
    influence is largest inside its own pixel square even before any training."""
    G = SSNGenerator(32, grid=(4, 4), z_dim=32, w_dim=32, channel_base=256, channel_max=32)
    z = G.sample_z(16, seeded(8))
    with torch.no_grad():
        x0, x1 = G(z), G(resample(z, [(1, 1)], seeded(9)))
    change = (x1 - x0).square().mean((0, 1))
    inside = BlockGrid((4, 4), (32, 32)).pixel_mask([(1, 1)])
    assert change[inside].mean() > 3 * change[~inside].mean()
