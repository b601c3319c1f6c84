"""ssnlib.data: procedural faces/churches, image folder/zip/LMDB loaders, errors, cache, export."""

import io
import json
import logging
import zipfile

import lmdb
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ssnlib.data import (
    RENDER_VERSION,
    DatasetError,
    ImageFolderDataset,
    LMDBImageDataset,
    ProceduralChurches,
    ProceduralFaces,
    ZipImageDataset,
    export_pngs,
    open_dataset,
)
from ssnlib.data.churches import STYLES
from ssnlib.data.faces import HAIR_STYLES

PROCEDURAL = [ProceduralFaces, ProceduralChurches]
FACE = {name: i for i, name in enumerate(ProceduralFaces.PARTS)}
CHURCH = {name: i for i, name in enumerate(ProceduralChurches.PARTS)}


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)


def assert_item(ds, index: int, expected: np.ndarray) -> None:
    """Item `index` is exactly the uint8 image `expected`, as a float tensor in [-1, 1]."""
    np.testing.assert_array_equal(ds.image(index), expected)
    torch.testing.assert_close(ds[index], as_tensor(expected), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def faces64():
    return ProceduralFaces(64, length=1000, seed=0).render_batch(range(200))


@pytest.fixture(scope="module")
def churches32():
    return ProceduralChurches(32, length=1000, seed=0).render_batch(range(300))


@pytest.fixture(scope="module")
def churches64():
    return ProceduralChurches(64, length=1000, seed=0).render_batch(range(200))


# ---------------------------------------------------------------- procedural: generic behaviour


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_render_is_deterministic_and_independent_of_access_order(cls):
    a = cls(32, length=50, seed=3)
    first = a.render(17)
    for i in (40, 2, 17, 9):
        a.render(i)
    again, fresh, longer = a.render(17), cls(32, length=50, seed=3).render(17), cls(32, length=999, seed=3).render(17)
    for other in (again, fresh, longer):
        assert other.image.tobytes() == first.image.tobytes()
        assert other.segmentation.tobytes() == first.segmentation.tobytes()
        assert other.labels == first.labels
    images, labels, segs = a.render_batch([17, 3])
    assert images[0].tobytes() == first.image.tobytes() and segs[0].tobytes() == first.segmentation.tobytes()
    assert {k: int(v[0]) for k, v in labels.items()} == first.labels
    assert images.dtype == np.uint8 and segs.dtype == np.uint8
    assert all(v.dtype == np.int64 and v.shape == (2,) for v in labels.values())


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_different_indices_and_seeds_differ(cls):
    images, _, _ = cls(32, length=20, seed=0).render_batch(range(20))
    flat = images.reshape(20, -1).astype(np.int16)
    distance = np.abs(flat[:, None] - flat[None]).mean(-1)
    assert distance[~np.eye(20, dtype=bool)].min() > 3.0
    other = cls(32, length=20, seed=1).render(0).image
    assert np.abs(other.astype(np.int16) - images[0]).mean() > 3.0


@pytest.mark.parametrize("resolution", [16, 32, 64])
@pytest.mark.parametrize("cls", PROCEDURAL)
def test_items_are_float_images_in_range_with_valid_parts_and_labels(cls, resolution):
    ds = cls(resolution, length=10, seed=0)
    for i in range(3):
        x = ds[i]
        assert x.dtype == torch.float32 and x.shape == (3, resolution, resolution)
        assert -1.0 <= x.min() and x.max() <= 1.0 and x.std() > 0.2
        sample = ds.render(i)
        assert torch.allclose(x, as_tensor(sample.image), atol=1e-6)
        assert sample.image.shape == (resolution, resolution, 3) and sample.image.dtype == np.uint8
        assert sample.segmentation.shape == (resolution, resolution) and sample.segmentation.dtype == np.uint8
        assert sample.segmentation.max() < len(cls.PARTS)
        assert sample.labels.keys() == cls.ATTRIBUTES.keys()
        assert all(0 <= sample.labels[k] < n for k, n in cls.ATTRIBUTES.items())


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_labels_do_not_depend_on_resolution(cls):
    small, large = cls(16, length=30), cls(64, length=30)
    assert all(small.render(i).labels == large.render(i).labels for i in range(0, 30, 7))


@pytest.mark.parametrize("cls", PROCEDURAL)
def test_every_class_of_every_attribute_appears_in_500_samples(cls):
    _, labels, _ = cls(16, length=500, seed=0).render_batch(range(500))
    for name, n in cls.ATTRIBUTES.items():
        counts = np.bincount(labels[name], minlength=n)
        assert len(counts) == n, name
        assert counts.min() >= 0.5 * 500 / n, (name, counts)  # roughly balanced, not just present


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="resolution"):
        ProceduralFaces(resolution=4)
    with pytest.raises(ValueError, match="seed"):
        ProceduralChurches(seed=-1)
    with pytest.raises(IndexError, match="out of range"):
        ProceduralFaces(16, length=5)[5]
    with pytest.raises(ValueError, match="n must be"):
        ProceduralFaces(16, length=5).cached(6)


