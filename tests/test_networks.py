"""Generators and discriminator: parameter counts of the reference implementations, transfer
equivalence (SSN with a constant grid == StyleGAN2), shapes, noise, truncation, gradients."""

import pytest
import torch
from conftest import seeded

from ssnlib import Discriminator, SSNGenerator, StyleGAN2Generator
from ssnlib.io.serialization import load_generator, save_generator
from ssnlib.layers import SPADE
from ssnlib.networks import MinibatchStdLayer

SMALL = dict(z_dim=32, w_dim=32, channel_base=256, channel_max=32)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("channel_base, expected", [(16384, 24_767_458), (32768, 30_034_338)])
def test_stylegan2_parameter_count_matches_reference(channel_base, expected):
    assert n_params(StyleGAN2Generator(256, channel_base=channel_base)) == expected


def test_ssn_adds_no_parameters_without_refinement():
    assert n_params(SSNGenerator(256)) == 24_767_458
    refined = SSNGenerator(32, refine=True, **SMALL)
    assert n_params(refined) - n_params(SSNGenerator(32, **SMALL)) == refined.num_ws * (32 * 32 * 9 + 32)


def constant_grid(z, grid):
    return z[:, :, None, None].expand(-1, -1, *grid).contiguous()


@pytest.mark.parametrize("resolution", [32, 64])
def test_transferred_ssn_with_constant_grid_equals_stylegan2(resolution):
    """§3.4 transfer: the SSN fed every cell the same z reproduces the StyleGAN2 image."""
    sg2 = StyleGAN2Generator(resolution)
    ssn = SSNGenerator.from_stylegan2(sg2, grid=(4, 4))
    z = sg2.sample_z(4, seeded(1))
    with torch.no_grad():
        expected = sg2(z, noise_mode="const")
        got = ssn(constant_grid(z, (4, 4)), noise_mode="const")
    assert expected.abs().max() > 1  # a real image, not all zeros
    assert (got - expected).abs().max().item() <= 1e-5 * expected.abs().max().item()  # float32 rounding


def test_transfer_copies_every_tensor_and_truncation_agrees():
    sg2 = StyleGAN2Generator(16, **SMALL)
    sg2.mapping.w_avg.normal_()
    ssn = SSNGenerator.from_stylegan2(sg2, grid=(2, 2))
    for name, tensor in sg2.state_dict().items():
        assert torch.equal(ssn.state_dict()[name], tensor), name
    z = sg2.sample_z(2, seeded(3))
    with torch.no_grad():
        torch.testing.assert_close(ssn(constant_grid(z, (2, 2)), truncation_psi=0.5),
                                   sg2(z, truncation_psi=0.5), atol=1e-5, rtol=0)


def test_paper_border_transfer_is_not_exact():
    """The reason `interior` is the default: eq. 14 literally changes a transferred model's image."""
    sg2 = StyleGAN2Generator(32, **SMALL)
    paper = SSNGenerator.from_stylegan2(sg2, grid=(4, 4), border="zero_padded")
    z = sg2.sample_z(2, seeded(4))
    with torch.no_grad():
        diff = (paper(constant_grid(z, (4, 4))) - sg2(z)).abs().mean()
    assert diff > 1e-2


@pytest.mark.parametrize("grid", [(1, 1), (4, 4), (8, 8), (2, 4), (16, 16)])
@pytest.mark.parametrize("conditioning", ["smc", "spade"])
def test_ssn_grids_and_conditionings(grid, conditioning):
    G = SSNGenerator(16, grid=grid, conditioning=conditioning, **SMALL)
    z = G.sample_z(2, seeded(0))
    assert z.shape == (2, 32, *grid)
    img = G(z)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_spade_hidden_width_is_a_hyperparameter_that_survives_saving(tmp_path):
    G = SSNGenerator(16, conditioning="spade", spade_hidden=8, **SMALL)
    widths = {m.shared.weight.shape[0] for m in G.modules() if isinstance(m, SPADE)}
    assert widths == {8}
    save_generator(tmp_path / "g.safetensors", G)
    loaded = load_generator(tmp_path / "g.safetensors")
    z = G.sample_z(2, seeded(1))
    with torch.no_grad():
        assert torch.equal(loaded(z), G(z))
    smc = SSNGenerator(16, conditioning="smc", **SMALL)
    assert "spade_hidden" not in smc.config  # no SPADE layers, nothing to record


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ValueError, match="grid"):
        SSNGenerator(32, grid=(3, 3), **SMALL)
    with pytest.raises(ValueError, match="grid"):
        SSNGenerator(16, grid=(32, 32), **SMALL)
    with pytest.raises(ValueError, match="resolution"):
        StyleGAN2Generator(48, **SMALL)
    with pytest.raises(ValueError, match="conditioning"):
        SSNGenerator(16, conditioning="adain", **SMALL)
    G = SSNGenerator(16, grid=(4, 4), **SMALL)
    with pytest.raises(ValueError, match=r"\(N, 32, 4, 4\)"):
        G(torch.randn(2, 32, 2, 2))
    with pytest.raises(ValueError, match="noise_mode"):
        G(G.sample_z(1), noise_mode="fixed")


