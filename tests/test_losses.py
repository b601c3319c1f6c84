"""Losses and regularizers with numbers: logistic losses, R1 in closed form, path length against
E‖Aᵀy‖² for a linear generator, the distortion regularizer (eq. 2) against a brute-force sum over
blocks, the low-distortion path length (eq. 15) against an enumeration of block pairs, and style
mixing."""

import math

import pytest
import torch
from conftest import seeded
from torch import nn

from ssnlib import BlockGrid, SSNGenerator, StyleGAN2Generator
from ssnlib.losses import (
    DistortionRegularizer,
    LowDistortionPathLength,
    PathLengthRegularizer,
    discriminator_loss,
    generator_loss,
    masked_mse,
    mix_styles,
    r1_penalty,
)

SMALL = dict(z_dim=16, w_dim=16, channel_base=128, channel_max=16)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: intra-op threads only add synchronization, which stalls badly on busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_ssn(noise_strength: float = 0.0) -> SSNGenerator:
    G = SSNGenerator(16, grid=(4, 4), **SMALL)
    for name, p in G.named_parameters():
        if name.endswith("noise.strength"):
            p.data.fill_(noise_strength)
    return G


class LinearGenerator(nn.Module):
    """image = A · vec(ws), a fixed linear map from ws (N, num_ws, w_dim, gh, gw) to (N, 3, R, R)."""

    def __init__(self, A: torch.Tensor, resolution: int = 4, grid=(2, 2), num_ws: int = 2, w_dim: int = 3):
        super().__init__()
        self.resolution, self.grid, self.num_ws, self.w_dim = resolution, grid, num_ws, w_dim
        self.register_buffer("A", A)

    def make_noise(self, n, generator=None):
        return []

    def synthesize(self, ws, noise=None):
        return (ws.flatten(1) @ self.A.T).reshape(ws.shape[0], 3, self.resolution, self.resolution)


def linear_generator(local: float = 1.0, coupling: float = 0.3, seed: int = 0) -> LinearGenerator:
    """A = local part (cell a → block a only) + coupling × dense part, in float64."""
    R, (gh, gw), L, D = 4, (2, 2), 2, 3
    g = seeded(seed)
    A = coupling * torch.randn(3 * R * R, L * D * gh * gw, generator=g, dtype=torch.float64)
    grid = BlockGrid((gh, gw), (R, R))
    pixel_block = grid.block_masks(torch.arange(grid.n_blocks)).reshape(grid.n_blocks, -1)  # (n, R·R)
    rows = pixel_block[:, None, :].expand(-1, 3, -1).reshape(grid.n_blocks, -1)  # (n, 3·R·R)
    cols = torch.eye(gh * gw, dtype=torch.bool).expand(L * D, -1, -1).reshape(L * D * gh * gw, gh * gw).T
    A += local * (rows.T.double() @ cols.double()) * torch.randn(A.shape, generator=g, dtype=torch.float64)
    return LinearGenerator(A, R, (gh, gw), L, D)


class BlockLocalGenerator(nn.Module):
    """Image block b = tanh(B · Σ_ℓ ws[:, ℓ, :, b]) + strength × noise: depends on cell b alone."""

    def __init__(self, resolution: int = 8, grid=(2, 2), z_dim: int = 4, num_ws: int = 2, strength: float = 1.0):
        super().__init__()
        self.resolution, self.grid, self.z_dim, self.num_ws, self.strength = resolution, grid, z_dim, num_ws, strength
        self.ch, self.cw = resolution // grid[0], resolution // grid[1]
        self.B = nn.Parameter(torch.randn(3 * self.ch * self.cw, z_dim, generator=seeded(42)))

    def sample_z(self, n, generator=None):
        return torch.randn(n, self.z_dim, *self.grid, generator=generator)

    def make_noise(self, n, generator=None, device=None):
        return [torch.randn(n, 1, self.resolution, self.resolution, generator=generator)]

    def mapping(self, z, update_w_avg=False):
        return z

    def broadcast_ws(self, w):
        return w.unsqueeze(1).expand(-1, self.num_ws, -1, -1, -1)

    def synthesize(self, ws, noise=None):
        (gh, gw), n = self.grid, ws.shape[0]
        cells = torch.tanh(torch.einsum("pd,ndhw->nphw", self.B, ws.sum(1)))  # (N, 3·ch·cw, gh, gw)
        img = cells.reshape(n, 3, self.ch, self.cw, gh, gw).permute(0, 1, 4, 2, 5, 3)
        img = img.reshape(n, 3, self.resolution, self.resolution)
        return img + self.strength * noise[0]

    def forward(self, z, truncation_psi=1.0, noise=None, noise_mode="const"):
        return self.synthesize(self.broadcast_ws(self.mapping(z)), noise)


