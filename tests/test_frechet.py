"""Feature statistics, FID / KID, and the canonical feature-network wiring — offline.

The canonical networks run with their real torch-fidelity architectures and randomly
initialised weight files written here, handed over the same way a user hands real weights over
(environment variables), so the whole code path is exercised without any download.
"""

import math
from unittest import mock
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.data import TensorDataset
from torch_fidelity import feature_extractor_inceptionv3 as tf_inception
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from ssnlib.metrics import (
    INCEPTION_NAME,
    FeatureExtractor,
    FeatureStats,
    MissingWeightsError,
    compute_feature_stats,
    compute_fid,
    dataset_feature_stats,
    fid_bootstrap_se,
    fid_from_stats,
    frechet_distance,
    get_feature_extractor,
    images_to_uint8,
    inception_feature_extractor,
    kernel_inception_distance,
    lpips_vgg16,
    register_feature_extractor,
)
from ssnlib.metrics import features as features_mod


def exact_fd_from_features(x: np.ndarray, y: np.ndarray) -> float:
    """FD of two feature sets without any D×D matrix function: with Σ = XcᵀXc/(n−1), the nonzero
    eigenvalues of Σ1Σ2 are the squared singular values of Xc Ycᵀ/√((n1−1)(n2−1)) (n1 × n2)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    c1, c2 = len(x) - 1, len(y) - 1
    tr_sqrt = np.linalg.svd(xc @ yc.T, compute_uv=False).sum() / math.sqrt(c1 * c2)
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + (xc**2).sum() / c1 + (yc**2).sum() / c2 - 2 * tr_sqrt)


# --------------------------------------------------------------------------------------------
# Fréchet distance and FeatureStats
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cholesky", "sqrtm"])
def test_frechet_distance_diagonal_closed_form(method):
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b), method=method)
    assert got == pytest.approx(expected, rel=1e-10)
    assert abs(frechet_distance(mu1, np.diag(a), mu1, np.diag(a), method=method)) < 1e-12


def test_frechet_distance_full_covariance_methods_agree_with_torch_fidelity():
    rng = np.random.default_rng(2)
    d = 24
    x, y = rng.normal(size=(200, d)), rng.normal(size=(200, d)) @ rng.normal(size=(d, d)) * 0.5 + 0.3
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert ours > 1.0
    assert frechet_distance(mu1, s1, mu2, s2, method="sqrtm") == pytest.approx(ours, rel=1e-9)
    reference = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert reference["frechet_inception_distance"] == pytest.approx(ours, rel=1e-9)
    assert exact_fd_from_features(x, y) == pytest.approx(ours, rel=1e-9)


def test_frechet_distance_exact_for_rank_deficient_covariances():
    """Fewer samples than dimensions (the end-to-end test's 8 images in 2048-d, the `ci` preset)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 120)) * rng.uniform(0.1, 3.0, size=120), rng.normal(size=(11, 120)) + 0.2
    a, b = FeatureStats().update(x), FeatureStats().update(y)
    expected = exact_fd_from_features(x, y)
    assert fid_from_stats(a, b) == pytest.approx(expected, rel=1e-9)
    assert fid_from_stats(b, a) == pytest.approx(expected, rel=1e-9)
    assert fid_from_stats(a, b, method="sqrtm") == pytest.approx(expected, rel=1e-5)
    zero = np.zeros((120, 120))
    assert frechet_distance(np.zeros(120), zero, np.ones(120), b.cov) == pytest.approx(120 + np.trace(b.cov))


def test_fid_bootstrap_se_matches_the_spread_over_independent_draws():
    """Generated N(0.3, I₈) features vs a fixed N(0, I₈) reference: the bootstrap SE from one draw
    of 1000 ≈ the standard deviation of the FD over 40 independent draws."""
    rng = np.random.default_rng(0)
    real = FeatureStats().update(rng.standard_normal((20000, 8)))

    def draw():
        return FeatureStats(keep_features=True).update(rng.standard_normal((1000, 8)) + 0.3)

    spread = np.std([fid_from_stats(draw(), real) for _ in range(40)], ddof=1)
    assert fid_bootstrap_se(draw(), real, n_boot=60) == pytest.approx(spread, rel=0.4)
    with pytest.raises(ValueError, match="keep_features=True"):
        fid_bootstrap_se(FeatureStats().update(rng.standard_normal((10, 8))), real)


def test_frechet_distance_rejects_bad_input():
    with pytest.raises(ValueError, match="shape mismatch"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="unknown Fréchet method"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="svd")


def test_feature_stats_in_batches_equal_numpy_on_the_whole_set():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(103, 7)) * 0.01 + 1e3  # large mean, small spread: no cancellation allowed
    stats = FeatureStats(keep_features=True)
    for lo, hi in [(0, 1), (1, 40), (40, 41), (41, 103)]:
        stats.update(torch.from_numpy(x[lo:hi]) if lo else x[lo:hi])
    assert stats.n == 103 and stats.dim == 7
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-16)
    np.testing.assert_array_equal(stats.features, x)
    assert abs(fid_from_stats(stats, stats)) < 1e-12 * np.trace(stats.cov) * 7


