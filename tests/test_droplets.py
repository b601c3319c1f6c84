"""Droplet diagnostic (Figure 4): peak-to-median ratios and the forward hooks that feed them."""

import math

import pytest
import torch
from conftest import seeded

from ssnlib import SSNGenerator, StyleGAN2Generator
from ssnlib.metrics import droplets

SMALL = dict(resolution=16, z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=1)
LAYERS = ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1"]


def generators():
    return {
        "smc": SSNGenerator(grid=(4, 4), conditioning="smc", **SMALL).eval(),
        "spade": SSNGenerator(grid=(4, 4), conditioning="spade", **SMALL).eval(),
        "stylegan2": StyleGAN2Generator(**SMALL).eval(),
    }


def test_peak_to_median_of_constructed_maps():
    flat = torch.full((1, 8, 8), 3.0)
    assert droplets.peak_to_median(flat).tolist() == [1.0]
    spike = flat.clone()
    spike[0, 2, 5] = 3.0 * 40  # one pixel 40× the rest: the median is still 3
    assert droplets.peak_to_median(spike).item() == pytest.approx(40.0)
    ramp = torch.arange(1.0, 5.0).reshape(1, 2, 2)  # median of 1, 2, 3, 4 is 2.5
    assert droplets.peak_to_median(torch.cat([ramp, 2 * ramp])).tolist() == pytest.approx([1.6, 1.6])
    assert math.isinf(droplets.peak_to_median(torch.tensor([[[0.0, 0.0], [0.0, 1.0]]])).item())


def test_peak_to_median_rejects_bad_maps():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        droplets.peak_to_median(torch.ones(8, 8))
    with pytest.raises(ValueError, match="non-negative"):
        droplets.peak_to_median(-torch.ones(1, 2, 2))


def test_magnitude_map_is_channel_norm_of_layer_output():
    G = generators()["smc"]
    z, noise = G.sample_z(2, seeded(0)), G.make_noise(2, seeded(1))
    seen = {}
    handle = G.synthesis.b8.conv1.register_forward_hook(lambda m, i, o: seen.setdefault("out", o.detach()))
    maps = droplets.magnitude_maps(G, z, noise=noise, layers=["b8.conv1"])
    handle.remove()
    assert list(maps) == ["b8.conv1"]
    torch.testing.assert_close(maps["b8.conv1"], seen["out"].square().sum(1).sqrt())


@pytest.mark.parametrize("kind", ["smc", "spade", "stylegan2"])
def test_hooks_capture_every_layer_and_are_removed(kind):
    G = generators()[kind]
    assert list(droplets.synthesis_layers(G)) == LAYERS
    z, noise = G.sample_z(3, seeded(0)), G.make_noise(3, seeded(1))
    maps = droplets.magnitude_maps(G, z, noise=noise)
    assert {name: tuple(m.shape) for name, m in maps.items()} == {
        "b4.conv1": (3, 4, 4), "b8.conv0": (3, 8, 8), "b8.conv1": (3, 8, 8),
        "b16.conv0": (3, 16, 16), "b16.conv1": (3, 16, 16)}
    assert all((m >= 0).all() for m in maps.values())
    assert all(not module._forward_hooks for module in G.modules())
    with torch.no_grad():  # the hooks did not change the output
        torch.testing.assert_close(G(z, noise=noise), G(z, noise=noise))


def test_hooks_removed_after_an_exception():
    G = generators()["smc"]
    with pytest.raises(RuntimeError, match="boom"):
        with droplets.capture_magnitudes(G):
            assert sum(len(m._forward_hooks) for m in G.modules()) == len(LAYERS)
            raise RuntimeError("boom")
    assert all(not module._forward_hooks for module in G.modules())


def test_unknown_layer_is_named():
    with pytest.raises(ValueError, match="b32.conv1"):
        droplets.magnitude_maps(generators()["smc"], torch.zeros(1, 8, 4, 4), layers=["b32.conv1"])
    with pytest.raises(TypeError, match="synthesis"):
        droplets.synthesis_layers(torch.nn.Linear(2, 2))


def test_droplet_statistics_rows_and_determinism():
    G = generators()["spade"]
    table = droplets.droplet_statistics(G, n=10, batch_size=4, generator=seeded(3), progress=False)
    assert table["layer"].tolist() == LAYERS
    assert table["resolution"].tolist() == [4, 8, 8, 16, 16]
    assert table["channels"].tolist() == [8, 8, 8, 4, 4]  # min(64 / R, 8)
    assert table["n"].tolist() == [10] * 5
    assert (table["peak_to_median"] >= 1).all() and (table["peak_to_median_max"] >= table["peak_to_median"]).all()
    assert (table["peak_to_median_se"] > 0).all()
    assert all(not module._forward_hooks for module in G.modules())
    again = droplets.droplet_statistics(G, n=10, batch_size=4, generator=seeded(3), progress=False)
    assert again.equals(table)
    # threshold: 0 counts every sample, +inf none
    everything = droplets.droplet_statistics(G, n=4, batch_size=4, generator=seeded(3), threshold=0, progress=False)
    nothing = droplets.droplet_statistics(G, n=4, batch_size=4, generator=seeded(3), threshold=math.inf,
                                          progress=False)
    assert everything["droplet_fraction"].tolist() == [1.0] * 5 and nothing["droplet_fraction"].tolist() == [0.0] * 5


def test_planted_droplet_is_detected():
    """A layer whose output has one hot pixel shows a large ratio and counts as a droplet there."""
    G = generators()["smc"]
    layer = G.synthesis.b16.conv1

    def plant(module, inputs, output):
        output = output.clone()
        output[:, :, 3, 7] += 1000.0
        return output

    handle = layer.register_forward_hook(plant)
    try:
        table = droplets.droplet_statistics(G, n=4, batch_size=2, generator=seeded(0), progress=False)
    finally:
        handle.remove()
    by_layer = table.set_index("layer")
    assert by_layer.loc["b16.conv1", "droplet_fraction"] == 1.0
    assert by_layer.loc["b16.conv1", "peak_to_median"] > 100
    assert by_layer.loc["b8.conv1", "peak_to_median"] < droplets.DEFAULT_THRESHOLD


def test_middle_layer():
    assert droplets.middle_layer(generators()["smc"]) == "b8.conv1"
    assert droplets.middle_layer(SSNGenerator(resolution=32, **{k: v for k, v in SMALL.items() if k != "resolution"})) \
        == "b16.conv1"
