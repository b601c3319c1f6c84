"""ProcNet (the offline feature network), FD-procnet, the LPIPS-style distance and the
global-consistency metrics — all on the shipped weights, against fresh held-out renders (seed 2000)."""

from unittest import mock

import numpy as np
import pytest
import torch

from ssnlib.data import ProceduralChurches, ProceduralFaces
from ssnlib.data import churches as churches_module
from ssnlib.data import faces as faces_module
from ssnlib.io.serialization import save_tensors
from ssnlib.metrics import compute_feature_stats, fid_from_stats, frechet_distance, get_feature_extractor
from ssnlib.metrics.attributes import attribute_coverage, attribute_predictions, class_frequencies
from ssnlib.metrics.consistency import THRESHOLDS, church_consistency, face_consistency, threshold
from ssnlib.metrics.procnet import (
    HELD_OUT_SEED,
    PART_NAMES,
    ProcNet,
    default_weights_path,
    load_procnet,
    proc_perceptual_distance,
    shipped_procnet,
)
from ssnlib.train_procnet import evaluate_procnet, train_procnet

N = 200
# held-out accuracy of the shipped weights minus a margin; measured on 1000 images per dataset
# (metadata "held_out_metrics", 32 px / 64 px): eye colour .971 / .994, glasses .997 / .997,
# n_towers .999 / 1.0, style 1.0 / 1.0, hair colour .913 / .916, n_trees .836 / .829
MIN_ACCURACY = {
    "domain": 0.99, "face/glasses": 0.96, "face/eye_color": 0.93, "face/expression": 0.95,
    "face/hair_style": 0.95, "face/hair_color": 0.88, "face/skin_tone": 0.97, "face/background": 0.97,
    "church/style": 0.97, "church/n_towers": 0.97, "church/roof": 0.95, "church/sky": 0.97,
    "church/ground": 0.97, "church/clouds": 0.9, "church/n_trees": 0.75,
}