# --- adversarial losses and R1 -----------------------------------------------------------------


def test_logistic_losses_match_hand_computed_softplus():
    zero = torch.zeros(5, 1)
    assert generator_loss(zero).item() == pytest.approx(math.log(2), abs=1e-7)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2), abs=1e-7)
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.0, 3.0])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert generator_loss(fake).item() == pytest.approx((sp(0) + sp(-3)) / 2, rel=1e-6)
    expected_d = (sp(0) + sp(3)) / 2 + (sp(-2) + sp(1)) / 2
    assert discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-6)


def test_losses_reject_logits_of_the_wrong_shape():
    with pytest.raises(ValueError, match="fake_logits"):
        generator_loss(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="real_logits"):
        discriminator_loss(torch.zeros(4, 1, 1), torch.zeros(4))


def test_r1_of_linear_discriminator_is_squared_weight_norm():
    v = torch.randn(3, 8, 8, generator=seeded(1), dtype=torch.float64)
    x = torch.randn(6, 3, 8, 8, generator=seeded(2), dtype=torch.float64).requires_grad_()
    logits = (x * v).sum((1, 2, 3))
    assert r1_penalty(x, logits).item() == pytest.approx(v.square().sum().item(), rel=1e-12)


def test_r1_of_quadratic_discriminator_is_mean_squared_norm_and_differentiable():
    scale = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(6, 3, 4, 4, generator=seeded(3), dtype=torch.float64).requires_grad_()
    logits = 0.5 * scale * x.square().sum((1, 2, 3))[:, None]  # D(x) = ½ s ‖x‖², ∇D = s x
    mean_sq = x.detach().square().sum((1, 2, 3)).mean().item()
    r1 = r1_penalty(x, logits)
    assert r1.item() == pytest.approx(1.5**2 * mean_sq, rel=1e-12)
    r1.backward()  # create_graph: the penalty trains D's parameters
    assert scale.grad.item() == pytest.approx(2 * 1.5 * mean_sq, rel=1e-12)


def test_r1_requires_images_that_require_grad():
    x = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="require grad"):
        r1_penalty(x, x.sum((1, 2, 3)))
    with pytest.raises(ValueError, match="3 logits for 2 images"):
        r1_penalty(x.requires_grad_(), torch.zeros(3))


# --- path length -------------------------------------------------------------------------------


def linear_ws(G, n, seed=5):
    return torch.randn(n, G.num_ws, G.w_dim, *G.grid, generator=seeded(seed), dtype=torch.float64).requires_grad_()


def test_path_length_of_linear_generator_matches_its_draw_and_expectation():
    G = linear_generator()
    hw = G.resolution**2
    ws = linear_ws(G, 20000)
    _, lengths = PathLengthRegularizer()(G, ws, noise=[], generator=seeded(6))
    # Exactly this draw: y as the regularizer draws it, lengths² = ‖Aᵀy‖² / num_ws.
    y = torch.randn(20000, 3 * hw, generator=seeded(6)).double() / math.sqrt(hw)  # drawn in float32
    torch.testing.assert_close(lengths.detach().square(), (y @ G.A).square().sum(1) / G.num_ws)
    # In expectation: E‖Aᵀy‖² = tr(AAᵀ)/HW.
    expected = G.A.square().sum().item() / (hw * G.num_ws)
    assert lengths.detach().square().mean().item() == pytest.approx(expected, rel=0.02)


