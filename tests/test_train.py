"""Training loop: the ci preset end to end, exact resume after kill -9, the non-finite guard,
two gloo ranks staying identical, configuration handling."""

import csv
import itertools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ssnlib import losses
from ssnlib.__main__ import config_from_args
from ssnlib.io.serialization import load_generator, load_tensors
from ssnlib.paper.presets import get_preset
from ssnlib.train import NonFiniteLossError, StepSampler, TrainConfig, latest_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # fixed thread count: bit-identical runs


def train_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "ssnlib", "train", *args], capture_output=True, text=True,
                          cwd=ROOT, env=ENV, **kwargs)


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.stem.split("-")[1])


@pytest.mark.slow
def test_ci_preset_run_writes_checkpoints_logs_and_samples(tmp_path):
    run = tmp_path / "run"
    result = train_cli("--preset", "ci", "--out", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    # 0.2 kimg at batch 8 = 25 steps; snapshots every 0.1 kimg → after steps 13 (104 images) and 25
    assert [c.name for c in sorted((run / "checkpoints").iterdir())] == ["ckpt-00000013.safetensors",
                                                                         "ckpt-00000025.safetensors"]
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 26))
    assert float(rows[-1]["kimg"]) == pytest.approx(0.2)
    assert all(r["loss_g"] and r["loss_d"] for r in rows)
    assert rows[0]["pl_penalty"] and rows[0]["r1_penalty"]  # lazy regularizers run at step 0
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step0000000.png", "step0000013.png",
                                                                   "step0000025.png"]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert TrainConfig.from_dict(__import__("json").loads((run / "config.json").read_text())).resolution == 16
    G = load_generator(run / "generator.safetensors")
    tensors, _ = load_tensors(run / "checkpoints" / "ckpt-00000025.safetensors")
    for name, value in G.state_dict().items():
        assert torch.equal(value, tensors[f"G_ema.{name}"]), name
    assert G(G.sample_z(2)).shape == (2, 3, 16, 16)


@pytest.mark.slow
@pytest.mark.parametrize("speed", [[], ["--amp", "bf16", "--channels-last"]], ids=["fp32", "bf16-channels-last"])
def test_resume_after_kill_9_is_bit_identical(tmp_path, speed):
    """N steps straight == k steps, SIGKILL, resume to N: every tensor, optimizer state and RNG —
    with the ci preset's float32 and with the cpu preset's bf16 autocast + channels-last."""
    args = ["--preset", "ci", "--kimg", "0.32", "--snapshot-kimg", "0.04", "--lambda-d", "1",
            "--pl-interval", "2", "--r1-interval", "3", "--keep-checkpoints", "2", *speed]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    result = train_cli(*args, "--out", str(straight))
    assert result.returncode == 0, result.stderr[-3000:]

    proc = subprocess.Popen([sys.executable, "-m", "ssnlib", "train", *args, "--out", str(killed)], cwd=ROOT,
                            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        last = latest_checkpoint(killed)
        if last is not None and step_of(last) >= 15:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    last = latest_checkpoint(killed)
    assert last is not None and 15 <= step_of(last) < 40, "the run must be killed mid-way"

    result = train_cli("--resume", str(killed))
    assert result.returncode == 0, result.stderr[-3000:]
    a, _ = load_tensors(straight / "checkpoints" / "ckpt-00000040.safetensors")
    b, _ = load_tensors(killed / "checkpoints" / "ckpt-00000040.safetensors")
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:10]
    assert len(list((killed / "checkpoints").iterdir())) == 2  # keep_checkpoints
    with open(killed / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 41))


def test_a_longer_runs_snapshot_is_the_shorter_run_and_finishes_it(tmp_path):
    """kimg only bounds the loop (no schedule reads it): the 0.1-kimg checkpoint of a 0.2-kimg run is
    the 0.1-kimg run, and resuming a 0.1-kimg config from it writes that run's generator at once —
    how a fine-tune's curve run gives the zoo's fine-tune of the length read off it."""
    preset = get_preset("ci")
    long = train(preset.train_config(out=str(tmp_path / "long"), kimg=0.2, lambda_d=1.0, keep_checkpoints=5))
    short = train(preset.train_config(out=str(tmp_path / "short"), kimg=0.1, lambda_d=1.0))
    snapshot, _ = load_tensors(tmp_path / "long" / "checkpoints" / "ckpt-00000013.safetensors")
    final, _ = load_tensors(tmp_path / "short" / "checkpoints" / "ckpt-00000013.safetensors")
    assert snapshot.keys() == final.keys() and all(torch.equal(snapshot[k], final[k]) for k in snapshot)
    assert long.step == 25 and short.step == 13
    finished = tmp_path / "finished"
    (finished / "checkpoints").mkdir(parents=True)
    shutil.copy2(tmp_path / "long" / "checkpoints" / "ckpt-00000013.safetensors", finished / "checkpoints")
    config = preset.train_config(out=str(finished), kimg=0.1, lambda_d=1.0)
    assert train(config, resume=finished).step == 13  # no step taken
    a, b = load_tensors(finished / "generator.safetensors"), load_tensors(tmp_path / "short" / "generator.safetensors")
    assert all(torch.equal(a[0][k], b[0][k]) for k in a[0]) and a[1]["train_config"] == b[1]["train_config"] | {
        "out": str(finished)}


