"""The benchmark scripts keep working as the library changes: each one parses its flags, and the
training benchmark's worker runs an iteration of this code's `cpu` preset and counts its FLOPs."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from ssnlib.paper.presets import get_preset

BENCHMARK_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
BENCHMARKS = sorted(BENCHMARK_DIR.glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.name)
def test_benchmark_script_imports_and_parses_its_flags(script):
    out = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


def test_bench_train_worker_times_this_checkouts_cpu_preset():
    spec = importlib.util.spec_from_file_location("bench_train", BENCHMARK_DIR / "bench_train.py")
    bench_train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_train)
    result = bench_train.worker(dict(model="ssn", overrides=dict(amp="none"), threads=1, warmup=0, steps=1,
                                     count_flops=True))
    assert result["img_per_s"] > 0
    # G and D, all four phases, at the cpu preset: 0.85 GFLOP per training image as measured; 0.91
    # when G main still computed D's weight gradients
    assert 0.84e9 < result["flop_per_image"] < 0.86e9


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARK_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("arm", ["wide", "narrow", "batch32", "batch64", "cifar"])
def test_bench_train_times_the_recipe_studys_arms_as_it_trains_them(arm, tmp_path, monkeypatch):
    """`stylegan2-<arm>` in bench_train is the config `recipe_study.py ARM` starts, field for field."""
    from ssnlib.__main__ import build_parser, config_from_args

    bench_train, recipe_study = _load("bench_train"), _load("recipe_study")
    monkeypatch.setattr(recipe_study, "run_dir", lambda *run: tmp_path / "-".join(map(str, run)))  # a fresh run
    argv = recipe_study.command(arm, "faces", 0, 300)[3:]  # after `python -m ssnlib`
    studied = config_from_args(build_parser().parse_args(argv))
    timed = get_preset("cpu").train_config(**bench_train.MODELS[f"stylegan2-{arm}"], out=studied.out,
                                            dataset="faces", kimg=300, keep_checkpoints=1, quality_kimg=10)
    assert timed == studied


def test_wide_arm_doubles_every_layers_channels():
    """Twice the channels at every resolution: each conv's FLOPs ×4 (the RGB and mapping layers less),
    3.9× per training image as counted."""
    bench_train = _load("bench_train")
    flops = {m: bench_train.worker(dict(model=m, overrides=dict(amp="none"), threads=1, warmup=0, steps=1,
                                        count_flops=True))["flop_per_image"] for m in ("stylegan2", "stylegan2-wide")}
    assert 3.8 < flops["stylegan2-wide"] / flops["stylegan2"] < 4.0


def _quality_run(root, name, kimgs):
    run = root / name
    run.mkdir()
    rows = "".join(f"{i},{k},{k / 100},{500 - k},2.0,0.9,0.3\n" for i, k in enumerate(kimgs))
    (run / "quality.csv").write_text("step,kimg,train_hours,fd_proc,fd_proc_se,precision_proc,recall_proc\n" + rows)
    return run


def test_training_curves_put_runs_on_their_benchmarked_rates(tmp_path, monkeypatch, capsys):
    """With --img-per-s the time axis is kimg · 1000 / rate, hours on one machine, whatever each
    run's own train_hours say; a rate for every run or an error naming what is missing."""
    import csv

    curves = _load("training_curves")
    fast, slow = _quality_run(tmp_path, "fast", [36.0, 72.0]), _quality_run(tmp_path, "slow", [36.0])
    out = tmp_path / "curves.csv"
    argv = ["training_curves.py", str(fast), str(slow), "--csv", str(out), "--png", str(tmp_path / "c.png"),
            "--img-per-s", "fast=20", "slow=10"]
    monkeypatch.setattr(sys, "argv", argv)
    curves.main()
    with open(out) as f:
        hours = {(r["run"], float(r["kimg"])): float(r["bench_hours"]) for r in csv.DictReader(f)}
    assert hours == pytest.approx({("fast", 36.0): 0.5, ("fast", 72.0): 1.0, ("slow", 36.0): 1.0})
    monkeypatch.setattr(sys, "argv", argv + ["--reference", "fast", "--window", "40"])
    curves.main()
    # slow's 36 kimg take 1 h at 10 img/s, as fast's 72 at 20 (its window, centred there: 52–92); fd = 500 − kimg
    table = capsys.readouterr().out
    assert "| slow | 10 | 36 | 1.00 | 464 (464–464) | 0.90, 0.30 | 72, 428 (428–428) |" in table
    assert "| fast | 20 | 72 | 1.00 | 446 (428–464) |" in table  # its last 40 kimg: 36 and 72
    monkeypatch.setattr(sys, "argv", argv[:-1])
    with pytest.raises(SystemExit, match=r"missing \['slow'\]"):
        curves.main()
    monkeypatch.setattr(sys, "argv", argv[:-2] + ["fast=0", "slow=1"])
    with pytest.raises(SystemExit, match="positive rate"):
        curves.main()


