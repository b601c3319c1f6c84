import numpy as np
import pandas as pd
import pytest
import torch
from conftest import seeded
from matplotlib.patches import Rectangle

from ssnlib import BlockGrid, SSNGenerator
from ssnlib.paper.figures import (
    cell_boxes,
    change_table,
    comparison_figure,
    generate_originals,
    grid_overlay_figure,
    part_cells,
    resample_change_table,
    resample_figure,
    resample_originals,
    samples_figure,
)
from ssnlib.viz import difference_map, to_uint8


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return SSNGenerator(16, (4, 4), z_dim=8, w_dim=8, channel_base=64, channel_max=16, mapping_layers=2).eval()


def _rectangles(ax):
    return sorted((p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches if isinstance(p, Rectangle))


def _heat_images(fig):
    return [ax.images[0] for ax in fig.axes if ax.get_label() == "heatmap"]


def test_resamples_change_only_the_chosen_latent_cells(G):
    originals = generate_originals(G, 3, seed=0)
    res = resample_originals(G, originals, [(1, 1), (1, 2)], n_resamples=2, seed=1)
    assert res.images.shape == (3, 2, 3, 16, 16) and res.z.shape == (3, 2, 8, 4, 4)
    changed = (res.z != originals.z[:, None]).any(2)  # (N, K, gh, gw)
    expected = torch.zeros(4, 4, dtype=torch.bool)
    expected[1, 1:3] = True
    assert torch.equal(changed, expected.expand_as(changed))
    assert res.pixel_masks.shape == (3, 16, 16) and res.pixel_masks[0, 4:8, 4:12].all()
    assert res.pixel_masks[0].sum() == 32
    # deterministic for the seeds; the resample's images are G(z̃) with the originals' noise
    again = resample_originals(G, generate_originals(G, 3, seed=0), [(1, 1), (1, 2)], 2, seed=1)
    assert torch.equal(again.images, res.images)
    with torch.no_grad():
        direct = G(res.z[1, 0:1], noise=[b[1:2] for b in originals.noise])
    assert torch.allclose(direct, res.images[1, 0], atol=1e-6)


def test_per_image_blocks(G):
    originals = generate_originals(G, 2, seed=0)
    res = resample_originals(G, originals, [[(0, 0)], [(3, 3), (3, 2)]], n_resamples=1)
    assert res.cell_masks[0].sum() == 1 and res.cell_masks[0, 0, 0]
    assert res.cell_masks[1].sum() == 2 and res.cell_masks[1, 3, 2:].all()
    with pytest.raises(ValueError, match="3 block selections for 2 images"):
        resample_originals(G, originals, [[(0, 0)], [(1, 1)], [(2, 2)]], 1)


def test_change_table_numbers():
    originals = torch.zeros(1, 3, 4, 4)
    edited = torch.zeros(1, 2, 3, 4, 4)
    edited[0, 0, :, 0, 0] = 1.0  # inside the mask: change 1 at one of 4 pixels
    edited[0, 0, :, 3, 3] = 0.5  # outside: change 0.25 at one of 12 pixels
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2, :2] = True
    table = change_table(originals, edited, mask)
    first, unchanged = table.iloc[0], table.iloc[1]
    assert first.in_block == pytest.approx(1 / 4) and first.distortion == pytest.approx(0.25 / 12)
    assert first.locality == pytest.approx(1 / 1.25)
    assert unchanged.distortion == 0 and np.isnan(unchanged.locality)