def test_non_finite_loss_stops_naming_step_and_last_good_checkpoint(tmp_path, monkeypatch):
    real_loss = losses.generator_loss
    calls = itertools.count(1)

    def poisoned(logits):
        loss = real_loss(logits)
        return loss * float("nan") if next(calls) == 8 else loss

    monkeypatch.setattr(losses, "generator_loss", poisoned)
    config = get_preset("ci").train_config(out=str(tmp_path / "run"), kimg=0.1, snapshot_kimg=0.04)
    with pytest.raises(NonFiniteLossError, match=r"non-finite generator loss \(nan\) at step 7") as err:
        train(config)
    assert "ckpt-00000005.safetensors" in str(err.value)
    assert latest_checkpoint(tmp_path / "run").name == "ckpt-00000005.safetensors"


@pytest.mark.slow
def test_two_gloo_ranks_hold_identical_weights(tmp_path):
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, meta0 = load_tensors(tmp_path / "rank0.safetensors")
    rank1, meta1 = load_tensors(tmp_path / "rank1.safetensors")
    assert meta0["world_size"] == meta1["world_size"] == 2 and meta0["step"] == meta1["step"] == 6
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert not (tmp_path / "run" / "rank1").exists()
    initial = get_preset("ci").train_config()
    torch.manual_seed(initial.seed)
    from ssnlib.train import build_networks

    G0, _ = build_networks(initial)
    name = "synthesis.b16.conv1.conv.weight"
    assert not torch.equal(G0.state_dict()[name], rank0[f"G.{name}"])


def test_step_sampler_is_a_function_of_the_step():
    from_zero = iter(StepSampler(100, 4, seed=3, rank=0, start_step=0))
    batches = [[next(from_zero) for _ in range(4)] for _ in range(6)]
    from_five = iter(StepSampler(100, 4, seed=3, rank=0, start_step=5))
    assert [next(from_five) for _ in range(4)] == batches[5]
    other_rank = iter(StepSampler(100, 4, seed=3, rank=1, start_step=0))
    assert [next(other_rank) for _ in range(4)] != batches[0]


def test_config_from_presets_cli_and_saved_runs(tmp_path):
    from ssnlib.__main__ import build_parser

    args = build_parser().parse_args(["train", "--preset", "ci", "--lambda-d", "100", "--grid", "8", "8",
                                      "--out", str(tmp_path / "r"), "--no-refine"])
    config = config_from_args(args)
    assert (config.preset, config.lambda_d, config.grid, config.resolution, config.refine) == ("ci", 100.0, (8, 8), 16,
                                                                                              False)
    for off in ("", "none"):  # an optional setting turned off from the command line, as its help says
        args = build_parser().parse_args(["train", "--preset", "ci", "--ema-rampup", off, "--quality-kimg", "5"])
        assert (config_from_args(args).ema_rampup, config_from_args(args).quality_kimg) == (None, 5.0)
    assert config_from_args(build_parser().parse_args(["train", "--preset", "ci"])).ema_rampup == 0.05
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("laptop").train_config()
    with pytest.raises(ValueError, match="needs model 'ssn'"):
        get_preset("ci").train_config(model="stylegan2", lambda_d=1.0).validate()
    with pytest.raises(ValueError, match="divisible"):
        get_preset("ci").train_config(batch_size=6).validate(world_size=4)
    with pytest.raises(ValueError, match="unknown config fields"):
        TrainConfig.from_dict({"learning_rate": 1})


def test_existing_run_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "ckpt-00000005.safetensors").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="--resume"):
        train(get_preset("ci").train_config(out=str(run)))


