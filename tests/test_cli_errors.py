"""Bad input as a new user makes it: one `error:` line naming what is wrong, nothing written;
`--resume` reads its own run; every train flag documented; transparent and unusual images."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssnlib.data import open_dataset
from ssnlib.data.images import to_rgb
from ssnlib.paper.presets import get_preset
from ssnlib.train import FIELD_HELP, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def ssnlib_cli(*args):
    return subprocess.run([sys.executable, "-m", "ssnlib", *args], capture_output=True, text=True, cwd=ROOT,
                          env=ENV, timeout=300)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def bad_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "9.png").write_bytes(b"not a png")
    return folder


@pytest.mark.parametrize("args, named", [
    (["--preset", "cpux"], "'cpux'"),
    (["--dataset", "data/nope"], "data/nope"),
    (["--resolution", "48"], "48"),
    (["--resume", "{empty}"], "no checkpoint to resume from in {empty}"),
    (["--resume", "{empty}/missing"], "{empty}/missing: no such run directory"),
    (["--model", "gan"], "'gan'"),
])
def test_train_mistakes_print_one_error_line_and_leave_nothing(tmp_path, args, named):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    args = [a.format(empty=empty) for a in args]
    result = ssnlib_cli("train", "--preset", "ci", *args, "--out", str(out)) if "--preset" not in args else \
        ssnlib_cli("train", *args, "--out", str(out))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and named.format(empty=empty) in lines[0], result.stderr[-2000:]
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    result = ssnlib_cli("train", "--preset", "ci", "--resolution", "48", "--out", str(tmp_path / "run"), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr and "power of two" in result.stderr


def test_unreadable_images_are_skipped_counted_and_named(tmp_path, bad_folder):
    out = tmp_path / "run"
    result = ssnlib_cli("train", "--preset", "ci", "--dataset", str(bad_folder), "--kimg", "0.016", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((out / "dataset.json").read_text())
    assert (summary["found"], summary["used"]) == (5, 4)
    assert [s["file"] for s in summary["skipped"]] == [str(bad_folder / "9.png")]
    assert "5 images found, 4 used, 1 unreadable skipped" in result.stderr
    strict = ssnlib_cli("train", "--preset", "ci", "--dataset", str(bad_folder), "--kimg", "0.016",
                        "--no-skip-bad-images", "--out", str(tmp_path / "strict"))
    assert strict.returncode == 2 and len(error_lines(strict)) == 1 and "9.png" in error_lines(strict)[0]


@pytest.mark.slow
def test_resume_reads_its_own_run_not_a_parent(tmp_path):
    """`--resume RUN/checkpoints/ckpt-….safetensors` uses that checkpoint's own config, whatever
    config.json lies two folders up."""
    run = tmp_path / "run"
    assert ssnlib_cli("train", "--preset", "ci", "--kimg", "0.016", "--snapshot-kimg", "0.008",
                      "--out", str(run)).returncode == 0
    checkpoint = sorted((run / "checkpoints").iterdir())[0]
    (run / "config.json").write_text(json.dumps({**get_preset("ci").train_config().to_dict(), "resolution": 32}))
    result = ssnlib_cli("train", "--resume", str(checkpoint), "--kimg", "0.024")
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((run / "config.json").read_text())["resolution"] == 16  # the checkpoint's config


def test_every_train_flag_is_documented_with_its_default():
    assert set(FIELD_HELP) == {f.name for f in dataclasses.fields(TrainConfig)}
    text = ssnlib_cli("train", "--help").stdout
    assert "(cpu preset: 16)" in " ".join(text.split())  # --batch-size shows the cpu preset's value
    assert "ci — seconds per model" in " ".join(text.split())
    assert "{ssn,stylegan2}" in text and "{none,bf16,fp16,auto}" in text
    assert "how many images to write" in ssnlib_cli("data", "export", "--help").stdout


def test_transparency_is_composited_onto_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = [200, 30, 90]  # colour stored under alpha = 0: must not show
    rgba[:4, :, 3] = 255  # top half opaque
    rgba[4:, :4, 3] = 128  # bottom left half transparent
    out = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    assert (out[:4] == [200, 30, 90]).all()
    assert (out[4:, 4:] == 255).all()
    half = np.broadcast_to([(200 + 255) / 2, (30 + 255) / 2, (90 + 255) / 2], (4, 4, 3))  # alpha 128 ≈ ½
    np.testing.assert_allclose(out[4:, :4].astype(float), half, atol=1.5)
    la = Image.fromarray(np.stack([np.full((4, 4), 10, np.uint8), np.zeros((4, 4), np.uint8)], -1), "LA")
    assert (np.asarray(to_rgb(la)) == 255).all()
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    palette.putpalette([0, 255, 0, 9, 9, 9])
    palette.info["transparency"] = 1
    np.testing.assert_array_equal(np.asarray(to_rgb(palette))[0], [[0, 255, 0], [255, 255, 255]])


def test_sixteen_bit_grayscale_exif_rotation_and_cmyk_convert(tmp_path):
    Image.fromarray(np.array([[0, 65535], [32768, 65535]], np.uint16)).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as gray16:  # a real 16-bit PNG, read back as PIL reads it
        assert gray16.mode.startswith("I")
        np.testing.assert_allclose(np.asarray(to_rgb(gray16))[..., 0], [[0, 255], [128, 255]], atol=1)
    Image.fromarray(np.full((2, 2), 77, np.uint8), "L").save(tmp_path / "gray.png")
    with Image.open(tmp_path / "gray.png") as gray:
        assert (np.asarray(to_rgb(gray)) == 77).all()
    rotated = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("RGB")
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise on display
    rotated.save(tmp_path / "r.jpg", exif=exif, quality=100)
    with Image.open(tmp_path / "r.jpg") as img:
        assert np.asarray(to_rgb(img)).shape == (2, 1, 3)  # 1×2 stored, shown as 2 rows × 1 column
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    with Image.open(tmp_path / "cmyk.jpg") as cmyk:
        assert cmyk.mode == "CMYK" and (np.asarray(to_rgb(cmyk)) >= 250).all()  # no ink: white


def test_a_folder_of_transparent_pngs_loads_on_a_uniform_background(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
        rgba[..., 3] = 0
        rgba[4:12, 4:12, 3] = 255
        Image.fromarray(rgba, "RGBA").save(tmp_path / f"{i}.png")
    dataset = open_dataset(tmp_path, 16)
    for i in range(3):
        image = dataset.image(i)
        border = np.concatenate([image[:4].reshape(-1, 3), image[12:].reshape(-1, 3)])
        assert (border == 255).all()


def test_training_on_transparent_pngs_sees_the_white_background(tmp_path):
    images = tmp_path / "icons"
    images.mkdir()
    rng = np.random.default_rng(2)
    for i in range(8):
        rgba = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)  # garbage colours under alpha = 0
        rgba[..., 3] = 0
        rgba[6:10, 6:10, 3] = 255
        Image.fromarray(rgba, "RGBA").save(images / f"{i}.png")
    out = tmp_path / "run"
    result = ssnlib_cli("train", "--preset", "ci", "--dataset", str(images), "--kimg", "0.016", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "dataset.json").read_text())["used"] == 8
    from ssnlib.train import open_training_data

    batch = open_training_data(get_preset("ci").train_config(dataset=str(images)))[0]
    assert batch[:, :6].min().item() == 1.0 and batch[:, 10:].min().item() == 1.0  # white in [-1, 1]


def test_the_background_colour_is_an_argument_and_a_flag(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)  # fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "0.png")
    image = open_dataset(tmp_path, 16, background=(0, 128, 255)).image(0)
    assert (image == [0, 128, 255]).all()
    with pytest.raises(ValueError, match="background must be three integers"):
        open_dataset(tmp_path, 16, background=(0, 300, 0))
    from ssnlib.train import open_training_data

    config = get_preset("ci").train_config(dataset=str(tmp_path), background=(0, 0, 0))
    assert open_training_data(config)[0].max().item() == -1.0  # black in [-1, 1]


def test_config_json_records_what_the_dataset_held(tmp_path, bad_folder):
    out = tmp_path / "run"
    assert ssnlib_cli("train", "--preset", "ci", "--dataset", str(bad_folder), "--kimg", "0.008",
                      "--out", str(out)).returncode == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["data"] == {"dataset": str(bad_folder), "resolution": 16, "found": 5, "used": 4, "skipped": 1}
    assert TrainConfig.from_dict(saved).dataset == str(bad_folder)  # the summary is not a config field