def test_one_by_one_grid_ssn_generalises_stylegan2_shapes():
    G = SSNGenerator(16, grid=(1, 1), **SMALL)
    assert G.sample_z(3).shape == (3, 32, 1, 1)
    assert StyleGAN2Generator(16, **SMALL).sample_z(3).shape == (3, 32)


def test_sampling_is_deterministic_for_a_seed():
    G = SSNGenerator(16, **SMALL)
    a = G(G.sample_z(2, seeded(5)))
    b = G(G.sample_z(2, seeded(5)))
    assert torch.equal(a, b)


def test_noise_modes_and_explicit_noise():
    G = SSNGenerator(16, **SMALL)
    for block in G.synthesis.blocks():
        for name in ("conv0", "conv1"):
            if hasattr(block, name):
                getattr(block, name).noise.strength.data.fill_(0.3)
    z = G.sample_z(2, seeded(6))
    with torch.no_grad():
        assert torch.equal(G(z, noise_mode="const"), G(z, noise_mode="const"))
        assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
        noise = G.make_noise(2, seeded(7))
        assert len(noise) == len(G.synthesis.noise_resolutions()) == G.num_ws - 1
        assert torch.equal(G(z, noise=noise), G(z, noise=noise))
        assert not torch.equal(G(z, noise=noise), G(z, noise_mode="none"))


def test_w_avg_tracking_and_truncation_to_the_mean():
    G = SSNGenerator(16, grid=(2, 2), **SMALL)
    z = G.sample_z(8, seeded(8))
    w = G.mapping(z, update_w_avg=True)
    expected = w.detach().transpose(0, 1).reshape(32, -1).mean(1) * (1 - 0.995)
    torch.testing.assert_close(G.mapping.w_avg, expected)
    w0 = G.mapping(z, truncation_psi=0.0)
    torch.testing.assert_close(w0, G.mapping.w_avg[None, :, None, None].expand_as(w0))


def test_style_mixing_uses_per_layer_grids():
    G = SSNGenerator(16, grid=(2, 2), **SMALL)
    w1, w2 = G.mapping(G.sample_z(1, seeded(9))), G.mapping(G.sample_z(1, seeded(10)))
    ws = G.broadcast_ws(w1).clone()
    ws[:, 3:] = w2.unsqueeze(1)
    mixed = G.synthesize(ws)
    assert not torch.allclose(mixed, G.synthesize(G.broadcast_ws(w1)))
    assert not torch.allclose(mixed, G.synthesize(G.broadcast_ws(w2)))
    with pytest.raises(ValueError, match="ws"):
        G.synthesize(ws[:, :3])


def test_discriminator_shapes_and_minibatch_std():
    D = Discriminator(32, channel_base=256, channel_max=32)
    assert D(torch.randn(8, 3, 32, 32)).shape == (8, 1)
    with pytest.raises(ValueError, match="expects images"):
        D(torch.randn(4, 3, 16, 16))
    mbstd = MinibatchStdLayer(group_size=2)
    x = torch.tensor([0.0, 2.0, 10.0, 10.0]).reshape(4, 1, 1, 1)
    out = mbstd(x)
    # groups are samples (0, 2) and (1, 3): stds |0-10|/2 = 5 and |2-10|/2 = 4
    torch.testing.assert_close(out[:, 1].flatten(), torch.tensor([5.0, 4.0, 5.0, 4.0]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdLayer(4)(torch.randn(6, 2, 4, 4))


def all_parameters_get_finite_gradients(module):
    missing = [n for n, p in module.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


@pytest.mark.parametrize("conditioning", ["smc", "spade"])
def test_gradients_flow_through_ssn_and_discriminator_at_32(conditioning):
    G = SSNGenerator(32, conditioning=conditioning, refine=True, **SMALL)
    D = Discriminator(32, channel_base=256, channel_max=32)
    for block in G.synthesis.blocks():  # non-zero noise strength so its gradient is informative
        block.conv1.noise.strength.data.fill_(0.1)
    D(G(G.sample_z(4), noise_mode="random")).sum().backward()
    all_parameters_get_finite_gradients(G)
    all_parameters_get_finite_gradients(D)


@pytest.mark.slow
def test_backward_at_256_batch_1():
    G = SSNGenerator(256)  # the paper's configuration: 4×4×512 grid, channel_base 16384
    D = Discriminator(256)
    D(G(G.sample_z(1))).sum().backward()
    all_parameters_get_finite_gradients(G)
    all_parameters_get_finite_gradients(D)