def test_feature_stats_errors():
    stats = FeatureStats().update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.cov
    with pytest.raises(ValueError, match="dimension changed from 3 to 4"):
        stats.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        stats.update(np.full((2, 3), np.nan))


@pytest.mark.parametrize("keep", [False, True])
def test_feature_stats_save_load_round_trip(tmp_path, keep):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20, 5))
    stats = FeatureStats(keep_features=keep).update(x[:8]).update(x[8:])
    path = tmp_path / "sub" / "stats.npz"
    stats.save(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["stats.npz"]  # no temp file left
    loaded = FeatureStats.load(path)
    assert loaded.n == 20
    np.testing.assert_array_equal(loaded.mean, stats.mean)
    np.testing.assert_array_equal(loaded.cov, stats.cov)
    if keep:
        np.testing.assert_array_equal(loaded.features, x)
    else:
        assert loaded.features is None
    # a loaded file keeps accumulating exactly
    loaded.update(x)
    np.testing.assert_allclose(loaded.cov, np.cov(np.concatenate([x, x]), rowvar=False), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


def kid_direct(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² with k(a, b) = (aᵀb/D + 1)³, written as the double sums of its definition."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_definition_and_torch_fidelity():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4)) + 0.7
    mean, std = kernel_inception_distance(x, y, subsets=3, subset_size=30)
    assert mean == pytest.approx(kid_direct(x, y), rel=1e-10)
    assert std < 1e-12  # every "subset" is the whole (permuted) set

    x, y = rng.normal(size=(200, 16)), rng.normal(size=(150, 16)) + 0.3
    ours = kernel_inception_distance(x, y, subsets=20, subset_size=50, seed=7)
    ref = kid_features_to_metric(
        torch.from_numpy(x), torch.from_numpy(y), kid_subsets=20, kid_subset_size=50, rng_seed=7, verbose=False,
        kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1,
    )
    assert ours[0] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-10)
    assert ours[1] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-10)


def test_kid_identical_near_zero_shifted_positive():
    rng = np.random.default_rng(7)
    x, x2 = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same = kernel_inception_distance(x, x, subsets=50, subset_size=100)
    same_law = kernel_inception_distance(x, x2, subsets=50, subset_size=100)
    shifted = kernel_inception_distance(x, x2 + 0.5, subsets=50, subset_size=100)
    # unbiased for independent samples: zero up to subset noise ...
    assert abs(same_law[0]) < 3 * same_law[1] / math.sqrt(50)
    # ... while literally shared points enter K_XY with k(x, x) and bias it slightly negative
    assert -0.1 < same[0] < 0
    assert shifted[0] > 0.5 and shifted[0] > 10 * abs(same[0])
    with pytest.raises(ValueError, match="subset_size 500"):
        kernel_inception_distance(x, x, subset_size=500)


# --------------------------------------------------------------------------------------------
# Generic extractor path: registry, uint8 convention, dataset stats cache
# --------------------------------------------------------------------------------------------


class CountingNet(torch.nn.Module):
    """A tiny 'project-trained' feature network: mean colour and a linear map of a 4×4 pooling."""

    def __init__(self, seed=0):
        super().__init__()
        self.proj = torch.nn.Linear(48, 6)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(seed))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        assert x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
        return self.proj(torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1))


