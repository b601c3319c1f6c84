"""Projection into an SSN's latent grid and block resampling of projected images (issue: your own
image), with the numbers they must reach; and the generate / project / resample commands."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import ssnlib
from ssnlib import BlockGrid, SSNGenerator, StyleGAN2Generator, resample
from ssnlib.__main__ import main
from ssnlib.data import open_dataset
from ssnlib.io.serialization import save_generator
from ssnlib.metrics.stats import mean_se
from ssnlib.projection import (
    ProjectedLatent,
    fit_target,
    noise_regularization,
    project,
    psnr,
    resample_projected,
)

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "cpu" / "ssn4x4-faces-ld100.safetensors"  # the cpu preset's λD = 100 SSN, 32²


def tiny_ssn(seed: int = 0) -> SSNGenerator:
    torch.manual_seed(seed)
    return SSNGenerator(16, grid=(4, 4), z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2).eval()


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ pieces, exactly


def test_psnr_closed_form():
    a = torch.zeros(3, 4, 4)
    assert psnr(a, a + 0.2) == pytest.approx(10 * math.log10(4 / 0.04))  # MSE 0.04, peak-to-peak 2: 20 dB
    assert psnr(a, a) == math.inf


def test_noise_regularization_is_zero_for_white_noise_and_exact_for_a_constant_map():
    ones = torch.ones(1, 1, 16, 16)  # autocorrelation 1 on both axes, at 16² and 8²: 4 terms of 1
    assert noise_regularization([ones]).item() == 4.0
    white = torch.randn(1, 1, 256, 256, generator=seeded(0))
    assert noise_regularization([white]).item() < 1e-4


def test_fit_target_crops_resizes_and_says_so():
    wide = torch.rand(3, 40, 60) * 2 - 1
    fitted, note = fit_target(wide, 16)
    assert fitted.shape == (3, 16, 16) and note == "centre-cropped 60×40 to 40×40, then resized 40² to 16² (area)"
    same, none = fit_target(torch.zeros(3, 16, 16), 16)
    assert none is None and torch.equal(same, torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"RGB image \(3, H, W\)"):
        fit_target(torch.zeros(4, 16, 16), 16)


def test_resample_projected_redraws_only_the_chosen_cells_from_the_prior():
    G = tiny_ssn()
    w = G.mapping(G.sample_z(1, seeded(1)))
    latent = ProjectedLatent(G.broadcast_ws(w).clone(), G.make_noise(1, seeded(2)))
    full = resample_projected(G, latent, [(1, 2)], generator=seeded(3))
    w_prior = G.mapping(G.sample_z(1, seeded(3)))  # the same draw: one z grid, its (1, 2) cell used
    changed = (full.ws != latent.ws).any(2)[0]  # (num_ws, gh, gw)
    assert changed[:, 1, 2].all() and changed.sum() == G.num_ws  # that cell, in every layer, nothing else
    torch.testing.assert_close(full.ws[0, :, :, 1, 2], w_prior[0, :, 1, 2].expand(G.num_ws, -1))
    half = resample_projected(G, latent, [(1, 2)], strength=0.5, generator=seeded(3))
    torch.testing.assert_close(half.ws, (latent.ws + full.ws) / 2)
    assert all(torch.equal(a, b) for a, b in zip(full.noise, latent.noise))
    with pytest.raises(ValueError, match="strength"):
        resample_projected(G, latent, [(1, 2)], strength=-0.1)
    with pytest.raises(ValueError, match="outside the 4×4 grid"):
        resample_projected(G, latent, [(4, 0)])


def test_projected_latent_saves_loads_and_checks_its_generator(tmp_path):
    G = tiny_ssn()
    latent = ProjectedLatent(G.broadcast_ws(G.mapping(G.sample_z(1, seeded(1)))).clone(), G.make_noise(1, seeded(2)),
                             {"psnr": 31.5})
    back = ProjectedLatent.load(latent.save(tmp_path / "latent.safetensors"))
    assert torch.equal(back.ws, latent.ws) and all(torch.equal(a, b) for a, b in zip(back.noise, latent.noise))
    assert back.meta == {"psnr": 31.5} and torch.equal(back.render(G), latent.render(G))
    other = SSNGenerator(16, grid=(2, 2), z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2)
    with pytest.raises(ValueError, match=r"do not fit this generator \(expects \(1, 6, 8, 2, 2\)\)"):
        back.check_for(other)
    save_generator(tmp_path / "g.safetensors", G)
    with pytest.raises(ValueError, match="is not a projected latent"):
        ProjectedLatent.load(tmp_path / "g.safetensors")


def test_project_refuses_a_generator_without_a_grid_and_a_wrong_size():
    with pytest.raises(ValueError, match="needs an SSN"):
        project(StyleGAN2Generator(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8), torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r"target must be \(3, 16, 16\)"):
        project(tiny_ssn(), torch.zeros(3, 32, 32), steps=1)


def test_projection_is_seeded_and_leaves_the_generator_alone():
    G = tiny_ssn()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    target = G(G.sample_z(1, seeded(4)), noise_mode="const")[0].detach()
    a = project(G, target, steps=5, generator=seeded(0), progress=False)
    b = project(G, target, steps=5, generator=seeded(0), progress=False)
    assert torch.equal(a.latent.ws, b.latent.ws) and a.history == b.history and len(a.history) == 5
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())
    assert all(q.requires_grad for q in G.parameters()) and not G.training  # as it was: trainable, eval mode
    assert a.distance in ("lpips-vgg16", "procnet") and a.latent.meta["distance"] == a.distance


def test_images_projected_together_are_independent_problems():
    """Image 0's projection does not depend on the other target of its batch."""
    G = tiny_ssn()
    with torch.no_grad():
        a, b, c = G(G.sample_z(3, seeded(7)), noise_mode="const")
    first = project(G, torch.stack([a, b]), steps=8, generator=seeded(0), progress=False)
    second = project(G, torch.stack([a, c]), steps=8, generator=seeded(0), progress=False)
    torch.testing.assert_close(first.latent.ws[0], second.latent.ws[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(first.latent.ws[1], second.latent.ws[1])
    assert len(first.latent.meta["psnr"]) == 2 and first.image.shape == (2, 3, 16, 16)


# ------------------------------------------------------------------ what projection reaches (shipped cpu model)


@pytest.mark.slow
def test_projecting_the_generators_own_sample_reconstructs_it():
    """Measured: 35.9 dB after 200 steps (ProcNet distance; the sample's noise is the const buffers,
    the projection starts from other noise)."""
    G = ssnlib.load(SHIPPED).eval()
    with torch.no_grad():
        own = G(G.sample_z(1, seeded(5)), noise_mode="const")[0]
    result = project(G, own, steps=200, generator=seeded(0), progress=False)
    assert result.latent.meta["psnr"][0] > 30.0


@pytest.mark.slow
def test_a_held_out_image_is_reconstructed_better_than_the_best_of_1000_samples():
    """Measured on a procedural face the model never saw (dataset seed 4242): projection 28.8 dB,
    the best of 1,000 random samples 18.0 dB."""
    G = ssnlib.load(SHIPPED).eval()
    target = open_dataset("faces", 32, length=1, seed=4242)[0]
    with torch.no_grad():
        best = max(psnr(image, target) for i in range(10)
                   for image in G(G.sample_z(100, seeded(100 + i)), noise_mode="const"))
    result = project(G, target, steps=200, generator=seeded(0), progress=False)
    assert result.latent.meta["psnr"][0] > best + 5.0


def _locality(G, before: torch.Tensor, after: torch.Tensor, cell) -> float:
    change = (after - before).square().mean(1)[0]
    return float((change * BlockGrid.for_generator(G).pixel_mask([cell])).sum() / change.sum())


@pytest.mark.slow
def test_resamples_of_projected_images_are_as_local_as_resamples_of_samples():
    """Locality (share of the change energy inside the resampled cell): 32 resamples of samples vs
    32 of four projected held-out faces (8 random cells each). Measured: samples 0.40 ± 0.036,
    projections 0.49 ± 0.038. Asserted: projections are not less local by 3 combined SE."""
    G = ssnlib.load(SHIPPED).eval()
    grid = BlockGrid.for_generator(G)
    rng = seeded(1)
    cells = [grid.cell(int(i)) for i in torch.randint(grid.n_blocks, (64,), generator=rng)]
    samples = []
    with torch.no_grad():
        for i, cell in enumerate(cells[:32]):
            z = G.sample_z(1, seeded(1000 + i))
            samples.append(_locality(G, G(z, noise_mode="const"), G(resample(z, [cell], rng), noise_mode="const"),
                                     cell))
    data = open_dataset("faces", 32, length=4, seed=4242)
    projected = []
    for k in range(4):
        latent = project(G, data[k], steps=150, generator=seeded(k), progress=False).latent
        image = latent.render(G)
        for cell in cells[32 + 8 * k: 40 + 8 * k]:
            projected.append(_locality(G, image, resample_projected(G, latent, [cell], generator=rng).render(G), cell))
    (s_mean, s_se), (p_mean, p_se) = mean_se(samples), mean_se(projected)
    assert p_mean > s_mean - 3 * math.hypot(s_se, p_se), (s_mean, s_se, p_mean, p_se)


# ------------------------------------------------------------------ the commands


@pytest.fixture
def network(tmp_path) -> Path:
    path = tmp_path / "ssn.safetensors"
    save_generator(path, tiny_ssn())
    return path


def png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_generate_project_resample_from_the_command_line(network, tmp_path):
    assert main(["generate", "--network", str(network), "--seeds", "0-2,5", "--outdir", str(tmp_path / "gen")]) == 0
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [f"seed{s:04d}.png" for s in (0, 1, 2, 5)]
    assert png(tmp_path / "gen" / "seed0001.png").shape == (16, 16, 3)
    # `resample --seed 1` starts from exactly the image `generate --seeds 1` wrote
    assert main(["resample", "--network", str(network), "--seed", "1", "--cells", "1,1", "2,3", "--count", "2",
                 "--outdir", str(tmp_path / "res")]) == 0
    assert np.array_equal(png(tmp_path / "res" / "original.png"), png(tmp_path / "gen" / "seed0001.png"))
    assert png(tmp_path / "res" / "strip.png").shape == (16, 48, 3)
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(tmp_path / "mine.png")  # not square, not 16²
    assert main(["project", "--network", str(network), "--target", str(tmp_path / "mine.png"), "--steps", "3",
                 "--outdir", str(tmp_path / "proj"), "--upscale", "2"]) == 0
    assert {p.name for p in (tmp_path / "proj").iterdir()} == {"proj.png", "target.png", "target_vs_proj.png",
                                                             "projected_latent.safetensors"}
    assert png(tmp_path / "proj" / "target_vs_proj.png").shape == (32, 64, 3)
    latent = ProjectedLatent.load(tmp_path / "proj" / "projected_latent.safetensors")
    assert latent.meta["target"] == str(tmp_path / "mine.png") and latent.meta["steps"] == 3
    assert main(["resample", "--network", str(network), "--latent", str(tmp_path / "proj" / "projected_latent"
                                                                        ".safetensors"),
                 "--cells", "0,0", "--strength", "0.5", "--count", "1", "--outdir", str(tmp_path / "res2")]) == 0
    assert (tmp_path / "res2" / "resample00.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["project", "--target", "missing.png"], "missing.png: no such image file"),
    (["resample", "--seed", "0", "--cells", "4,0"], "block (4, 0) is outside the 4×4 grid"),
    (["resample", "--seed", "0", "--cells", "1,1", "--strength", "1.5"], "--strength must be in (0, 1]"),
    (["generate", "--seeds", "0-x"], "argument --seeds: '0-x': expected numbers and ranges"),
    (["resample", "--seed", "0", "--cells", "1"], "argument --cells: '1': a cell is ROW,COL"),
])
def test_command_mistakes_are_one_line(network, tmp_path, capsys, args, message):
    try:
        code = main([args[0], "--network", str(network), "--outdir", str(tmp_path / "out"), *args[1:]])
    except SystemExit as exit:  # argparse's own errors (one line: `Parser.error`)
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_project_names_a_network_without_a_grid(tmp_path, capsys):
    path = tmp_path / "sg2.safetensors"
    save_generator(path, StyleGAN2Generator(16, z_dim=8, w_dim=8, channel_base=64, channel_max=8).eval())
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "t.png")
    code = main(["project", "--network", str(path), "--target", str(tmp_path / "t.png"), "--outdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is a StyleGAN2Generator: this command needs an SSN" in err
    assert main(["generate", "--network", str(tmp_path / "nope.safetensors"), "--seeds", "0",
                 "--outdir", str(tmp_path)]) == 2
    assert "--network" in capsys.readouterr().err


# ------------------------------------------------------------------ notebook 10's helpers


def test_notebook_targets_hold_held_out_drawn_and_the_users_image(tmp_path):
    from ssnlib.paper.own_image import HELD_OUT_SEED, held_out_images, notebook_targets

    targets, labels, note = notebook_targets("faces", 2, 16)
    assert targets.shape == (3, 3, 16, 16) and labels == ["held-out 0", "held-out 1", "drawn"]
    assert torch.equal(targets[:2], held_out_images("faces", 2, 16))
    assert not torch.equal(targets[0], open_dataset("faces", 16, length=1, seed=0)[0])  # not the training stream
    assert HELD_OUT_SEED not in (0, 1000, 2000) and "no file of yours" in note
    Image.fromarray(np.full((24, 40, 3), 30, np.uint8)).save(tmp_path / "mine.png")
    targets, labels, note = notebook_targets("churches", 1, 16, str(tmp_path / "mine.png"))
    assert labels[-1] == "yours" and targets.shape == (3, 3, 16, 16) and "centre-cropped 40×24 to 24×24" in note
    torch.testing.assert_close(targets[-1], torch.full((3, 16, 16), 30 / 127.5 - 1))


def test_change_summary_and_projection_quality_rows():
    from ssnlib.paper.own_image import change_summary, projection_quality

    rows = pd.DataFrame({"distortion": [0.1, 0.3], "in_block": [1.0, 1.0], "locality": [0.5, 0.7]})
    summary = change_summary(rows, rows.assign(locality=[0.2, 0.2])).set_index("images")
    assert summary.loc["projections", "locality"] == pytest.approx(0.6)
    assert summary.loc["projections", "locality_se"] == pytest.approx(0.1)  # sd 0.1414 / √2
    assert summary.loc["samples", "locality"] == pytest.approx(0.2) and summary.loc["samples", "resamples"] == 2
    G = tiny_ssn()
    targets = G(G.sample_z(3, seeded(9)), noise_mode="const").detach()
    quality = projection_quality(G, targets, targets.clone(), seed=1).set_index("images")
    assert quality.loc["projections", "psnr_db"] == math.inf and quality.loc["projections", "n"] == 3
    assert quality.loc["projections", "fd_proc_to_targets"] == pytest.approx(0.0, abs=1e-6)  # identical sets
    assert quality.loc["random samples", "fd_proc_to_targets"] > 0


def test_run_own_image_measures_and_draws_every_target():
    from ssnlib.paper.own_image import run_own_image

    run = run_own_image(tiny_ssn(), "churches", n_images=2, steps=3, cells=[(0, 1)], n_resamples=2, seed=0)
    assert run.targets.shape == (3, 3, 16, 16) and run.resampled.shape == (3, 2, 3, 16, 16)
    assert list(run.quality["images"]) == ["projections", "random samples"] and set(run.quality.dataset) == {"churches"}
    assert list(run.changes["images"]) == ["projections", "samples"] and list(run.changes.resamples) == [6, 6]
    assert len(run.figure(n_show=1).axes) == 2 * (2 + 2)  # one held-out row and the drawn one, 4 panels each


def test_network_flag_names_an_unfinished_run_and_images_load_from_bytes(tmp_path, capsys):
    import io

    from ssnlib.data import DatasetError, load_image

    (tmp_path / "run").mkdir()
    assert main(["generate", "--network", str(tmp_path / "run"), "--seeds", "0", "--outdir", str(tmp_path)]) == 2
    assert "run has no generator.safetensors (is the run finished?" in capsys.readouterr().err
    buffer = io.BytesIO()
    Image.fromarray(np.full((5, 7, 3), 255, np.uint8)).save(buffer, format="PNG")
    assert torch.equal(load_image(buffer.getvalue()), torch.ones(3, 5, 7))
    with pytest.raises(DatasetError, match="upload.png: cannot read image"):
        load_image(b"not an image", name="upload.png")