def test_transfer_from_a_stylegan2_checkpoint_starts_from_the_same_model(tmp_path):
    """§3.4: `--transfer` copies G (and D) from a StyleGAN2 file; a constant grid reproduces it."""
    from synthetic_checkpoints import write_rosinality_pt

    from ssnlib import Discriminator, StyleGAN2Generator
    from ssnlib.train import build_networks

    sg2 = StyleGAN2Generator(16, z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2)
    D_source = Discriminator(16, 256, 32)
    write_rosinality_pt(tmp_path / "sg2.pt", sg2, D_source)
    config = get_preset("ci").train_config(out=str(tmp_path / "run"), transfer=str(tmp_path / "sg2.pt"), kimg=0.016)
    G, D = build_networks(config)
    z = sg2.sample_z(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        grid_z = z[:, :, None, None].expand(-1, -1, 4, 4)
        torch.testing.assert_close(G(grid_z), sg2(z), atol=1e-5, rtol=0)
        torch.testing.assert_close(D(sg2(z)), D_source(sg2(z)))
    trainer = train(config)
    assert trainer.step == 2 and type(trainer.G).__name__ == "SSNGenerator"
    with pytest.raises(ValueError, match="--resolution 16"):
        build_networks(get_preset("ci").train_config(resolution=32, transfer=str(tmp_path / "sg2.pt")))


def test_export_cli_writes_a_file_ssnlib_load_reads(tmp_path, capsys):
    from ssnlib import SSNGenerator, load
    from ssnlib.__main__ import main
    from ssnlib.io.serialization import save_generator

    G = SSNGenerator(16, z_dim=64, w_dim=64, channel_base=1024, channel_max=64, mapping_layers=2)
    run = tmp_path / "run"
    save_generator(run / "generator.safetensors", G)
    main(["export", str(run), "--out", str(tmp_path / "g.safetensors")])
    loaded = load(tmp_path / "g.safetensors")
    z = G.sample_z(2, torch.Generator().manual_seed(1))
    assert torch.equal(loaded(z), G(z))
    main(["export", str(run), "--out", str(tmp_path / "g16.safetensors"), "--half"])
    assert (tmp_path / "g16.safetensors").stat().st_size < 0.6 * (tmp_path / "g.safetensors").stat().st_size
    assert main(["export", str(tmp_path)]) == 2  # one error line, no traceback
    assert capsys.readouterr().err.startswith(f"error: {tmp_path} has no generator.safetensors")
    with pytest.raises(FileNotFoundError, match="generator.safetensors"):
        main(["--debug", "export", str(tmp_path)])


def test_a_training_file_serves_as_a_network(tmp_path, capsys):
    """generate and export read a checkpoint or a networks file (RUN/best.safetensors, a base) as its G_ema."""
    from ssnlib import load
    from ssnlib.__main__ import main
    from ssnlib.train import generator_of

    trainer = train(get_preset("ci").train_config(out=str(tmp_path / "run"), kimg=0.016))
    networks = tmp_path / "networks.safetensors"
    trainer.save_networks(networks)
    z = trainer.G_ema.sample_z(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = trainer.G_ema.eval()(z, noise_mode="const")
        for source in (networks, latest_checkpoint(tmp_path / "run")):
            torch.testing.assert_close(generator_of(source)(z, noise_mode="const"), expected, atol=1e-5, rtol=0)
    assert main(["export", str(networks), "--out", str(tmp_path / "g.safetensors")]) == 0
    with torch.no_grad():
        assert torch.equal(load(tmp_path / "g.safetensors")(z), generator_of(networks)(z))
    assert main(["generate", "--network", str(networks), "--seeds", "3", "--outdir", str(tmp_path / "gen")]) == 0
    assert (tmp_path / "gen" / "seed0003.png").is_file()
    capsys.readouterr()
    assert main(["export", str(networks)]) == 2  # the default --out is the source itself: refused, not overwritten
    assert "would overwrite the source" in capsys.readouterr().err
    assert "G_ema.mapping" in " ".join(load_tensors(networks)[0])


def test_read_network_takes_every_kind_of_network_file(tmp_path):
    """read_network: a finished run's directory, its generator file, a checkpoint and a networks file all
    give the same G_ema; an unfinished run and a missing path are named in one line."""
    from ssnlib.train import read_network

    run = tmp_path / "run"
    trainer = train(get_preset("ci").train_config(out=str(run), kimg=0.016))
    trainer.save_networks(tmp_path / "networks.safetensors")
    z = trainer.G_ema.sample_z(2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = trainer.G_ema.eval()(z, noise_mode="const")
        for source in (run, run / "generator.safetensors", latest_checkpoint(run), tmp_path / "networks.safetensors"):
            G = read_network(source)
            assert not G.training
            torch.testing.assert_close(G(z, noise_mode="const"), expected, atol=1e-5, rtol=0)
    (run / "generator.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no generator.safetensors \(is the run finished\? latest "
                                                  r"checkpoint: .*ckpt-"):
        read_network(run)
    with pytest.raises(FileNotFoundError, match=r"^--network .*nowhere.pt: no such file"):
        read_network(tmp_path / "nowhere.pt", "--network")


def test_fresh_networks_draw_the_generator_first():
    """The order of the initial weight draws is part of every from-scratch run's identity: G, then D."""
    from ssnlib.train import _fresh_generator, build_networks

    config = get_preset("ci").train_config(model="ssn")
    torch.manual_seed(config.seed)
    G, D = build_networks(config)
    torch.manual_seed(config.seed)
    reference = _fresh_generator(config)
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in G.state_dict().items())