def test_pl_mean_follows_the_lerp_rule_and_penalty_uses_it():
    G = linear_generator()
    reg = PathLengthRegularizer(decay=0.01)
    assert reg.pl_mean.item() == 0
    expected_mean = 0.0
    for seed in (1, 2, 3):
        penalty, lengths = reg(G, linear_ws(G, 8, seed), noise=[], generator=seeded(10 + seed))
        expected_mean += 0.01 * (lengths.mean().item() - expected_mean)
        assert reg.pl_mean.item() == pytest.approx(expected_mean, rel=1e-6)
        assert not reg.pl_mean.requires_grad
        expected_penalty = (lengths.detach() - expected_mean).square().mean().item()
        assert penalty.item() == pytest.approx(expected_penalty, rel=1e-6)


@pytest.mark.parametrize("make", [small_ssn, lambda: StyleGAN2Generator(16, **SMALL)])
def test_path_length_trains_real_generators_deterministically(make):
    G = make()
    z = G.sample_z(4, seeded(1))
    results = []
    for _ in range(2):
        ws = G.broadcast_ws(G.mapping(z))
        penalty, lengths = PathLengthRegularizer()(G, ws, generator=seeded(2))
        results.append(lengths.detach())
    assert torch.equal(*results) and lengths.shape == (4,) and (lengths > 0).all()
    penalty.backward()
    assert G.synthesis.b8.conv1.conv.weight.grad.abs().sum() > 0


def test_path_length_rejects_ws_without_grad_or_layers():
    G = linear_generator()
    with pytest.raises(ValueError, match="require grad"):
        PathLengthRegularizer()(G, linear_ws(G, 2).detach(), noise=[])
    with pytest.raises(ValueError, match="num_ws=2"):
        PathLengthRegularizer()(G, torch.zeros(2, 3, 3, requires_grad=True), noise=[])


# --- distortion regularizer (eq. 2) ------------------------------------------------------------


def test_block_masks_cover_each_block_region():
    grid = BlockGrid((2, 4), (8, 16))
    masks = grid.block_masks(torch.arange(8))
    for a in range(8):
        expected = torch.zeros(8, 16, dtype=torch.bool)
        expected[grid.pixel_box(grid.cell(a))] = True
        assert torch.equal(masks[a, 0], expected)


@pytest.mark.parametrize("pass_noise", [True, False])
def test_distortion_is_exactly_zero_for_a_block_local_generator(pass_noise):
    """Noisy output (strength 1): fresh noise for g(z̃) would show up as distortion."""
    G = BlockLocalGenerator(strength=1.0)
    z = G.sample_z(8, seeded(1))
    noise = G.make_noise(8, seeded(2)) if pass_noise else None
    r_d, stats = DistortionRegularizer()(G, z, noise=noise, generator=seeded(3))
    assert r_d.item() == 0 and stats["distortion"].item() == 0
    assert stats["in_block"].item() > 0.05  # the resampled block does change


def test_same_z_and_noise_give_identical_images_and_reused_images_change_nothing():
    G = small_ssn(noise_strength=0.5)
    z, noise = G.sample_z(4, seeded(1)), G.make_noise(4, seeded(2))
    assert torch.equal(G(z, noise=noise), G(z, noise=noise))
    assert not torch.equal(G(z, noise=noise), G(z, noise=G.make_noise(4, seeded(3))))  # noise matters
    reg = DistortionRegularizer()
    computed, _ = reg(G, z, noise=noise, generator=seeded(4))
    reused, _ = reg(G, z, images=G(z, noise=noise), noise=noise, generator=seeded(4))
    # computed: x and x̃ in one pass of 2N; reused: x̃ alone — the same per-sample function, rounded alike to 1e-6
    assert computed.item() == pytest.approx(reused.item(), rel=1e-6)
    again, _ = reg(G, z, noise=noise, generator=seeded(4))
    assert again.item() == computed.item()  # deterministic for a seed