# ---------------------------------------------------------------- procedural faces


def _eye_means(image: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Mean colour of the left and right eye (eye pixels split at the middle of their span)."""
    ys, xs = np.nonzero(seg == FACE["eyes"])
    mid = (xs.min() + xs.max()) / 2
    return np.stack([image[ys[m], xs[m]].astype(float).mean(0) for m in (xs < mid, xs > mid)])


def test_faces_both_eyes_share_one_colour(faces64):
    images, labels, segs = faces64
    eyes = np.stack([_eye_means(im, sg) for im, sg in zip(images, segs)])  # (n, 2 eyes, rgb)
    within = np.abs(eyes[:, 0] - eyes[:, 1]).max(-1)
    assert within.max() < 20.0
    # The statistic does see eye colour: pairing a left eye with another face's right eye of a
    # different colour gives differences well above the threshold.
    other = np.roll(np.arange(len(eyes)), 7)
    mismatch = labels["eye_color"] != labels["eye_color"][other]
    across = np.abs(eyes[:, 0] - eyes[other, 1]).max(-1)[mismatch]
    assert np.median(across) > 30.0 and (across > 20.0).mean() > 0.95


def test_faces_glasses_span_both_eyes(faces64):
    _, labels, segs = faces64
    for glasses, seg in zip(labels["glasses"], segs):
        xs = np.nonzero(seg == FACE["glasses"])[1]
        if glasses:
            eyes = np.nonzero(seg == FACE["eyes"])[1]
            mid = (eyes.min() + eyes.max()) / 2
            assert xs.min() < eyes.min() and xs.max() > eyes.max()
            assert (xs < mid - 2).sum() > 20 and (xs > mid + 2).sum() > 20
        else:
            assert len(xs) == 0
    assert 50 < labels["glasses"].sum() < 150


def test_faces_hair_sits_in_the_top_part(faces64):
    _, labels, segs = faces64
    hair = segs == FACE["hair"]
    bald = labels["hair_style"] == HAIR_STYLES.index("bald")
    assert not hair[bald].any()
    assert hair[~bald].sum((1, 2)).min() > 200
    rows = np.nonzero(hair)[1]
    assert (rows < 32).mean() > 0.75
    centroids = [np.nonzero(h)[0].mean() for h in hair[~bald]]
    assert max(centroids) < 0.56 * 64


# ---------------------------------------------------------------- procedural churches


def test_churches_towers_and_trees_present_exactly_when_counted(churches32):
    _, labels, segs = churches32
    towers = (segs == CHURCH["tower"]).any((1, 2))
    trees = (segs == CHURCH["tree"]).any((1, 2))
    np.testing.assert_array_equal(towers, labels["n_towers"] > 0)
    np.testing.assert_array_equal(trees, labels["n_trees"] > 0)
    pixels = (segs == CHURCH["tower"]).sum((1, 2))
    assert np.median(pixels[labels["n_towers"] == 2]) > np.median(pixels[labels["n_towers"] == 1])


def test_churches_layout_sky_above_ground_below(churches32):
    _, _, segs = churches32
    assert (segs[:, 0] == CHURCH["sky"]).all()
    assert (segs[:, -1] == CHURCH["ground"]).all()
    for part in ("building", "roof", "window_door"):
        assert (segs == CHURCH[part]).any((1, 2)).all(), part


def test_churches_one_style_per_building(churches64):
    images, labels, segs = churches64
    walls = np.array([s.wall for s in STYLES]) * 255
    roofs = np.array([s.roof for s in STYLES]) * 255
    for image, seg, style in zip(images, segs, labels["style"]):
        wall = np.median(image[seg == CHURCH["building"]], 0)
        roof = np.median(image[seg == CHURCH["roof"]], 0)
        assert np.abs(walls - wall).max(1).argmin() == style
        assert np.abs(roofs - roof).max(1).argmin() == style
        ys, xs = np.nonzero(seg == CHURCH["tower"])
        if len(ys):  # tower bodies (the lower half of tower pixels) are built of the same wall
            low = ys > np.median(ys)
            tower = np.median(image[ys[low], xs[low]], 0)
            assert np.abs(0.9 * walls - tower).max(1).argmin() == style


# ---------------------------------------------------------------- render cache


def test_cached_renders_once_then_loads(tmp_path, monkeypatch):
    ds = ProceduralFaces(16, length=100, seed=2)
    cached = ds.cached(6, cache_dir=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert [f.name for f in files] == [f"ProceduralFaces-res16-seed2-n6-v{RENDER_VERSION}.npz"]
    images, labels, segs = ds.render_batch(range(6))
    np.testing.assert_array_equal(cached.images, images)
    np.testing.assert_array_equal(cached.segmentations, segs)
    assert len(cached) == 6 and torch.equal(cached[4], ds[4]) and cached.render(4).labels == ds.render(4).labels

    def no_render(self, index):
        raise AssertionError("should load from the cache")

    monkeypatch.setattr(ProceduralFaces, "render", no_render)
    monkeypatch.setenv("SSNLIB_CACHE", str(tmp_path))
    loaded = ProceduralFaces(16, length=100, seed=2).cached(6)
    np.testing.assert_array_equal(loaded.images, images)
    np.testing.assert_array_equal(loaded.labels["hair_style"], labels["hair_style"])


def test_corrupt_cache_file_is_a_clear_error(tmp_path):
    ds = ProceduralChurches(16, length=10)
    ds.cache_path(4, tmp_path).write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="ProceduralChurches-res16-seed0-n4"):
        ds.cached(4, cache_dir=tmp_path)


# ---------------------------------------------------------------- image files: helpers


def noise_image(w: int, h: int, seed: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 200, w)[None, :, None] + np.linspace(0, 50, h)[:, None, None]
    array = np.clip(base + rng.integers(0, 56, (h, w, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(array).convert(mode)


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def reference(data: bytes, resolution: int) -> np.ndarray:
    """Centre crop + box resize, written out independently of the library."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(img.resize((resolution, resolution), Image.BOX))


# Name -> encoded bytes: varied sizes, aspect ratios and modes (RGBA, grey, palette, JPEG).
SOURCES = {
    "a/img0.png": encode(noise_image(40, 30, 0)),
    "a/img1.png": encode(noise_image(32, 32, 1, "RGBA")),
    "b/c/img2.png": encode(noise_image(20, 50, 2, "L")),
    "b/img3.jpg": encode(noise_image(64, 48, 3), "JPEG"),
    "img4.png": encode(noise_image(33, 33, 4, "P")),
}
ORDER = sorted(SOURCES)
RES = 16


def write_folder(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.writestr("dataset.json", json.dumps({"labels": None}))
    return path


def write_lmdb(path, entries):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key, value in entries.items():
            txn.put(key, value)
    env.close()
    return path


def expected_stack(resolution=RES):
    return [reference(SOURCES[name], resolution) for name in ORDER]


# ---------------------------------------------------------------- image files: round trips


def test_folder_dataset_round_trips_recursively_and_sorted(tmp_path):
    root = write_folder(tmp_path / "imgs", {**SOURCES, "notes.txt": b"ignore me"})
    ds = ImageFolderDataset(root, RES)
    assert ds.keys == ORDER and len(ds) == 5
    for i, ref in enumerate(expected_stack()):
        assert_item(ds, i, ref)
    assert ds[0].dtype == torch.float32 and ds[0].shape == (3, RES, RES)


def test_xflip_doubles_the_length_with_mirrored_copies(tmp_path):
    ds = ImageFolderDataset(write_folder(tmp_path / "imgs", SOURCES), RES, xflip=True)
    assert len(ds) == 10
    for i in range(5):
        assert torch.equal(ds[5 + i], ds[i].flip(-1))
        assert not torch.equal(ds[5 + i], ds[i])
    with pytest.raises(IndexError):
        ds[10]


def test_zip_dataset_round_trips_stylegan2_ada_layout(tmp_path):
    files = {f"{i // 1000:05d}/img{i:08d}.png": SOURCES[name] for i, name in enumerate(ORDER)}
    ds = ZipImageDataset(write_zip(tmp_path / "data.zip", files), RES)
    assert ds.keys == sorted(files)
    for i, ref in enumerate(expected_stack()):
        assert_item(ds, i, ref)


def test_lmdb_dataset_reads_rosinality_layout_at_the_stored_size(tmp_path):
    entries = {b"length": b"5"}
    for size in (16, 32):
        for i, name in enumerate(ORDER):
            entries[f"{size}-{str(i).zfill(5)}".encode()] = encode(Image.fromarray(reference(SOURCES[name], size)))
    path = write_lmdb(tmp_path / "lmdb", entries)
    for size in (16, 32):
        ds = LMDBImageDataset(path, size)
        assert len(ds) == 5
        for i, ref in enumerate(expected_stack(size)):
            assert_item(ds, i, ref)
    with pytest.raises(DatasetError, match="stored sizes: 16, 32"):
        LMDBImageDataset(path, 24)


@pytest.mark.parametrize("key_format", ["{}", "{:08d}"])
def test_lmdb_dataset_reads_sequential_keys_in_numeric_order(tmp_path, key_format):
    images = [noise_image(16, 16, seed) for seed in range(12)]
    path = write_lmdb(tmp_path / "lmdb", {key_format.format(i).encode(): encode(im) for i, im in enumerate(images)})
    ds = LMDBImageDataset(path, 16)
    assert len(ds) == 12
    for i in (0, 2, 10, 11):
        assert_item(ds, i, np.asarray(images[i]))


def test_containers_survive_dataloader_workers(tmp_path):
    zip_ds = ZipImageDataset(write_zip(tmp_path / "d.zip", SOURCES), RES)
    entries = {str(i).encode(): SOURCES[name] for i, name in enumerate(ORDER)}
    lmdb_ds = LMDBImageDataset(write_lmdb(tmp_path / "lmdb", entries), RES)
    expected = torch.stack([as_tensor(r) for r in expected_stack()])
    for ds in (zip_ds, lmdb_ds):
        ds[0]  # opens the container in this process before the workers fork
        batches = list(DataLoader(ds, batch_size=2, num_workers=2))
        torch.testing.assert_close(torch.cat(batches), expected, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- image files: bad input

GOOD = encode(noise_image(24, 24, 9))
BAD = {
    "corrupt.png": GOOD[:16] + bytes(range(256)) * 4,
    "truncated.png": GOOD[: len(GOOD) // 2],
    "truncated.jpg": encode(noise_image(48, 48, 5), "JPEG")[:600],
    "text.jpg": b"this is not an image at all\n" * 10,
    "small.png": encode(noise_image(12, 40, 6)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_file_is_a_clear_error_naming_the_file(tmp_path, name):
    ds = ImageFolderDataset(write_folder(tmp_path / "imgs", {"0good.png": GOOD, name: BAD[name]}), RES)
    ds[0]
    with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
        ds[1]


@pytest.mark.parametrize("name", sorted(BAD))
def test_skip_bad_skips_each_bad_file_up_front(tmp_path, name, caplog):
    root = write_folder(tmp_path / "imgs", {"0good.png": GOOD, name: BAD[name]})
    with caplog.at_level(logging.WARNING, logger="ssnlib.data.images"):
        ds = ImageFolderDataset(root, RES, skip_bad=True)
    assert len(ds) == 1 and ds.keys == ["0good.png"]
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith(name)
    assert "skipped 1 bad image(s) of 2" in caplog.text


def test_skip_bad_counts_all_bad_files(tmp_path):
    root = write_folder(tmp_path / "imgs", {**BAD, **SOURCES})
    ds = ImageFolderDataset(root, RES, skip_bad=True)
    assert len(ds) == len(SOURCES) and len(ds.skipped) == len(BAD)
    assert sorted(path.rsplit("/", 1)[1] for path, _ in ds.skipped) == sorted(BAD)
    assert any("smaller than the requested resolution 16" in reason for _, reason in ds.skipped)
    # With a cap, the scan stops at the first `max_images` good files (sorted order).
    capped = ImageFolderDataset(root, RES, skip_bad=True, max_images=5)
    assert capped.keys == ORDER and [path.rsplit("/", 1)[1] for path, _ in capped.skipped] == ["corrupt.png"]


def test_bad_zip_member_and_lmdb_value_name_member_and_key(tmp_path):
    zip_ds = ZipImageDataset(write_zip(tmp_path / "d.zip", {"x/ok.png": GOOD, "x/truncated.png": BAD["truncated.png"]}),
                             RES)
    with pytest.raises(DatasetError, match=r"d\.zip.*x/truncated\.png"):
        zip_ds[1]
    assert len(ZipImageDataset(tmp_path / "d.zip", RES, skip_bad=True)) == 1
    lmdb_ds = LMDBImageDataset(write_lmdb(tmp_path / "lmdb", {b"0": GOOD, b"1": b"garbage"}), RES)
    with pytest.raises(DatasetError, match=r"lmdb.*key 1\)"):
        lmdb_ds[1]


def test_missing_and_empty_datasets_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist: .*nowhere"):
        ImageFolderDataset(tmp_path / "nowhere", RES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found in .*empty"):
        ImageFolderDataset(tmp_path / "empty", RES)
    with pytest.raises(DatasetError, match=r"no images found in .*empty\.zip"):
        ZipImageDataset(write_zip(tmp_path / "empty.zip", {}), RES)
    with pytest.raises(DatasetError, match="no images found in .*emptydb"):
        LMDBImageDataset(write_lmdb(tmp_path / "emptydb", {}), RES)
    (tmp_path / "fake.zip").write_bytes(b"PK nonsense")
    with pytest.raises(DatasetError, match=r"fake\.zip: not a readable zip"):
        ZipImageDataset(tmp_path / "fake.zip", RES)
    with pytest.raises(DatasetError, match="empty.*cannot open LMDB"):
        LMDBImageDataset(tmp_path / "empty", RES)
    with pytest.raises(DatasetError, match="no readable images"):
        ImageFolderDataset(write_folder(tmp_path / "allbad", BAD), RES, skip_bad=True)


def test_dataloader_worker_reports_the_bad_file(tmp_path):
    ds = ImageFolderDataset(write_folder(tmp_path / "imgs", {"0good.png": GOOD, "text.jpg": BAD["text.jpg"]}), RES)
    with pytest.raises(DatasetError, match=r"text\.jpg"):
        list(DataLoader(ds, batch_size=2, num_workers=1))


# ---------------------------------------------------------------- open_dataset and export


def test_open_dataset_dispatches_on_name_and_path(tmp_path):
    faces = open_dataset("faces", 32, length=7, seed=4)
    assert isinstance(faces, ProceduralFaces) and len(faces) == 7 and faces.seed == 4 and faces.resolution == 32
    assert isinstance(open_dataset("churches", 16), ProceduralChurches)
    folder = write_folder(tmp_path / "imgs", SOURCES)
    assert isinstance(open_dataset(folder, RES), ImageFolderDataset)
    assert isinstance(open_dataset(str(write_zip(tmp_path / "d.zip", SOURCES)), RES), ZipImageDataset)
    entries = {str(i).encode(): data for i, data in enumerate(SOURCES.values())}
    assert isinstance(open_dataset(write_lmdb(tmp_path / "db", entries), RES), LMDBImageDataset)
    capped = open_dataset(folder, RES, length=2, xflip=True)
    assert len(capped) == 4
    with pytest.raises(DatasetError, match="unknown dataset 'facez'"):
        open_dataset("facez", 32)
    with pytest.raises(ValueError, match="xflip"):
        open_dataset("faces", 32, xflip=True)
    (tmp_path / "data.tar").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"unsupported dataset file .*data\.tar"):
        open_dataset(tmp_path / "data.tar", RES)


def test_export_pngs_writes_images_labels_and_segmentations(tmp_path):
    out = export_pngs("churches", 4, 16, tmp_path / "out", seed=5)
    names = [f"{i:06d}.png" for i in range(4)]
    assert sorted(p.name for p in out.glob("*.png")) == names
    assert sorted(p.name for p in (out / "segmentation").glob("*.png")) == names
    meta = json.loads((out / "labels.json").read_text())
    assert meta["parts"] == list(ProceduralChurches.PARTS) and meta["resolution"] == 16 and meta["seed"] == 5
    ds = ProceduralChurches(16, length=4, seed=5)
    for i, name in enumerate(names):
        sample = ds.render(i)
        assert meta["labels"][name] == sample.labels
        np.testing.assert_array_equal(np.asarray(Image.open(out / name)), sample.image)
        np.testing.assert_array_equal(np.asarray(Image.open(out / "segmentation" / name)), sample.segmentation)
    with pytest.raises(ValueError, match="unknown procedural dataset"):
        export_pngs("cats", 1, 16, tmp_path / "cats")


# ---------------------------------------------------------------- rasteriser


def test_antialiased_coverage_matches_shape_area():
    from ssnlib.data.raster import Canvas, circle, polygon

    triangle = polygon([(0.1, 0.2), (0.7, 0.2), (0.4, 0.9)])
    for shape, area, perimeter in ((circle(0.5, 0.5, 0.3), np.pi * 0.09, 2 * np.pi * 0.3),
                                   (triangle, 0.21, 0.6 + 2 * np.hypot(0.3, 0.7))):
        canvas = Canvas(64)
        canvas.world.paint(shape, (1.0, 1.0, 1.0), part=1)
        cover = canvas.image[..., 0]
        assert cover.sum() / 64**2 == pytest.approx(area, rel=0.01)
        assert (canvas.parts == 1).sum() / 64**2 == pytest.approx(area, rel=0.03)
        partial = ((cover > 0) & (cover < 1)).sum()  # a one-pixel ramp along the boundary
        assert 0.7 * perimeter * 64 < partial < 1.5 * perimeter * 64
