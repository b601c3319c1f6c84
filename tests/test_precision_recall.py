"""Improved precision/recall (Kynkäänniemi et al.) against the definition written out, and as an
`eval` metric in ProcNet features."""

import pytest
import torch

from ssnlib.metrics.precision_recall import precision_recall


def reference(fake, real, k):
    """The definition: x is in a set's manifold if it lies within some sample's k-NN radius."""
    def radii(x):
        return torch.cdist(x, x).kthvalue(k + 1, dim=1).values  # +1: the sample itself is at 0

    def covered(points, centres):
        return (torch.cdist(points, centres) <= radii(centres)[None]).any(1).double().mean().item()

    return covered(fake, real), covered(real, fake)


@pytest.mark.parametrize("shift", [0.0, 0.7, 2.0])
def test_precision_recall_equal_the_definition(shift):
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 5, generator=g, dtype=torch.float64)
    fake = torch.randn(200, 5, generator=g, dtype=torch.float64) * 0.6 + shift
    got = precision_recall(fake, real, k=3)
    precision, recall = reference(fake, real, 3)
    # torch-fidelity averages in float32; one point more or less would move a fraction by ≥ 1/300
    assert got == pytest.approx({"precision": precision, "recall": recall}, abs=1e-6)


def test_closed_cases_identical_disjoint_and_collapsed():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(100, 4, generator=g, dtype=torch.float64)
    assert precision_recall(real.clone(), real) == {"precision": 1.0, "recall": 1.0}
    assert precision_recall(real + 100, real) == {"precision": 0.0, "recall": 0.0}
    collapsed = real[:1].repeat(50, 1) + 1e-9 * torch.randn(50, 4, generator=g, dtype=torch.float64)
    out = precision_recall(collapsed, real)  # mode collapse onto one real sample: faithful, no coverage
    assert out["precision"] == 1.0 and out["recall"] < 0.05


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"\(4, 3\) and \(5, 2\)"):
        precision_recall(torch.zeros(4, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="more than 3 samples"):
        precision_recall(torch.zeros(3, 2), torch.zeros(5, 2))


@pytest.mark.slow
def test_prc_proc_of_real_data_is_high_and_an_untrained_generator_covers_nothing(tmp_path):
    from ssnlib import SSNGenerator
    from ssnlib.data import open_dataset
    from ssnlib.evaluate import EvalSettings, evaluate_generator

    settings = EvalSettings(dataset="faces", resolution=16, n_fd=128, batch_size=64, cache_dir=str(tmp_path))

    class Replay(torch.nn.Module):
        """A 'generator' that returns held-out real images: precision and recall near 1."""
        grid = None

        def __init__(self):
            super().__init__()
            self.data = torch.stack([open_dataset("faces", 16, length=128, seed=5)[i] for i in range(128)])
            self.offset = 0

        def sample_z(self, n, generator=None, device=None):
            return torch.zeros(n, 1)

        def make_noise(self, n, generator=None, device=None):
            return None

        def forward(self, z, noise=None):
            out = self.data[self.offset: self.offset + z.shape[0]]
            self.offset += z.shape[0]
            return out

    real = evaluate_generator(Replay(), ["prc_proc"], settings)
    torch.manual_seed(0)  # the untrained weights: fixed, not whatever the global stream holds
    untrained = evaluate_generator(SSNGenerator(16, z_dim=32, w_dim=32, channel_base=256, channel_max=32,
                                                mapping_layers=2), ["prc_proc"], settings)
    assert real["prc_proc_precision"] > 0.6 and real["prc_proc_recall"] > 0.6
    # an untrained generator covers none of the data (recall); its precision at 128 samples of 16²
    # ProcNet features is 0.41–0.60 over seeds 0–3, so precision alone does not tell them apart
    assert untrained["prc_proc_recall"] < 0.1
    assert untrained["prc_proc_precision"] < real["prc_proc_precision"]
