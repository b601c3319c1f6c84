"""Layers: the fast eq. 14 normalizer against the naive formula, SMC ≡ modulated conv under a
constant style, SPADE statistics, equalized learning rate."""


import pytest
import torch
import torch.nn.functional as F

from ssnlib.layers import (
    SPADE,
    EqualConv2d,
    EqualLinear,
    ModulatedConv2d,
    NoiseInjection,
    SpatiallyModulatedConv2d,
    expected_sigma_sq,
)
from ssnlib.ops import setup_filter, upfirdn2d, window_sums


def reference_upsample_conv(x, w):
    """Transposed stride-2 conv written out: zero insertion, full padding, flipped kernel; then
    StyleGAN2's [1,3,3,1] blur with gain 4 (padding (1, 1) for k = 3, as rosinality's Blur)."""
    n, c, h, wd = x.shape
    k = w.shape[-1]
    up = torch.zeros(n, c, 2 * h - 1, 2 * wd - 1, dtype=x.dtype)
    up[:, :, ::2, ::2] = x
    y = F.conv2d(F.pad(up, [k - 1] * 4), w.flip([2, 3]))
    p = 2 - (k - 1)
    return upfirdn2d(y, setup_filter().to(x.dtype), pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)


def naive_smc(layer, x, s):
    """Eq. 1 with eq. 14 computed literally: σ_E² = mean_ij (w² ∗ s²) as a second convolution."""
    w = layer.weight * layer.weight_gain
    k = w.shape[-1]
    if layer.up == 1:
        y = F.conv2d(x * s, w, padding=k // 2)
    else:
        y = reference_upsample_conv(x * s, w)
    if not layer.demodulate:
        return y
    if layer.border == "zero_padded":
        sigma_sq = F.conv2d(s.square(), w.square(), padding=k // 2).mean((2, 3))
    else:
        sigma_sq = torch.einsum("oc,nc->no", w.square().sum((2, 3)), s.square().mean((2, 3)))
    return y / torch.sqrt(sigma_sq + 1e-8)[:, :, None, None]


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("size", [1, 2, 4, 7])
def test_window_sums_match_brute_force(k, size):
    x = torch.randn(2, 3, size, dtype=torch.float64)
    p = k // 2
    expected = torch.stack([sum(x[..., i + u - p] for i in range(size) if 0 <= i + u - p < size)
                            if any(0 <= i + u - p < size for i in range(size)) else torch.zeros(2, 3, dtype=x.dtype)
                            for u in range(k)], -1)
    torch.testing.assert_close(window_sums(x, 2, k), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("repeat", [1, 2, 3])
def test_window_sums_of_an_implicitly_upsampled_sequence(k, repeat):
    x = torch.randn(2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(window_sums(x, 2, k, repeat), window_sums(x.repeat_interleave(repeat, 2), 2, k),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("border", ["zero_padded", "interior"])
@pytest.mark.parametrize("kernel_size", [1, 3])
@pytest.mark.parametrize("grid", [(1, 1), (2, 2), (4, 2), (8, 8)])
def test_coarse_style_map_equals_its_nearest_upsampling(up, border, kernel_size, grid):
    """An SSN grid drives SMC layers without being upsampled in memory: same result, float64."""
    layer = SpatiallyModulatedConv2d(5, 4, kernel_size, up=up, border=border).double()
    x = torch.randn(2, 5, 8, 8, dtype=torch.float64)
    coarse = torch.rand(2, 5, *grid, dtype=torch.float64) + 0.5
    full = F.interpolate(coarse, size=(8, 8), mode="nearest")
    torch.testing.assert_close(layer(x, coarse), layer(x, full), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(layer(x, coarse), naive_smc(layer, x, full), rtol=1e-10, atol=1e-10)


def test_style_map_must_divide_the_features():
    with pytest.raises(ValueError, match="does not divide"):
        SpatiallyModulatedConv2d(2, 2, 3)(torch.randn(1, 2, 8, 8), torch.randn(1, 2, 3, 3))


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("shape", [(2, 5, 4, 4), (1, 3, 8, 8), (3, 4, 6, 10), (2, 6, 16, 5)])
@pytest.mark.parametrize("border", ["zero_padded", "interior"])
def test_smc_matches_naive_eq14_float64(up, shape, border):
    n, c, h, w = shape
    layer = SpatiallyModulatedConv2d(c, 7, 3, up=up, border=border).double()
    x = torch.randn(shape, dtype=torch.float64)
    s = torch.randn(shape, dtype=torch.float64) * 0.7 + 1.0
    out = layer(x, s)
    assert out.shape == (n, 7, h * up, w * up)
    torch.testing.assert_close(out, naive_smc(layer, x, s), rtol=1e-10, atol=1e-10)


def test_smc_without_demodulation_is_plain_input_modulation():
    layer = SpatiallyModulatedConv2d(4, 3, 1, demodulate=False).double()
    x, s = torch.randn(2, 4, 8, 8, dtype=torch.float64), torch.randn(2, 4, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(layer(x, s), naive_smc(layer, x, s))


@pytest.mark.parametrize("up", [1, 2])
def test_upsampling_conv_matches_written_out_transposed_conv(up):
    layer = ModulatedConv2d(5, 6, 3, up=up, demodulate=False).double()
    x = torch.randn(2, 5, 6, 6, dtype=torch.float64)
    style = torch.ones(2, 5, dtype=torch.float64)
    w = layer.weight * layer.weight_gain
    expected = reference_upsample_conv(x, w) if up == 2 else F.conv2d(x, w, padding=1)
    torch.testing.assert_close(layer(x, style), expected)


@pytest.mark.parametrize("up", [1, 2])
def test_constant_style_interior_smc_equals_modulated_conv(up):
    torch.manual_seed(1)
    mod = ModulatedConv2d(16, 8, 3, up=up)
    smc = SpatiallyModulatedConv2d(16, 8, 3, up=up, border="interior")
    smc.weight.data.copy_(mod.weight.data)
    x = torch.randn(3, 16, 8, 8)
    style = torch.randn(3, 16) + 1
    out_mod = mod(x, style)
    out_smc = smc(x, style[:, :, None, None].expand_as(x))
    assert (out_mod - out_smc).abs().max().item() <= 1e-5


def test_paper_border_differs_from_stylegan2_at_4x4():
    """Eq. 14 read literally lowers σ_E near zero-padded borders; at 4×4 a 3×3 kernel loses
    (1 − (3·4−2)²/(3·4)²) ≈ 31% of the window sums, so the outputs grow by about 1/√0.69."""
    torch.manual_seed(2)
    smc = SpatiallyModulatedConv2d(8, 8, 3, border="zero_padded")
    s = torch.ones(1, 8, 4, 4)
    sigma_paper = expected_sigma_sq(smc.weight, s, "zero_padded")
    sigma_interior = expected_sigma_sq(smc.weight, s, "interior")
    # Every tap of a 3×3 kernel on a 4×4 map reads 4·4, 3·4 or 3·3 valid pixels: the ratio is
    # a weighted mean of 1, 0.75 and 0.5625 — strictly below 1 and above 0.5625.
    ratio = sigma_paper / sigma_interior
    assert ((ratio < 0.99) & (ratio > 0.5625)).all()
    uniform_w = torch.ones(1, 1, 3, 3)
    ratio_uniform = expected_sigma_sq(uniform_w, torch.ones(1, 1, 4, 4), "zero_padded") / 9
    assert ratio_uniform.item() == pytest.approx((4 + 3 + 3) ** 2 / (3 * 4) ** 2 * 1.0)


def test_smc_rejects_mismatched_style_map():
    smc = SpatiallyModulatedConv2d(4, 4, 3)
    with pytest.raises(ValueError, match="style_map"):
        smc(torch.randn(1, 4, 8, 8), torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="border"):
        SpatiallyModulatedConv2d(4, 4, 3, border="reflect")


def test_demodulated_output_has_unit_variance_for_unit_inputs():
    """The point of σ_E (eq. 10–14): with i.i.d. unit-variance inputs the output variance ≈ 1."""
    torch.manual_seed(3)
    smc = SpatiallyModulatedConv2d(64, 32, 3, border="zero_padded")
    x = torch.randn(16, 64, 16, 16)
    s = torch.rand(16, 64, 16, 16) * 2 + 0.1
    out = smc(x, s)
    assert out.var().item() == pytest.approx(1.0, abs=0.05)


def test_equalized_layers_scale_weights_at_runtime():
    lin = EqualLinear(100, 10, lr_mul=0.01, bias_init=1.0)
    assert lin.weight.std().item() == pytest.approx(100, rel=0.1)  # stored at 1/lr_mul
    x = torch.randn(4096, 100)
    y = lin(x)
    assert y.std().item() == pytest.approx(1.0, rel=0.1)
    assert y.mean().item() == pytest.approx(0.01, abs=0.05)  # bias_init · lr_mul
    conv = EqualConv2d(32, 16, 3, bias=False)
    assert conv(torch.randn(8, 32, 16, 16)).std().item() == pytest.approx(1.0, rel=0.15)
    lin_map = EqualLinear(6, 5)
    v = torch.randn(3, 6)
    torch.testing.assert_close(lin_map(v[:, :, None, None].expand(3, 6, 2, 2)),
                               lin_map(v)[:, :, None, None].expand(3, 5, 2, 2))


def test_downsampling_conv_halves_resolution():
    conv = EqualConv2d(3, 4, 3, down=2)
    assert conv(torch.randn(2, 3, 16, 16)).shape == (2, 4, 8, 8)
    skip = EqualConv2d(3, 4, 1, down=2, bias=False)
    assert skip(torch.randn(2, 3, 16, 16)).shape == (2, 4, 8, 8)


def test_spade_normalizes_with_batch_statistics():
    spade = SPADE(6, 3, hidden_channels=8)
    for conv in (spade.gamma, spade.beta):
        torch.nn.init.zeros_(conv.weight)
    x = torch.randn(4, 6, 8, 8) * 3 + 2
    out = spade(x, torch.randn(4, 3, 8, 8))
    torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var((0, 2, 3), unbiased=False), torch.ones(6), atol=1e-3, rtol=0)


def test_noise_injection_modes():
    noise = NoiseInjection(8)
    noise.strength.data.fill_(0.5)
    x = torch.zeros(2, 3, 8, 8)
    torch.testing.assert_close(noise(x, "const"), 0.5 * noise.const.expand(2, 3, 8, 8))
    assert torch.equal(noise(x, "none"), x)
    assert not torch.equal(noise(x, "random"), noise(x, "random"))
    given = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(noise(x, "random", given), 0.5 * given.expand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="noise_mode"):
        noise(x, "fixed")
