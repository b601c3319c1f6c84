"""§2's two-pixel example: exact numbers for sequential inpainting vs block resampling."""

from fractions import Fraction as F

import numpy as np
import pytest

from ssnlib.paper import toy

PAPER = toy.joint_distribution()  # P(1,1) = P(0,0) = ½
CORRELATED = toy.joint_distribution(p11=F(2, 5), p00=F(2, 5), p01=F(1, 10), p10=F(1, 10))
ASYMMETRIC = toy.joint_distribution(p11=F(1, 6), p00=F(1, 3), p01=F(1, 4), p10=F(1, 4))
INDEPENDENT = toy.joint_distribution(p11=F(3, 4) * F(1, 3), p00=F(1, 4) * F(2, 3),
                                     p01=F(1, 4) * F(1, 3), p10=F(3, 4) * F(2, 3))


def test_joint_distribution_layout_and_validation():
    assert PAPER.tolist() == [[0.5, 0.0], [0.0, 0.5]]
    assert CORRELATED.reshape(-1).tolist() == [F(2, 5), F(1, 10), F(1, 10), F(2, 5)]
    assert [toy.state_index(y) for y in toy.STATES] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="sum to 1"):
        toy.joint_distribution(p11=0.6)
    with pytest.raises(ValueError, match="non-negative"):
        toy.joint_distribution(p11=1.5, p00=-0.5)
    with pytest.raises(ValueError, match="pair of bits"):
        toy.state_index((2, 0))
    with pytest.raises(ValueError, match="block must be 0"):
        toy.inpainting_kernel(PAPER, 2)


@pytest.mark.parametrize("P", [PAPER, CORRELATED, ASYMMETRIC, INDEPENDENT])
@pytest.mark.parametrize("make", [toy.inpainting_kernel, toy.block_resampling_kernel])
def test_kernels_are_stochastic_and_keep_P_invariant(P, make):
    for block in (0, 1):
        K = make(P, block)
        assert all(sum(row) == 1 for row in K)
        assert all(k >= 0 for k in K.flat)
        assert (P.reshape(-1) @ K).tolist() == P.reshape(-1).tolist()  # stationary (exactly)


def test_paper_example_inpainting_never_leaves_start():
    K0, K1 = toy.sweep_kernels(PAPER, "inpainting")
    s = toy.state_index((1, 1))
    assert K0[s].tolist() == [0, 0, 0, 1] and K1[s].tolist() == [0, 0, 0, 1]
    # a zero-probability state moves into the support: y1 = 1 forces y0 = 1
    assert K0[toy.state_index((0, 1))].tolist() == [0, 0, 0, 1]
    dists = toy.sweep_distributions(PAPER, "inpainting", start=(1, 1), sweeps=10)
    assert all(d.tolist() == [0, 0, 0, 1] for d in dists)
    assert [toy.total_variation(d, PAPER) for d in dists] == [0.5] * 11


def test_paper_example_block_resampling_exact_after_one_sweep():
    gen = toy.block_generator(PAPER)
    assert gen.shape == (2, 1)  # z0 ~ Bernoulli(½), a single z1 cell: y = (z0, z0)
    assert gen.decode.tolist() == [[toy.state_index((0, 0))], [toy.state_index((1, 1))]]
    dists = toy.sweep_distributions(PAPER, "block", start=(1, 1), sweeps=5)
    assert dists[0].tolist() == [0, 0, 0, 1]
    assert all(d.tolist() == [0.5, 0, 0, 0.5] for d in dists[1:])
    assert [toy.total_variation(d, PAPER) for d in dists] == [0.5, 0, 0, 0, 0, 0]
    rows = toy.toy_summary(sweeps=2)
    assert rows[1] == {"sweep": 1, "inpainting_tv": 0.5, "block_tv": 0.0,
                       "inpainting_p_start": 1.0, "block_p_start": 0.5}


@pytest.mark.parametrize("P", [PAPER, CORRELATED, ASYMMETRIC, INDEPENDENT])
def test_block_generator_reproduces_P_exactly(P):
    gen = toy.block_generator(P)
    assert gen.image_distribution().tolist() == P.reshape(-1).tolist()
    assert sum(gen.z_probs[0]) == 1 and sum(gen.z_probs[1]) == 1


@pytest.mark.parametrize("P", [PAPER, CORRELATED, ASYMMETRIC, INDEPENDENT])
def test_block_resampling_is_a_block_resampling_in_any_order(P):
    K0, K1 = toy.sweep_kernels(P, "block")
    assert toy.is_block_resampling(P, [K0, K1])
    assert toy.is_block_resampling(P, [K1, K0])
    assert not toy.is_block_resampling(P, [K1])  # z1 alone never redraws y0