def images(n, seed, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_images_to_uint8_inverts_dataset_normalisation():
    u = torch.arange(256, dtype=torch.uint8).repeat(3, 1).reshape(1, 3, 16, 16)
    assert torch.equal(images_to_uint8(u.float() / 127.5 - 1), u)
    assert images_to_uint8(torch.tensor([-5.0, 5.0]).reshape(1, 1, 1, 2).expand(1, 3, 1, 2)).tolist() == [
        [[[0, 255]]] * 3
    ]
    with pytest.raises(TypeError, match="float tensor"):
        images_to_uint8(u)


def test_register_feature_extractor(monkeypatch):
    monkeypatch.setattr(features_mod, "_REGISTRY", dict(features_mod._REGISTRY))
    register_feature_extractor("fd-proc-test", lambda seed=0: CountingNet(seed))
    ext = get_feature_extractor("fd-proc-test", seed=1)
    assert isinstance(ext, FeatureExtractor) and ext.name == "fd-proc-test"
    assert ext.metric_name == "FD-fd-proc-test"
    assert ext(images(3, 0)).shape == (3, 6) and ext(images(3, 0)).dtype == torch.float64
    with pytest.raises(ValueError, match="already registered"):
        register_feature_extractor("fd-proc-test", CountingNet)
    register_feature_extractor("fd-proc-test", CountingNet, replace=True)
    with pytest.raises(KeyError, match="fd-proc-unknown"):
        get_feature_extractor("fd-proc-unknown")
    assert INCEPTION_NAME in features_mod._REGISTRY


def test_compute_feature_stats_sources_agree():
    data = images(10, 3)
    ext = FeatureExtractor("counting", CountingNet())
    from_fn = compute_feature_stats(lambda b: data[:b], ext, n=4, batch_size=3, keep_features=True, progress=False)
    loader = torch.utils.data.DataLoader(TensorDataset(data), batch_size=3)
    from_loader = compute_feature_stats(loader, ext, n=7, batch_size=3, keep_features=True, progress=False)
    assert from_fn.n == 4 and from_loader.n == 7
    np.testing.assert_allclose(from_loader.features[:3], from_fn.features[:3], rtol=1e-6)
    with pytest.raises(ValueError, match="ran out after 10 images"):
        compute_feature_stats(loader, ext, n=11, batch_size=3, progress=False)
    with pytest.raises(ValueError, match="not a Dataset"):
        compute_feature_stats(TensorDataset(data).tensors[0], ext, n=2, progress=False)


def test_dataset_feature_stats_cached_once(tmp_path):
    dataset = TensorDataset(images(12, 5))
    net = CountingNet()
    ext = FeatureExtractor("counting", net)
    first = dataset_feature_stats(dataset, ext, n=10, batch_size=4, cache_dir=tmp_path, cache_key="toyset",
                                  progress=False)
    assert net.calls == 3
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("toyset-16x16-n10-counting-")
    second = dataset_feature_stats(dataset, ext, n=10, batch_size=4, cache_dir=tmp_path, cache_key="toyset",
                                   progress=False)
    assert net.calls == 3  # loaded, not recomputed
    np.testing.assert_array_equal(second.mean, first.mean)
    np.testing.assert_array_equal(second.cov, first.cov)
    # a different n, different weights, or a request for raw features recompute
    dataset_feature_stats(dataset, ext, n=12, batch_size=4, cache_dir=tmp_path, cache_key="toyset", progress=False)
    assert net.calls == 6
    other = FeatureExtractor("counting", CountingNet(seed=9))
    dataset_feature_stats(dataset, other, n=10, batch_size=4, cache_dir=tmp_path, cache_key="toyset", progress=False)
    assert other.module.calls == 3 and len(list(tmp_path.iterdir())) == 3
    with_feats = dataset_feature_stats(dataset, ext, n=10, batch_size=4, cache_dir=tmp_path, cache_key="toyset",
                                       keep_features=True, progress=False)
    assert net.calls == 9 and with_feats.features.shape == (10, 6)
    with pytest.raises(ValueError, match="cache_key"):
        dataset_feature_stats(dataset, ext, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="n = 13"):
        dataset_feature_stats(dataset, ext, n=13, progress=False)


# --------------------------------------------------------------------------------------------
# Canonical networks: real architectures, random weight files
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A state dict of torch-fidelity's inception-v3-compat with random He-scaled weights."""
    with mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None):
        arch = tf_inception.FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048"])
    gen = torch.Generator().manual_seed(0)
    state = {}
    for key, t in arch.state_dict().items():
        if t.ndim == 4:  # conv: keep activations O(1) through the 94 layers
            state[key] = torch.randn(t.shape, generator=gen) * math.sqrt(2.0 / t[0].numel())
        elif key.endswith("running_var") or key.endswith("bn.weight"):
            state[key] = torch.ones_like(t)
        elif t.is_floating_point():
            state[key] = torch.randn(t.shape, generator=gen) * 0.01
        else:
            state[key] = t.clone()
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(state, path)
    return path


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache and no ssnlib weight variables."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    for var in ("SSNLIB_INCEPTION_WEIGHTS", "SSNLIB_LPIPS_WEIGHTS", "SSNLIB_VGG16_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_fid_end_to_end_with_real_inception_architecture(offline, inception_weights):
    offline.setenv("SSNLIB_INCEPTION_WEIGHTS", str(inception_weights))
    ext = inception_feature_extractor(allow_download=False)
    assert ext.name == INCEPTION_NAME and ext.metric_name == "FID" and ext.input_format == "uint8"
    real = images(4, 11, size=32)  # 4 + 4 images: the 299×299 CPU forward dominates this file's runtime
    fake = images(4, 12, size=32) * 0.5 + 0.2
    seen = []  # what torch-fidelity's module receives and returns inside compute_fid
    ext.module.register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output[0])))
    gen = iter(fake.split(2))
    fid, _ = compute_fid(lambda b: next(gen), TensorDataset(real), n_gen=4, n_real=4, batch_size=2, extractor=ext,
                         n_boot=0, progress=False)
    assert len(seen) == 4  # 2 real batches, then 2 generated ones
    inputs = torch.cat([x for x, _ in seen])
    assert inputs.dtype == torch.uint8  # inception-v3-compat takes [0, 255] uint8
    torch.testing.assert_close(inputs.float(), torch.cat([real, fake]).add(1).mul(127.5).round(), atol=1, rtol=0)
    feats = torch.cat([f for _, f in seen]).double().numpy()
    assert feats.shape == (8, 2048) and feats.std(0).mean() > 1e-3  # a non-degenerate random network
    expected = exact_fd_from_features(feats[4:], feats[:4])
    assert expected > 1e-3
    assert fid == pytest.approx(expected, rel=1e-9)