def test_distortion_estimator_equals_brute_force_sum_over_blocks():
    """Enumerating a (sample a of the batch resamples block a): mean_a R_D(a) = eq. 2's
    Σ_a Σ_{b≠a} (block MSE) / (n(n − 1)), and each R_D(a) = mean_{b≠a} (block MSE)."""
    G = small_ssn(noise_strength=0.3)
    grid = BlockGrid.for_generator(G)
    n = grid.n_blocks
    z = G.sample_z(1, seeded(1)).expand(n, -1, -1, -1)
    noise = [x.expand(n, -1, -1, -1) for x in G.make_noise(1, seeded(2))]
    per_sample = []

    def recorded_mse(img, img2, outside):
        per_sample.append(masked_mse(img, img2, outside))
        return per_sample[-1]

    with torch.no_grad():
        r_d, _ = DistortionRegularizer(recorded_mse)(G, z, noise=noise, generator=seeded(7), blocks=torch.arange(n))
        z_prime = torch.randn(z.shape, generator=seeded(7))  # resample_each's draw (blocks given: no randint)
        z_tilde = z.clone()
        for a in range(n):
            z_tilde[a, :, grid.cell(a)[0], grid.cell(a)[1]] = z_prime[a, :, grid.cell(a)[0], grid.cell(a)[1]]
        change = (G(z, noise=noise) - G(z_tilde, noise=noise)).square()
    block_mse = torch.stack([change[(..., *grid.pixel_box(grid.cell(b)))].mean((1, 2, 3)) for b in range(n)], 1)
    off_block = block_mse.sum(1) - block_mse.diagonal()  # Σ_{b≠a} for sample a
    torch.testing.assert_close(per_sample[0], off_block / (n - 1))
    assert r_d.item() == pytest.approx(off_block.sum().item() / (n * (n - 1)), rel=1e-5)
    assert (off_block > 0).all()
    # scale="eq2": Σ_{b≠a} of the block MSEs for each sample's a, averaged over the samples = eq. 2 / n
    with torch.no_grad():
        r_eq2, _ = DistortionRegularizer(scale="eq2")(G, z, noise=noise, generator=seeded(7), blocks=torch.arange(n))
    assert r_eq2.item() == pytest.approx(off_block.sum().item() / n, rel=1e-5)


def test_distortion_scale_names_are_checked():
    with pytest.raises(ValueError, match="per_pixel"):
        DistortionRegularizer(scale="sum")
    with pytest.raises(ValueError, match="eq15"):
        LowDistortionPathLength(scale="per_pixel")


def test_distortion_has_gradients_through_both_images_on_every_parameter():
    G = small_ssn(noise_strength=0.1)
    grid = BlockGrid.for_generator(G)
    z, noise, blocks = G.sample_z(4, seeded(1)), G.make_noise(4, seeded(2)), torch.tensor([0, 5, 10, 15])
    r_d, stats = DistortionRegularizer()(G, z, noise=noise, generator=seeded(3), blocks=blocks)
    assert r_d.item() > 0 and stats["in_block"] > r_d
    grads = torch.autograd.grad(r_d, list(G.parameters()))
    for (name, _), grad in zip(G.named_parameters(), grads):
        if name.endswith("torgb.bias"):  # adds the same constant to both images: cancels (to float32 rounding)
            assert grad.abs().max() < 1e-7, name
        else:
            assert grad.abs().max() > 0, name
    # The same gradients as differentiating both images by hand (a detached g(z̃) would differ).
    z_tilde = torch.where(BlockGrid(grid.grid, grid.grid).block_masks(blocks),
                          torch.randn(z.shape, generator=seeded(3)), z)
    by_hand = masked_mse(G(z, noise=noise), G(z_tilde, noise=noise), ~grid.block_masks(blocks)).mean()
    for grad, expected in zip(grads, torch.autograd.grad(by_hand, list(G.parameters()))):
        torch.testing.assert_close(grad, expected)