def test_resample_change_table_is_change_table_batch_by_batch(G):
    blocks = [(1, 1), (1, 2)]
    table = resample_change_table(G, blocks, n=5, n_resamples=2, seed=3, batch_size=2, progress=False)
    expected = []
    for b, start in enumerate(range(0, 5, 2)):  # batches of 2, 2, 1 with the documented seeds
        originals = generate_originals(G, min(2, 5 - start), seed=40000 + 2 * b)
        resamples = resample_originals(G, originals, blocks, 2, seed=40000 + 2 * b + 1)
        part = change_table(originals.images, resamples.images, resamples.pixel_masks)
        expected.append(part.assign(image=part.image + start))
    expected = pd.concat(expected, ignore_index=True)
    assert len(table) == 10 and table.image.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    np.testing.assert_allclose(table[["distortion", "in_block", "locality"]].to_numpy(),
                               expected[["distortion", "in_block", "locality"]].to_numpy(), rtol=1e-6)
    assert (table.in_block > 0).all()  # the blocks really were redrawn
    with pytest.raises(ValueError, match="at least two originals"):
        resample_change_table(G, blocks, n=1)


def test_cell_boxes():
    grid = BlockGrid((4, 4), (16, 16))
    assert cell_boxes(grid, [(1, 2), (1, 1)]) == [(4, 4, 4, 4), (4, 8, 4, 4)]
    assert cell_boxes(BlockGrid((8, 8), (32, 32)), [(7, 0)]) == [(28, 0, 4, 4)]


def test_resample_figure_layout_outlines_and_shared_scale(G):
    res = resample_originals(G, generate_originals(G, 3), [(1, 1), (1, 2)], n_resamples=2)
    fig = resample_figure(res)
    images = [ax for ax in fig.axes if ax.get_label() == "image"]
    heat = [ax for ax in fig.axes if ax.get_label() == "heatmap"]
    assert len(images) == 3 * (1 + 2) and len(heat) == 3 * 2
    assert len(fig.axes) == 3 * 5 + 1  # + one colour bar
    expected = [(3.5, 3.5, 4, 4), (7.5, 3.5, 4, 4)]  # (x, y, w, h): columns 4–11, rows 4–7
    assert all(_rectangles(ax) == expected for ax in images + heat)
    norms = {(im.norm.vmin, im.norm.vmax) for im in _heat_images(fig)}
    assert len(norms) == 1
    vmax = norms.pop()[1]
    largest = difference_map(res.images.flatten(0, 1), res.originals.images.repeat_interleave(2, 0)).max().item()
    assert vmax == pytest.approx(largest, rel=1e-6)
    # the heat maps show |Δ| averaged over RGB
    shown = _heat_images(fig)[0].get_array()
    assert np.allclose(shown, difference_map(res.images[:1, 0], res.originals.images[:1])[0].numpy(), atol=1e-6)


def test_resample_figure_outside_only_blanks_the_blocks(G):
    res = resample_originals(G, generate_originals(G, 2), [(0, 1), (0, 2)], n_resamples=1)
    fig = resample_figure(res, outside_only=True, heatmaps=True, vmax=0.5)
    heat = _heat_images(fig)
    assert len(heat) == 2 and all(im.norm.vmax == 0.5 for im in heat)
    values = np.ma.filled(heat[0].get_array().astype(float), np.nan)
    assert np.isnan(values[0:4, 4:12]).all() and not np.isnan(values[4:]).any()
    assert all(ax.get_title().startswith("out ") for ax in fig.axes if ax.get_label() == "heatmap")
    no_heat = resample_figure(res, heatmaps=False, n_show=1)
    assert len(no_heat.axes) == 2 and not _heat_images(no_heat)


def test_grid_overlay_marks_the_chosen_cells_in_red():
    grid = BlockGrid((8, 8), (32, 32))
    fig = grid_overlay_figure(torch.zeros(3, 32, 32), grid, [(3, 2), (3, 3)])
    (ax,) = fig.axes
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert _rectangles(ax) == [(7.5, 11.5, 4, 4), (11.5, 11.5, 4, 4)]
    assert all(p.get_edgecolor()[:3] == (1.0, 0.0, 0.0) and p.get_facecolor()[3] > 0 for p in rects)
    assert len(ax.lines) == 7 + 7  # inner grid lines