def as_images(uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(uint8).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def render(cls, resolution: int, n: int = N, start: int = 0) -> torch.Tensor:
    return as_images(cls(resolution, length=start + n, seed=HELD_OUT_SEED).render_batch(range(start, start + n))[0])


@pytest.fixture(scope="module")
def net() -> ProcNet:
    return shipped_procnet()


@pytest.fixture(scope="module")
def faces64() -> torch.Tensor:
    return render(ProceduralFaces, 64)


# ---------------------------------------------------------------- weights, loading, registration


def test_shipped_weights_are_small_and_self_describing(net):
    path = default_weights_path()
    assert path.is_file() and path.stat().st_size < 2 * 2**20
    meta = net.metadata
    assert meta["class"] == "ProcNet" and meta["config"]["part_names"] == list(PART_NAMES)
    assert meta["training"]["train_seed"] == 1000 and meta["training"]["held_out_seed"] == HELD_OUT_SEED
    assert set(meta["held_out_metrics"]) == {"32px", "64px"}
    assert not any(p.requires_grad for p in net.parameters())


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_procnet(missing)
    other = tmp_path / "other.safetensors"
    save_tensors(other, {"w": torch.zeros(2)}, {"class": "SSNGenerator", "config": {}})
    with pytest.raises(ValueError, match="other.safetensors"):
        load_procnet(other)


def test_registered_extractor_is_labelled_fd_procnet():
    extractor = get_feature_extractor("procnet")
    assert extractor.name == "procnet"
    assert extractor.metric_name == "FD-procnet"
    assert extractor.input_format == "float"


# ---------------------------------------------------------------- heads and segmentation


@pytest.mark.parametrize("resolution", [32, 64])
def test_held_out_attribute_accuracy(net, resolution):
    metrics = evaluate_procnet(net, n=N, resolutions=(resolution,))[f"{resolution}px"]
    assert set(MIN_ACCURACY) == set(net.heads)
    for name, low in MIN_ACCURACY.items():
        assert metrics[f"acc/{name}"] >= low, (name, metrics[f"acc/{name}"])
    for domain in ("face", "church"):  # measured: pixel accuracy .957–.974, mIoU .753–.877
        assert metrics[f"{domain}/seg_pixel_acc"] >= 0.93
        assert metrics[f"{domain}/seg_miou"] >= 0.7


@pytest.mark.parametrize("resolution", [16, 48, 64, 128])
def test_outputs_follow_the_input_resolution(net, resolution):
    x = torch.rand(2, 3, resolution, resolution) * 2 - 1
    seg = net.segment(x)
    assert seg.shape == (2, resolution, resolution) and seg.dtype == torch.int64
    face_parts = net.segment(x, domain="face")
    assert all(PART_NAMES[i].startswith("face/") for i in face_parts.unique().tolist())
    assert net.features(x).shape == (2, 256)
    assert [f.shape[-1] for f in net.multiscale_features(x)] == [64, 32, 16, 8, 4]


def test_segmentation_matches_ground_truth(net):
    images, _, truth = ProceduralChurches(64, length=50, seed=HELD_OUT_SEED).render_batch(range(50))
    pred = net.segment(as_images(images), domain="church")
    expected = torch.from_numpy(truth).long() + PART_NAMES.index("church/sky")
    assert (pred == expected).float().mean() > 0.9


def test_bad_inputs_are_rejected(net):
    with pytest.raises(ValueError, match="16–256"):
        net.features(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        net.features(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="domain"):
        net.segment(torch.zeros(1, 3, 32, 32), domain="cat")


# ---------------------------------------------------------------- FD-procnet


def test_fd_procnet_separates_datasets(net):
    n = 400  # FD's small-sample bias ∝ 1/n: faces vs faces is ≈ 61 at n = 200, 26 at 500, 12 at 1000
    faces = render(ProceduralFaces, 32, 2 * n)
    churches = render(ProceduralChurches, 32, n)
    extractor = get_feature_extractor("procnet")
    stats = {name: compute_feature_stats(iter(x.split(100)), extractor, n, progress=False)
             for name, x in (("a", faces[:n]), ("b", faces[n:]), ("c", churches))}
    same, different = fid_from_stats(stats["a"], stats["b"]), fid_from_stats(stats["a"], stats["c"])
    assert different > 20 * same, (same, different)  # measured: 32 vs 1040


def test_fd_procnet_through_feature_stats_equals_direct_computation(net, faces64):
    a, b = faces64[:100], faces64[100:]
    extractor = get_feature_extractor("procnet")
    via_stats = fid_from_stats(*(compute_feature_stats(iter(x.split(30)), extractor, 100, progress=False)
                                 for x in (a, b)))
    with torch.no_grad():
        fa, fb = net.features(a).double().numpy(), net.features(b).double().numpy()
    direct = frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    assert via_stats == pytest.approx(direct, rel=1e-6)


# ---------------------------------------------------------------- perceptual distance


def test_perceptual_distance_zero_on_identity_and_grows_with_noise(net, faces64):
    x = faces64[:8]
    assert torch.equal(proc_perceptual_distance(x, x, net), torch.zeros(8))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    sigmas = (0.02, 0.05, 0.1, 0.2, 0.4)
    d = torch.stack([proc_perceptual_distance(x, (x + s * noise).clamp(-1, 1), net) for s in sigmas])
    assert (d[0] > 0).all() and (d.diff(dim=0) > 0).all()
    y = x.clone().requires_grad_(True)
    black = torch.full_like(x, -1.0).requires_grad_(True)
    loss = proc_perceptual_distance(x, (y + 0.1 * noise).clamp(-1, 1), net) + proc_perceptual_distance(x, black, net)
    loss.sum().backward()
    assert y.grad.abs().sum() > 0 and torch.isfinite(y.grad).all() and torch.isfinite(black.grad).all()


def test_perceptual_distance_checks_shapes(net):
    with pytest.raises(ValueError, match="shapes differ"):
        proc_perceptual_distance(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 64, 64), net)


# ---------------------------------------------------------------- global consistency


def left_of_face(segmentation: np.ndarray) -> np.ndarray:
    """(B, H, W) mask of the pixels left of each face's midline (ground-truth skin)."""
    cols = np.arange(segmentation.shape[-1])
    mids = [np.nonzero(s == ProceduralFaces.PARTS.index("skin"))[1].mean() for s in segmentation]
    return cols[None, None, :] < np.array(mids)[:, None, None]


@pytest.mark.parametrize("resolution", [32, 64])
def test_face_consistency_high_on_real_and_flags_edits(net, resolution):
    ds = ProceduralFaces(resolution, length=N, seed=HELD_OUT_SEED)
    images, labels, seg = ds.render_batch(range(N))
    real = face_consistency(as_images(images), net)
    assert real["rates"]["eye_colour_match"] >= 0.97 and real["rates"]["glasses_consistent"] >= 0.97
    assert real["rates"]["eyes_detected"] == 1.0

    # the first 100 faces with another iris colour, composited onto the left half: one eye recoloured
    edit = range(100)
    left = left_of_face(seg[:100])[..., None]
    with mock.patch.object(faces_module, "IRIS", np.roll(faces_module.IRIS, 1, axis=0)):
        recoloured, _, _ = ds.render_batch(edit)
    edited = face_consistency(as_images(np.where(left, recoloured, images[:100])), net)
    flagged = 1 - edited["rates"]["eye_colour_match"]
    assert flagged >= (0.8 if resolution >= 64 else 0.15), flagged  # an iris is about a pixel at 32 px

    # glasses erased on the left side only
    with_glasses = labels["glasses"][:100] == 1
    with mock.patch.object(faces_module, "_glasses", lambda *args, **kwargs: None):
        bare, _, _ = ds.render_batch(edit)
    half = np.where(left, bare, images[:100])[with_glasses]
    assert 1 - face_consistency(as_images(half), net)["rates"]["glasses_consistent"] >= 0.9


@pytest.mark.parametrize("resolution", [32, 64])
def test_church_consistency_high_on_real_and_flags_recoloured_tower(net, resolution):
    ds = ProceduralChurches(resolution, length=N, seed=HELD_OUT_SEED)
    images, labels, seg = ds.render_batch(range(N))
    real = church_consistency(as_images(images), net)
    assert real["rates"]["wall_match"] >= 0.97 and real["rates"]["roof_match"] >= 0.97
    assert real["rates"]["towers_detected"] >= 0.9 * (labels["n_towers"] > 0).mean()

    # the same churches in another style; the leftmost tower (and its windows) pasted in
    with mock.patch.object(churches_module, "STYLES", churches_module.STYLES[1:] + churches_module.STYLES[:1]):
        restyled, _, _ = ds.render_batch(range(N))
    tower, window = (ProceduralChurches.PARTS.index(p) for p in ("tower", "window_door"))
    edited = []
    for image, other, s in zip(images[labels["n_towers"] > 0], restyled[labels["n_towers"] > 0],
                               seg[labels["n_towers"] > 0]):
        cols = np.flatnonzero((s == tower).any(0))
        gaps = np.flatnonzero(np.diff(cols) > 1)
        stop = cols[gaps[0]] + 1 if gaps.size else cols[-1] + 1
        x = np.arange(s.shape[1])
        paste = np.isin(s, (tower, window)) & ((cols[0] <= x) & (x < stop))[None, :]
        edited.append(np.where(paste[..., None], other, image))
    flagged = 1 - church_consistency(as_images(np.stack(edited)), net)["rates"]["consistent"]
    assert flagged >= 0.9, flagged


def test_thresholds_pick_the_nearest_calibrated_resolution():
    assert threshold("eye_colour", 16) == THRESHOLDS["eye_colour"][32]
    assert threshold("eye_colour", 256) == THRESHOLDS["eye_colour"][64]
    assert threshold("tower_wall", 40) == THRESHOLDS["tower_wall"][32]


# ---------------------------------------------------------------- training


def test_training_is_deterministic_and_round_trips(tmp_path):
    kwargs = dict(n_train=8, resolutions=(16, 24), steps=3, batch_size=4, n_held_out=4, progress=False)
    net_a, report_a = train_procnet(tmp_path / "a.safetensors", seed=3, **kwargs)
    _, report_b = train_procnet(None, seed=3, **kwargs)
    _, report_c = train_procnet(None, seed=4, **kwargs)
    assert report_a["losses"] == report_b["losses"] and report_a["losses"] != report_c["losses"]
    assert np.isfinite(report_a["losses"]).all()
    loaded = load_procnet(tmp_path / "a.safetensors")
    x = torch.rand(2, 3, 24, 24) * 2 - 1
    torch.testing.assert_close(loaded.features(x), net_a.features(x))
    assert loaded.metadata["held_out_metrics"] == report_a["held_out_metrics"]


# ---------------------------------------------------------------- attribute coverage


def test_attribute_coverage_in_closed_form(net):
    faces = render(ProceduralFaces, 32)
    same = attribute_coverage(faces, faces, "face", net)
    assert set(same) == set(ProceduralFaces.ATTRIBUTES) and all(c["tv"] == 0 for c in same.values())
    assert same["glasses"]["classes"] == ("no", "yes")
    predicted = attribute_predictions(faces, "face", net)
    p = class_frequencies(predicted, "face")["eye_color"]
    assert p.sum() == pytest.approx(1) and len(p) == ProceduralFaces.ATTRIBUTES["eye_color"]
    # drop every image of one eye colour: the mix renormalises over the others, TV = that class's share
    c = int(np.argmax(p))
    kept = faces[torch.from_numpy(predicted["eye_color"] != c)]
    dropped = attribute_coverage(kept, faces, "face", net)["eye_color"]
    assert dropped["generated"][c] == 0 and dropped["tv"] == pytest.approx(p[c], rel=1e-12)
    with pytest.raises(ValueError, match=r"fake: expected images \(B, 3, H, W\)"):
        attribute_coverage(faces[:, :1], faces, "face", net)
    with pytest.raises(ValueError, match="unknown domain 'faces'"):
        attribute_predictions(faces, "faces", net)