def test_distortion_is_deterministic_and_uses_a_custom_distance():
    G = BlockLocalGenerator(strength=0.0)
    z = G.sample_z(4, seeded(1))
    seen = {}

    def l1_everywhere(img, img2, outside):
        seen["outside"] = outside
        return (img - img2).abs().mean((1, 2, 3))

    r_d, _ = DistortionRegularizer(l1_everywhere)(G, z, generator=seeded(3))
    again, _ = DistortionRegularizer(l1_everywhere)(G, z, generator=seeded(3))
    assert r_d.item() == again.item()
    g = seeded(3)  # the documented draws: blocks, then z'
    blocks = torch.randint(0, 4, (4,), generator=g)
    assert torch.equal(seen["outside"], ~BlockGrid((2, 2), (8, 8)).block_masks(blocks))
    z_tilde = torch.where(BlockGrid((2, 2), (2, 2)).block_masks(blocks), torch.randn(z.shape, generator=g), z)
    noise = G.make_noise(4)  # strength 0: the noise does not matter here
    assert r_d.item() == pytest.approx((G(z, noise=noise) - G(z_tilde, noise=noise)).abs().mean().item(), rel=1e-6)
    assert r_d.item() > 0 and DistortionRegularizer()(G, z, generator=seeded(3))[0].item() == 0


@pytest.mark.parametrize("kwargs, message", [
    (dict(z=torch.zeros(2, 4, 4, 4)), "latent grid"),
    (dict(images=torch.zeros(2, 3, 8, 8)), "noise"),
    (dict(blocks=torch.tensor([0, 4])), "blocks"),
    (dict(distance=lambda a, b, m: a.mean()), "one value per sample"),
])
def test_distortion_rejects_bad_input(kwargs, message):
    G = BlockLocalGenerator()
    reg = DistortionRegularizer(kwargs.pop("distance", "mse"))
    z = kwargs.pop("z", G.sample_z(2, seeded(0)))
    with pytest.raises(ValueError, match=message):
        reg(G, z, **kwargs)


def test_distortion_rejects_unknown_distance_names():
    with pytest.raises(ValueError, match="'lpips'"):
        DistortionRegularizer("lpips")


# --- low-distortion path length (Appendix B, eq. 15) -------------------------------------------


def test_low_distortion_pl_cross_terms_vanish_for_block_local_generator():
    G = BlockLocalGenerator(strength=0.5)
    ws = G.broadcast_ws(G.sample_z(8, seeded(1))).clone().requires_grad_()
    penalty, stats = LowDistortionPathLength(1.0, 0.1)(G, ws, generator=seeded(2))
    assert stats["g_ab"].item() == 0 and stats["g_a"].item() > 0
    y = torch.randn(8, 3, 8, 8, generator=seeded(3))
    a = torch.arange(8) % 4
    g_a, g_ab = LowDistortionPathLength().block_norms(G, ws, a, (a + 1) % 4, y, G.make_noise(8, seeded(4)))
    assert (g_ab == 0).all() and (g_a > 0).all()
    penalty.backward()
    assert G.B.grad.abs().sum() > 0


def pair_jacobian(G, a, b):
    """J_{ba} = ∂g_b/∂w_a (3·P, w_dim) of the linear generator, summed over layers."""
    grid = BlockGrid.for_generator(G)
    rows = grid.block_masks(torch.tensor([b]))[0].expand(3, -1, -1).flatten()
    cols = torch.zeros(G.num_ws, G.w_dim, grid.n_blocks, dtype=torch.bool)
    cols[:, :, a] = True
    return G.A[rows][:, cols.flatten()].reshape(-1, G.num_ws, G.w_dim).sum(1)