def test_single_blocks():
    K0, K1 = toy.sweep_kernels(PAPER, "block")
    assert toy.is_block_resampling(PAPER, [K0])  # z0 carries the whole image: y = (z0, z0)
    assert K1.tolist() == np.eye(4).tolist()  # the single z1 cell: resampling it changes nothing
    for P in (CORRELATED, ASYMMETRIC, INDEPENDENT):
        K0, K1 = toy.sweep_kernels(P, "block")
        assert not toy.is_block_resampling(P, [K0])
        assert K1.tolist() == toy.inpainting_kernel(P, 1).tolist()  # z0 = y0 is visible: z1 inpaints y1


def test_inpainting_is_a_block_resampling_only_for_independent_pixels():
    for P in (PAPER, CORRELATED, ASYMMETRIC):
        assert not toy.is_block_resampling(P, toy.sweep_kernels(P, "inpainting"))
    assert toy.is_block_resampling(INDEPENDENT, toy.sweep_kernels(INDEPENDENT, "inpainting"))


@pytest.mark.parametrize("P", [PAPER, CORRELATED, ASYMMETRIC])
@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
@pytest.mark.parametrize("start", [(1, 1), (0, 0)])
def test_latent_chain_mapped_to_image_space_equals_image_kernels(P, order, start):
    """The chain runs on the latent z (posterior start, fresh z_a per step) and is decoded."""
    gen = toy.block_generator(P)
    E = gen.emission()
    latent = toy.run_chain(gen.posterior(start), [gen.resample_kernel(a) for a in order], steps=6)
    image = toy.run_chain(toy.point_mass(start, P), [toy.block_resampling_kernel(P, a) for a in order], steps=6)
    assert [(z @ E).tolist() for z in latent] == [y.tolist() for y in image]
    assert all(toy.total_variation(z @ E, P) == 0 for z in latent[2:])


def test_correlated_inpainting_converges_only_asymptotically():
    """P = (0.4, 0.1, 0.1, 0.4): ρ = 0.6, TV after k sweeps = ½·0.6^(2k−1), exactly."""
    tv = [toy.total_variation(d, CORRELATED) for d in toy.sweep_distributions(CORRELATED, "inpainting", sweeps=6)]
    assert tv[0] == F(3, 5)
    assert tv[1:] == [F(1, 2) * F(3, 5) ** (2 * k - 1) for k in range(1, 7)]
    assert tv[1:4] == [F(3, 10), F(27, 250), F(243, 6250)]
    assert all(a > b > 0 for a, b in zip(tv, tv[1:]))
    assert tv[1:] == [toy.inpainting_tv_closed_form(CORRELATED, k) for k in range(1, 7)]
    # the closed form does not depend on the start state
    tv01 = [toy.total_variation(d, CORRELATED) for d in toy.sweep_distributions(CORRELATED, "inpainting", (0, 1), 3)]
    assert tv01[1:] == tv[1:4]
    block = [toy.total_variation(d, CORRELATED) for d in toy.sweep_distributions(CORRELATED, "block", sweeps=3)]
    assert block == [F(3, 5), 0, 0, 0]


def test_float_probabilities_match_closed_form():
    P = toy.joint_distribution(p11=0.4, p00=0.4, p01=0.1, p10=0.1)
    rows = toy.toy_summary(P, sweeps=5)
    for row in rows[1:]:
        assert row["inpainting_tv"] == pytest.approx(0.5 * 0.6 ** (2 * row["sweep"] - 1), abs=1e-14)
        assert row["block_tv"] == pytest.approx(0.0, abs=1e-14)
        assert row["block_p_start"] == pytest.approx(0.4, abs=1e-14)
    assert isinstance(rows[1]["inpainting_tv"], float)
    assert toy.is_block_resampling(P, toy.sweep_kernels(P, "block"))
    assert not toy.is_block_resampling(P, toy.sweep_kernels(P, "inpainting"))


def test_paper_closed_form_is_constant_one_half():
    assert [toy.inpainting_tv_closed_form(PAPER, k) for k in (1, 2, 10)] == [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="symmetric"):
        toy.inpainting_tv_closed_form(ASYMMETRIC, 1)
    with pytest.raises(ValueError, match="sweeps ≥ 1"):
        toy.inpainting_tv_closed_form(PAPER, 0)
    with pytest.raises(ValueError, match="unknown method"):
        toy.sweep_kernels(PAPER, "gibbs")


def test_run_chain_checks_shapes_and_counts_steps():
    K = toy.inpainting_kernel(PAPER, 0)
    assert len(toy.run_chain(toy.point_mass((0, 0), PAPER), [K], steps=3)) == 4
    with pytest.raises(ValueError, match="kernel of shape"):
        toy.run_chain(np.ones(3) / 3, [K], steps=1)