def test_bench_train_profile_sorts_ops_into_kinds():
    bench_train = _load("bench_train")
    kinds = {name: bench_train.op_kind(name) for name in [
        "aten::mkldnn_convolution", "aten::convolution_backward", "aten::addmm", "aten::bmm", "aten::_to_copy",
        "aten::copy_", "aten::sum", "aten::linalg_vector_norm", "aten::mul", "aten::addcmul",
        "aten::leaky_relu_backward", "aten::lerp_", "aten::randn"]}
    assert kinds == {
        "aten::mkldnn_convolution": "convolution", "aten::convolution_backward": "convolution",
        "aten::addmm": "matrix products (mapping, styles)", "aten::bmm": "matrix products (mapping, styles)",
        "aten::_to_copy": "casts and copies", "aten::copy_": "casts and copies", "aten::sum": "reductions",
        "aten::linalg_vector_norm": "reductions", "aten::mul": "elementwise", "aten::addcmul": "elementwise",
        "aten::leaky_relu_backward": "elementwise", "aten::lerp_": "elementwise", "aten::randn": "other ops"}


def test_bench_train_worker_profiles_one_iteration_by_op():
    bench_train = _load("bench_train")
    result = bench_train.worker(dict(model="stylegan2", overrides=dict(amp="none"), threads=1, warmup=0, steps=1,
                                     profile=True))
    convolution = sum(v for k, v in result["profile_ms"].items() if bench_train.op_kind(k) == "convolution")
    # self times never exceed the wall time they were measured in; a StyleGAN2 step is mostly convolutions
    assert 0 < sum(result["profile_ms"].values()) <= result["profiled_ms"]
    assert convolution > 0.2 * result["profiled_ms"]


def test_fd_proc_scale_degradations_in_closed_form():
    import torch

    scale = _load("fd_proc_scale")
    flat = torch.full((2, 3, 8, 8), 0.25)
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None]).remainder(2).float().expand(2, 3, 8, 8) * 2 - 1
    ramp = torch.linspace(-1, 1, 8).expand(2, 3, 8, 8)
    torch.testing.assert_close(scale.binomial_blur(flat), flat)  # the filter's taps sum to one
    torch.testing.assert_close(scale.binomial_blur(ramp)[..., 1:-1], ramp[..., 1:-1])  # and it is centred: a ramp stays
    assert torch.equal(scale.half_resolution(flat), flat)
    torch.testing.assert_close(scale.half_resolution(ramp)[..., 1:-1], ramp[..., 1:-1])  # a linear ramp stays
    assert torch.equal(scale.half_resolution(checker), torch.zeros_like(checker))  # the finest detail goes
    assert torch.equal(scale.shift_one_pixel(ramp)[..., 1:], ramp[..., :-1])
    rows = scale.degradations()
    noise = rows["noise σ = 0.1"](torch.zeros(4000, 1, 5, 5))
    assert abs(noise.std().item() - 0.1) < 0.002 and torch.equal(scale.degradations()["noise σ = 0.1"](
        torch.zeros(4000, 1, 5, 5)), noise)  # a fresh stream per table: rows do not depend on what ran before
    assert rows["none (real vs real)"] is None and list(rows)[0] == "none (real vs real)"


def test_attribute_coverage_benchmark_table_names_the_most_under_drawn_class():
    import numpy as np

    coverage = _load("attribute_coverage")
    cov = {"G": {"glasses": {"classes": ("no", "yes"), "real": np.array([0.5, 0.5]),
                             "generated": np.array([0.8, 0.2]), "tv": 0.3}}}
    table = coverage.markdown("faces", {"glasses": 0.999}, cov, {"G": (103.4, 53.8)})
    assert "| glasses | 0.999 | 0.300 | yes 0.20 / 0.50 |" in table and "| G | 103.4 | 53.8 |" in table
    classes = {"eye": np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])}
    pool_mix = {"eye": np.array([0.3, 0.2, 0.5])}
    assert np.array_equal(coverage.mix_weights(classes, pool_mix), np.ones(10))  # the pool's own mix: uniform
    mix = {"eye": np.array([0.6, 0.4, 0.0])}
    w = coverage.mix_weights(classes, mix)
    weighted = np.array([w[classes["eye"] == k].sum() for k in range(3)]) / w.sum()
    np.testing.assert_allclose(weighted, mix["eye"], rtol=1e-12)  # the weighted pool shows exactly that mix


def test_next_zoo_adopts_the_long_transfers_under_its_keys_and_keeps_the_churches_zoo(monkeypatch):
    """The SSN transfers trained by hand (`models/cpu/training/ssnwide-faces-s*`) carry the keys the
    staged preset gives its faces SSN bases (so `adopt` takes them), all 17 faces models are wide and
    every churches model keeps its shipped generator (the switch retrains none of them)."""
    import json

    from ssnlib.paper import presets, runs
    from ssnlib.train import TrainConfig

    next_zoo = _load("next_zoo")
    monkeypatch.setitem(presets.PRESETS, "cpu", presets.PRESETS["cpu"])  # restored after the test
    next_zoo.stage()
    for (dataset, seed), run in next_zoo.ADOPTED.items():
        stored = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
        assert runs.config_key(stored) == runs.config_key(next_zoo.staged_base(dataset, seed)[0]), run
    models = next_zoo.staged_models()
    for label, (config, name, _) in models.items():
        if config.dataset == "faces":
            assert (config.channel_base, config.channel_max) == (2048, 128), label
        else:
            assert next_zoo.state(config, name) == "shipped", label
    assert sum(config.dataset == "faces" for config, _, _ in models.values()) == 17