def test_low_distortion_pl_block_norms_match_the_linear_jacobian_for_every_pair():
    """Fixed y, all (a, b) pairs (b = a included): g[a, b] = ‖J_{ba}ᵀ y_b‖² from A itself."""
    G, n, P = linear_generator(), 4, 4  # 2×2 blocks of 2×2 pixels
    grid = BlockGrid.for_generator(G)
    pairs = torch.tensor([(a, b) for a in range(n) for b in range(n)])
    y = torch.randn(1, 3, 4, 4, generator=seeded(1), dtype=torch.float64).expand(len(pairs), -1, -1, -1)
    ws = linear_ws(G, len(pairs))
    reg = LowDistortionPathLength()
    g_a, g = reg.block_norms(G, ws, pairs[:, 0], pairs[:, 1], y)
    g = g.detach().reshape(n, n)  # g[a, b]
    for a in range(n):
        for b in range(n):
            y_b = y[0][:, grid.block_masks(torch.tensor([b]))[0, 0]].flatten() / math.sqrt(P)
            assert g[a, b].item() == pytest.approx((pair_jacobian(G, a, b).T @ y_b).square().sum().item(), rel=1e-10)
    torch.testing.assert_close(g_a.detach().reshape(n, n), g.diagonal()[:, None].expand(n, n))


def test_low_distortion_pl_penalty_is_eq15_terms_for_its_draws():
    """Reproducing forward's draws (a, b − a, y): penalty = mean (g_aa − γ+)² + (n − 1)(g_ab − γ−)²."""
    G, n, P, N = linear_generator(), 4, 4, 64
    gamma_plus, gamma_minus = 2.0, 0.3
    penalty, _ = LowDistortionPathLength(gamma_plus, gamma_minus)(G, linear_ws(G, N), generator=seeded(9))
    g = seeded(9)
    a = torch.randint(0, n, (N,), generator=g)
    b = (a + torch.randint(1, n, (N,), generator=g)) % n
    y = torch.randn(N, 3, 4, 4, generator=g).double()  # no noise draw: the linear stand-in has no noise inputs
    assert (a != b).all()
    grid, terms = BlockGrid.for_generator(G), []
    for i in range(N):
        def q(block):
            y_block = y[i][:, grid.block_masks(torch.tensor([block]))[0, 0]].flatten() / math.sqrt(P)
            return (pair_jacobian(G, int(a[i]), block).T @ y_block).square().sum()
        terms.append((q(int(a[i])) - gamma_plus) ** 2 + (n - 1) * (q(int(b[i])) - gamma_minus) ** 2)
    assert penalty.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-10)
    literal, _ = LowDistortionPathLength(gamma_plus, gamma_minus, scale="eq15")(G, linear_ws(G, N), generator=seeded(9))
    assert literal.item() == pytest.approx(n * torch.stack(terms).mean().item(), rel=1e-10)  # E = eq. 15


@pytest.mark.parametrize("gamma_plus, gamma_minus", [(1.0, 0.1), (0.5, 0.5)])
def test_low_distortion_pl_is_unbiased_for_eq15_over_n_blocks(gamma_plus, gamma_minus):
    """E[penalty] = (1/n) eq. 15; for a linear g, E_y(q − γ)² = Var q + (E q − γ)² in closed form
    with q = yᵀMy/P, M = J_{ba}J_{ba}ᵀ: E q = tr M / P, Var q = 2 tr M² / P². Scaled so that the
    b ≠ a terms carry about a fifth to a third of the total (Monte-Carlo sd ≈ 0.6%)."""
    G, n, P = linear_generator(local=0.2, coupling=0.15), 4, 4
    expected, mean_q = 0.0, torch.zeros(n, n)
    for a in range(n):
        for b in range(n):
            J = pair_jacobian(G, a, b)
            M = J @ J.T
            mean_q[a, b], var = torch.trace(M).item() / P, 2 * torch.trace(M @ M).item() / P**2
            expected += var + (mean_q[a, b].item() - (gamma_plus if a == b else gamma_minus)) ** 2
    expected /= n
    reg = LowDistortionPathLength(gamma_plus, gamma_minus)
    penalty, stats = reg(G, linear_ws(G, 160_000), generator=seeded(2))
    assert penalty.item() == pytest.approx(expected, rel=0.03)
    assert stats["g_a"].item() == pytest.approx(mean_q.diagonal().mean().item(), rel=0.03)
    off_diagonal = (mean_q.sum() - mean_q.diagonal().sum()) / (n * (n - 1))
    assert stats["g_ab"].item() == pytest.approx(off_diagonal.item(), rel=0.03)  # b ≠ a, uniform