def test_inception_weights_from_torch_hub_cache_and_bad_files(offline, inception_weights, tmp_path):
    cached = tmp_path / "torch-home" / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(inception_weights)
    assert inception_feature_extractor(allow_download=False).name == INCEPTION_NAME
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth does not hold the Inception"):
        inception_feature_extractor(weights_path=wrong, allow_download=False)


def test_missing_weights_offline_says_what_and_where(offline, tmp_path):
    with pytest.raises(MissingWeightsError) as err:
        inception_feature_extractor(allow_download=False)
    msg = str(err.value)
    assert "SSNLIB_INCEPTION_WEIGHTS" in msg
    assert "weights-inception-2015-12-05-6726825d.pth" in msg
    assert tf_inception.URL_INCEPTION_V3 in msg
    assert str(tmp_path / "torch-home" / "hub" / "checkpoints") in msg
    assert isinstance(err.value, RuntimeError)

    offline.setenv("SSNLIB_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(MissingWeightsError, match=r"\$SSNLIB_INCEPTION_WEIGHTS points to .*nowhere.pth"):
        inception_feature_extractor(allow_download=True)  # a wrong explicit path never falls back

    with pytest.raises(MissingWeightsError) as err:
        lpips_vgg16(allow_download=False)
    msg = str(err.value)
    for needle in ("SSNLIB_LPIPS_WEIGHTS", "SSNLIB_VGG16_WEIGHTS", "weights-vgg16-lpips.pth", "vgg16-397923af.pth"):
        assert needle in msg


def test_failed_download_is_reported_not_swallowed(offline):
    def no_network(url, *args, **kwargs):
        raise URLError("offline")

    offline.setattr(tf_inception, "load_state_dict_from_url", no_network)
    offline.delenv("SSNLIB_OFFLINE", raising=False)  # let the (mocked, network-free) download be tried
    with pytest.raises(MissingWeightsError, match="download failed: .*offline") as err:
        inception_feature_extractor(allow_download=True)
    assert "SSNLIB_INCEPTION_WEIGHTS" in str(err.value)


def test_lpips_end_to_end_with_real_vgg16_architecture(offline, tmp_path):
    gen = torch.Generator().manual_seed(0)
    heads = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen)
             for k, c in enumerate([64, 128, 256, 512, 512])}
    torch.save(heads, tmp_path / "lpips-heads.pth")
    with torch.device("meta"):  # shapes only; skips initialising the 120M-parameter classifier
        shapes = {k: v.shape for k, v in torchvision.models.vgg16(weights=None).features.state_dict().items()}
    backbone = {k: torch.randn(shape, generator=gen) * math.sqrt(2.0 / math.prod(shape[1:])) if len(shape) == 4
                else torch.zeros(shape) for k, shape in shapes.items()}
    torch.save({f"features.{k}": v for k, v in backbone.items()}, tmp_path / "vgg16.pth")
    offline.setenv("SSNLIB_LPIPS_WEIGHTS", str(tmp_path / "lpips-heads.pth"))
    offline.setenv("SSNLIB_VGG16_WEIGHTS", str(tmp_path / "vgg16.pth"))

    lpips = lpips_vgg16(allow_download=False)
    torch.testing.assert_close(lpips.lin2.model[1].weight, heads["lin2.model.1.weight"])
    torch.testing.assert_close(getattr(lpips.net.slice3, "10").weight, backbone["10.weight"])
    a = (images(2, 21, size=32) + 1) * 127.5
    b = (images(2, 22, size=32) + 1) * 127.5
    with torch.no_grad():
        assert torch.equal(lpips(a, a), torch.zeros(2))
        d_ab = lpips(a, b)
    assert d_ab.shape == (2,) and bool((d_ab > 1e-3).all())
    quantised = lpips_vgg16(allow_download=False, resize=64, input_dtype="uint8")
    with torch.no_grad():
        d_u8 = quantised(a.to(torch.uint8), b.to(torch.uint8))
    assert bool((d_u8 > 1e-3).all())