def test_comparison_figure_rows_columns_and_scale():
    grid = BlockGrid((4, 4), (16, 16))
    original = torch.zeros(3, 16, 16)
    ssn = torch.rand(3, 3, 16, 16, generator=seeded(0)) * 0.2
    fill = torch.zeros(1, 3, 16, 16)
    fill[..., 4:8, 0:4] = 0.8
    fig = comparison_figure(original, {"SSN": ssn, "harmonic": fill}, grid, [(1, 0)])
    heat = _heat_images(fig)
    assert len(heat) == 3 + 1
    assert all(im.norm.vmax == pytest.approx(0.8) and im.norm.vmin == 0 for im in heat)
    images = [ax for ax in fig.axes if ax.get_label() == "image"]
    assert len(images) == 2 + 3 + 1  # two overlays + results
    assert sum(not ax.axison for ax in fig.axes) == 2 * 2  # harmonic's missing result and heat panels
    with pytest.raises(ValueError, match="expected"):
        comparison_figure(original, {"bad": torch.zeros(2, 3, 8, 8)}, grid, [(0, 0)])


class _Segmenter:
    part_names = ("face/background", "face/skin", "face/hair", "face/eyes", "face/glasses", "face/mouth")

    def __init__(self, parts):
        self.parts = parts

    def segment(self, x, domain=None):
        return self.parts


def test_part_cells_finds_the_left_eye_and_falls_back():
    grid = BlockGrid((8, 8), (16, 16))
    parts = torch.ones(2, 16, 16, dtype=torch.long)  # skin everywhere: midline at column 7.5
    parts[0, 6:8, 2:5] = 3  # left eye: covers cell (3, 1) fully, cells (3, 2) half
    parts[0, 6:8, 11:14] = 3  # right eye
    parts[0, 14, 0] = 3  # a stray left pixel: covers cell (7, 0) by a quarter, not part of the eye
    cells, found = part_cells(torch.zeros(2, 3, 16, 16), grid, _Segmenter(parts), min_cover=0.5,
                              fallback=[(3, 2)])
    assert cells[0] == [(3, 1), (3, 2)] and found.tolist() == [True, False]
    low, _ = part_cells(torch.zeros(2, 3, 16, 16), grid, _Segmenter(parts), min_cover=0.25, fallback=[(3, 2)])
    assert low[0] == [(3, 1), (3, 2)]  # (7, 0) passes the cover threshold but is not connected to the eye
    assert cells[1] == [(3, 2)]
    right, _ = part_cells(torch.zeros(2, 3, 16, 16), grid, _Segmenter(parts), side="right", fallback=[(0, 0)])
    assert right[0] == [(3, 5), (3, 6)]
    with pytest.raises(ValueError, match="no face/eyes pixels"):
        part_cells(torch.zeros(2, 3, 16, 16), grid, _Segmenter(parts))


def test_samples_figure_shows_each_row_pixel_exact():
    rows = {"data": torch.rand(3, 3, 8, 8) * 2 - 1, "model": torch.rand(3, 3, 8, 8) * 2 - 1}
    fig = samples_figure(rows)
    axes = [ax for ax in fig.axes if ax.get_label() == "image"]
    assert [ax.get_ylabel() for ax in axes] == ["data", "model"]
    for ax, images in zip(axes, rows.values()):
        shown = ax.get_images()[0].get_array()
        assert shown.shape == (1 + 8 + 1, 1 + 3 * 9, 3)  # one strip of 3 images, 1-px padding
        np.testing.assert_array_equal(shown[1:9, 1 + 9:9 + 9], to_uint8(images)[1])
    with pytest.raises(ValueError, match="same shape"):
        samples_figure({"a": torch.zeros(3, 3, 8, 8), "b": torch.zeros(2, 3, 8, 8)})
    with pytest.raises(ValueError, match="at least one"):
        samples_figure({})