def test_low_distortion_pl_trains_a_real_ssn_and_rejects_global_ws():
    G = small_ssn()
    ws = G.broadcast_ws(G.mapping(G.sample_z(2, seeded(1))))
    penalty, stats = LowDistortionPathLength()(G, ws, generator=seeded(2))
    penalty.backward()
    assert math.isfinite(penalty.item()) and G.mapping.fc0.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="SSN w grid"):
        LowDistortionPathLength()(G, torch.zeros(2, G.num_ws, 16, requires_grad=True))


# --- style mixing ------------------------------------------------------------------------------


def test_mix_styles_with_prob_zero_broadcasts_w_and_draws_nothing():
    G = small_ssn()
    z, g = G.sample_z(3, seeded(1)), seeded(2)
    state = g.get_state()
    ws, mixed = mix_styles(G, z, 0.0, g)
    assert not mixed and torch.equal(g.get_state(), state)
    assert torch.equal(ws, G.broadcast_ws(G.mapping(z)))


@pytest.mark.parametrize("make", [small_ssn, lambda: StyleGAN2Generator(16, **SMALL)])
def test_mix_styles_with_prob_one_takes_whole_layers_from_z2(make):
    G = make()
    z = G.sample_z(3, seeded(1))
    cutoffs = set()
    for seed in range(12):
        ws, mixed = mix_styles(G, z, 1.0, seeded(seed))
        again, _ = mix_styles(G, z, 1.0, seeded(seed))
        assert mixed and torch.equal(ws, again)
        g = seeded(seed)
        torch.rand([], generator=g)  # the coin
        cutoff = int(torch.randint(1, G.num_ws, (1,), generator=g))
        w2 = G.mapping(G.sample_z(3, g))
        assert torch.equal(ws[:, :cutoff], G.broadcast_ws(G.mapping(z))[:, :cutoff])
        assert torch.equal(ws[:, cutoff:], G.broadcast_ws(w2)[:, cutoff:])  # whole grids for the SSN
        assert not torch.equal(ws[:, cutoff - 1], ws[:, cutoff])
        cutoffs.add(cutoff)
    assert cutoffs <= set(range(1, G.num_ws)) and len(cutoffs) >= 3


def test_mix_styles_probability_and_w_avg_tracking():
    stub = BlockLocalGenerator()
    mixed = sum(mix_styles(stub, stub.sample_z(2), 0.3, seeded(seed))[1] for seed in range(300))
    assert 60 <= mixed <= 120  # Binomial(300, 0.3): mean 90, sd 7.9
    G = small_ssn()
    z = G.sample_z(2, seeded(1))
    w = G.mapping(z).detach()
    mix_styles(G, z, 1.0, seeded(5), update_w_avg=True)
    expected = w.transpose(0, 1).reshape(G.w_dim, -1).mean(1) * (1 - G.mapping.w_avg_beta)  # from w_avg = 0
    torch.testing.assert_close(G.mapping.w_avg, expected)  # z only, never z2
    with pytest.raises(ValueError, match="probability"):
        mix_styles(G, z, 1.5)
