import pytest
import torch
from conftest import seeded
from torch import nn

from ssnlib import SSNGenerator
from ssnlib.paper.inpainting import consistency_comparison, harmonic_fill, latent_inpaint, paste_known


def _ramp(n: int = 2, size: int = 16) -> torch.Tensor:
    rows, cols = torch.meshgrid(torch.arange(size).double(), torch.arange(size).double(), indexing="ij")
    planes = [0.1 * cols - 0.05 * rows, 0.03 * rows + 0.2, -0.08 * cols + 0.02 * rows]
    return torch.stack([torch.stack(planes) * (i + 1) for i in range(n)])


def _hole(size: int = 16) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[3:9, 4:12] = True
    mask[9:12, 6:8] = True  # not a rectangle
    return mask


def test_harmonic_fill_recovers_a_linear_ramp_exactly():
    ramp, mask = _ramp(), _hole()
    corrupted = ramp.clone()
    corrupted[:, :, mask] = 7.0
    filled = harmonic_fill(corrupted, mask)
    assert (filled - ramp).abs().max().item() < 1e-12
    assert (corrupted - ramp).abs().max().item() > 5  # the hole really was destroyed


def test_harmonic_fill_keeps_known_pixels_bit_identical_and_solves_laplace():
    images = torch.randn(3, 3, 12, 12, generator=seeded(0))
    masks = torch.zeros(3, 12, 12, dtype=torch.bool)
    masks[0, 2:5, 2:6] = True
    masks[1, 0:4, 8:12] = True  # touches the image border (Neumann there)
    masks[2, 6:10, 1:4] = True
    filled = harmonic_fill(images, masks)
    assert filled.dtype == images.dtype
    assert torch.equal(filled[~masks[:, None].expand_as(images)], images[~masks[:, None].expand_as(images)])
    # inside the hole every value is the mean of its in-image neighbours (discrete harmonic)
    i, r, c = 0, 3, 3
    neighbours = filled[i, :, [r - 1, r + 1, r, r], [c, c, c - 1, c + 1]]
    assert torch.allclose(filled[i, :, r, c], neighbours.mean(1), atol=1e-6)
    # maximum principle: values inside stay within the boundary's range
    assert filled[masks[:, None].expand_as(images)].abs().max() <= images.abs().max()


def test_harmonic_fill_rejects_bad_masks():
    images = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ValueError, match="boolean"):
        harmonic_fill(images, torch.zeros(8, 8))
    with pytest.raises(ValueError, match="whole image"):
        harmonic_fill(images, torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not match"):
        harmonic_fill(images, torch.zeros(4, 4, dtype=torch.bool))


def test_paste_known():
    target, filled = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[1, 2] = True
    out = paste_known(filled, target, mask)
    assert out.sum().item() == 2 * 3 and torch.equal(out[:, :, 1, 2], torch.ones(2, 3))


@pytest.fixture(scope="module")
def small_ssn():
    torch.manual_seed(0)
    return SSNGenerator(16, (4, 4), z_dim=8, w_dim=8, channel_base=64, channel_max=16, mapping_layers=2).eval()


def test_latent_inpainting_fits_the_known_pixels_and_pastes_them_exactly(small_ssn):
    G, rng = small_ssn, seeded(1)
    z, noise = G.sample_z(2, rng), G.make_noise(2, rng)
    with torch.no_grad():
        target = G(z, noise=noise)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:8, 4:12] = True
    weights = [p.clone() for p in G.parameters()]
    result = latent_inpaint(G, target, mask, restarts=3, steps=40, lr=0.05, noise=noise, generator=seeded(2),
                            progress=False)
    assert result.images.shape == (2, 3, 3, 16, 16) and result.z.shape == (2, 3, 8, 4, 4)
    # the known-pixel error falls a lot from the random starts
    assert (result.outside_mse_end < 0.5 * result.outside_mse_start).all()
    # after pasting, the outside equals the target bit for bit; inside is the generator's
    outside = ~mask
    assert torch.equal(result.images[..., outside], target[:, None].expand(-1, 3, -1, -1, -1)[..., outside])
    assert torch.equal(result.images[..., mask], result.generated[..., mask])
    # restarts differ inside the hole (diversity), the generator is untouched
    assert (result.images[:, 0, :, mask] - result.images[:, 1, :, mask]).abs().mean() > 1e-3
    assert all(torch.equal(a, b) and b.requires_grad for a, b in zip(weights, G.parameters()))


def test_latent_inpainting_is_deterministic_for_a_seed(small_ssn):
    G = small_ssn
    target = torch.zeros(1, 3, 16, 16)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:4] = True
    a = latent_inpaint(G, target, mask, restarts=2, steps=3, generator=seeded(5), progress=False)
    b = latent_inpaint(G, target, mask, restarts=2, steps=3, generator=seeded(5), progress=False)
    assert torch.equal(a.images, b.images)


class _ColourSegmenter(nn.Module):
    """A stand-in part network: pure-blue pixels are eyes, pure-green glasses, the rest skin."""

    part_names = ("face/background", "face/skin", "face/hair", "face/eyes", "face/glasses", "face/mouth")

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def segment(self, x, domain=None):
        parts = torch.ones(x.shape[0], *x.shape[-2:], dtype=torch.long)
        parts[(x[:, 2] > 0.5) & (x[:, 0] < -0.5) & (x[:, 1] < -0.5)] = 3
        parts[(x[:, 1] > 0.5) & (x[:, 0] < -0.5) & (x[:, 2] < -0.5)] = 4
        return parts


def _face(eye_left, eye_right):
    image = torch.zeros(3, 16, 16)
    image[:, 6:8, 3:5] = torch.tensor(eye_left)[:, None, None]
    image[:, 6:8, 11:13] = torch.tensor(eye_right)[:, None, None]
    return image


def test_consistency_comparison_counts_matches_and_the_other_eye():
    blue, red = [-1.0, -1.0, 1.0], [1.0, -1.0, -1.0]
    originals = torch.stack([_face(blue, blue), _face(blue, blue)])
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[4:10, 0:8] = True  # the left eye
    inpainted = originals.clone()[:, None]
    inpainted[:, 0, :, 6:8, 3:5] = torch.tensor(red)[:, None, None]  # left eye no longer an eye
    ssn = torch.stack([_face(blue, blue), _face(blue, [-1.0, -1.0, 0.9])])[:, None]  # right eye touched
    table = consistency_comparison(originals, {"inpaint": inpainted, "ssn": ssn}, mask, net=_ColourSegmenter())
    rows = table.set_index("method")
    assert list(table.method) == ["original", "inpaint", "ssn"]
    assert rows.loc["original", "consistent"] == 1.0 and rows.loc["original", "distortion"] == 0.0
    assert rows.loc["inpaint", "eyes_detected"] == 0.0 and rows.loc["inpaint", "consistent"] == 0.0
    assert rows.loc["inpaint", "other_eye_change"] == 0.0 and rows.loc["inpaint", "distortion"] == 0.0
    assert rows.loc["ssn", "eye_colour_match"] == 1.0
    assert rows.loc["ssn", "other_eye_change"] == pytest.approx(0.1 ** 2 / 3 / 2)  # one of two images, 1 channel
