"""Run registry: train once per configuration, reuse finished and shipped models, fine-tune."""

from pathlib import Path

import pytest
import torch

from ssnlib import SSNGenerator
from ssnlib.io.serialization import load_generator, load_tensors, save_generator
from ssnlib.paper import runs
from ssnlib.paper.presets import get_preset
from ssnlib.train import TrainConfig, latest_checkpoint

TINY = dict(kimg=0.016, snapshot_kimg=0.016, sample_kimg=0.016)


def test_key_ignores_bookkeeping_but_not_hyperparameters():
    a = get_preset("ci").train_config()
    assert runs.config_key(a) == runs.config_key(get_preset("ci").train_config(out="elsewhere", sample_kimg=9))
    assert runs.config_key(a) != runs.config_key(get_preset("ci").train_config(lambda_d=100))
    assert runs.run_directory(a, "faces", "R").parent.as_posix() == "R/ci"


def test_an_integral_float_field_is_one_key_whichever_way_it_is_written():
    as_int = get_preset("ci").train_config(kimg=300, lr=1, ema_kimg=10, quality_kimg=5)
    as_float = get_preset("ci").train_config(kimg=300.0, lr=1.0, ema_kimg=10.0, quality_kimg=5.0)
    assert (as_int.kimg, type(as_int.kimg), type(as_int.quality_kimg)) == (300.0, float, float)
    assert runs.config_key(as_int) == runs.config_key(as_float)
    assert runs.config_key(as_int) != runs.config_key(get_preset("ci").train_config(kimg=301))
    assert type(get_preset("ci").train_config(batch_size=16).batch_size) is int  # int fields stay int


def test_ensure_run_trains_once_then_reuses(tmp_path, monkeypatch):
    config = get_preset("ci").train_config(**TINY)
    calls = []
    real_train = runs.train
    monkeypatch.setattr(runs, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    first = runs.ensure_run(config, "faces", root=tmp_path, models=tmp_path / "none")
    second = runs.ensure_run(config, "faces", root=tmp_path, models=tmp_path / "none")
    assert first == second and first.is_file() and len(calls) == 1
    G = runs.load_run(config, "faces", root=tmp_path, models=tmp_path / "none")
    assert G.resolution == 16 and not G.training


def test_shipped_generator_is_used_only_for_its_configuration(tmp_path):
    config = get_preset("ci").train_config(**TINY)
    G = load_generator(runs.ensure_run(config, "faces", root=tmp_path / "runs", models=tmp_path / "none"))
    shipped = tmp_path / "models" / "ci" / "faces.safetensors"
    save_generator(shipped, G, extra={"train_config": config.to_dict()})
    assert runs.ensure_run(config, "faces", root=tmp_path / "other", models=tmp_path / "models") == shipped
    other = get_preset("ci").train_config(lambda_d=5.0, **TINY)
    assert runs.shipped_generator(other, "faces", tmp_path / "models") is None
    assert runs.ensure_run(config, "faces", root=tmp_path / "runs", models=tmp_path / "models",
                           use_shipped=False).parent.parent == tmp_path / "runs" / "ci"


def test_fine_tuning_starts_from_the_base_run_weights(tmp_path):
    base = get_preset("ci").train_config(**TINY)
    base_dir = runs.ensure_run(base, "base", root=tmp_path, models=tmp_path / "none").parent
    tuned = get_preset("ci").train_config(lambda_d=10.0, init_from=str(base_dir), kimg=0.008, snapshot_kimg=0.008)
    from ssnlib.train import Dist, Trainer

    trainer = Trainer(tuned, Dist())
    trainer.load_weights(base_dir)
    tensors, _ = load_tensors(latest_checkpoint(base_dir))
    for name, value in trainer.G.state_dict().items():
        assert torch.equal(value, tensors[f"G.{name}"])
    with pytest.raises(FileNotFoundError, match="init_from"):
        trainer.load_weights(tmp_path / "nowhere")


def test_an_ssn_started_from_a_stylegan2_run_is_its_transfer(tmp_path):
    """§3.4 with our own StyleGAN2: every tensor of the run's G, G_ema and D is copied, so the SSN
    with a constant latent grid draws the StyleGAN2's images (to float rounding)."""
    base = get_preset("ci").train_config(model="stylegan2", **TINY)
    base_dir = runs.ensure_run(base, "sg2", root=tmp_path, models=tmp_path / "none").parent
    ssn_config = get_preset("ci").train_config(init_from=str(base_dir), **TINY)
    from ssnlib.networks import StyleGAN2Generator
    from ssnlib.train import Dist, Trainer

    trainer = Trainer(ssn_config, Dist())
    trainer.load_weights(base_dir)
    tensors, _ = load_tensors(latest_checkpoint(base_dir))
    for prefix, module in (("G", trainer.G), ("G_ema", trainer.G_ema), ("D", trainer.D)):
        copied = {k: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        state = module.state_dict()
        assert len(copied) == len(state) and all(torch.equal(state[k[len(prefix) + 1:]], v) for k, v in copied.items())
    sg2 = StyleGAN2Generator(**{k: getattr(base, k) for k in ("resolution", "z_dim", "w_dim", "channel_base",
                                                              "channel_max", "mapping_layers")})
    sg2.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    z = torch.randn(2, base.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        grid_z = z[:, :, None, None].expand(-1, -1, *ssn_config.grid)
        expected = sg2(z, noise_mode="const")
        assert expected.abs().max() > 1 and (trainer.G_ema(grid_z, noise_mode="const") - expected).abs().max() <= 1e-5
    spade = get_preset("ci").train_config(init_from=str(base_dir), conditioning="spade", **TINY)
    with pytest.raises(KeyError, match="no SSN counterpart"):
        Trainer(spade, Dist()).load_weights(base_dir)


def test_ship_writes_fp16_generators_that_the_registry_then_loads(tmp_path):
    config = get_preset("ci").train_config(**TINY)
    trained = runs.ensure_run(config, "faces", root=tmp_path / "runs", models=tmp_path / "none")
    (tmp_path / "runs" / "ci" / "unfinished-0123456789").mkdir()  # no generator: not shipped
    written = runs.ship_runs("ci", tmp_path / "runs", tmp_path / "models")
    assert written == [tmp_path / "models" / "ci" / "faces.safetensors"]
    half, meta = load_tensors(written[0])
    full, _ = load_tensors(trained)
    assert all(half[k].dtype == torch.float16 for k in full if full[k].is_floating_point())
    assert runs.config_key(TrainConfig.from_dict(meta["train_config"])) == runs.config_key(config)
    assert written[0].stat().st_size < 0.6 * trained.stat().st_size
    found = runs.find_generator(config, "faces", root=tmp_path / "elsewhere", models=tmp_path / "models")
    assert found == written[0]
    z = torch.randn(2, *load_generator(trained).latent_shape)
    shipped, original = load_generator(found), load_generator(trained)
    torch.testing.assert_close(shipped(z, noise_mode="const"), original(z, noise_mode="const"),
                               atol=2e-2, rtol=0)  # fp16 weights: close, not equal


def test_speed_settings_do_not_change_the_key():
    base = get_preset("cpu").train_config()
    for overrides in (dict(amp="none"), dict(amp="bf16"), dict(compile=True), dict(channels_last=False),
                      dict(quality_kimg=10.0, quality_n=500)):
        assert runs.config_key(get_preset("cpu").train_config(**overrides)) == runs.config_key(base), overrides


def test_a_datasets_own_train_values_reach_every_model_of_that_dataset_and_no_other(monkeypatch):
    """`Preset.dataset_train`: the faces StyleGAN2, its SSN transfer and the fine-tunes all take the
    faces values; churches keeps the preset's; a flag given explicitly still wins. Likewise
    `dataset_transfer_kimg` sets the faces transfer's length alone (not its fine-tunes')."""
    import dataclasses

    from ssnlib.paper import presets
    from ssnlib.paper.zoo import ModelZoo

    wide = dict(channel_base=512, channel_max=64)
    ci = dataclasses.replace(presets.PRESETS["ci"], dataset_train={"faces": wide}, dataset_transfer_kimg={"faces": 0.3})
    monkeypatch.setitem(presets.PRESETS, "ci", ci)
    faces, churches = ModelZoo("ci", "faces"), ModelZoo("ci", "churches")
    for config in (faces.stylegan2_config()[0], faces.ssn_config()[0], faces.ssn_config(lambda_d=100)[0],
                   ci.train_config(dataset="faces"), ci.train_config()):  # faces is TrainConfig's default
        assert (config.channel_base, config.channel_max) == (512, 64)
    base = ci.train  # the preset's own values, dataset_train aside
    for config in (churches.stylegan2_config()[0], churches.ssn_config()[0], ci.train_config(dataset="churches")):
        assert (config.channel_base, config.channel_max) == (base["channel_base"], base["channel_max"])
    assert ci.train_config(dataset="faces", channel_max=16).channel_max == 16
    assert (faces.ssn_config()[0].kimg, churches.ssn_config()[0].kimg) == (0.3, ci.transfer_kimg)
    tuned, _, bases = faces.ssn_config(lambda_d=100)
    assert (tuned.kimg, bases[-1][0].kimg) == (ci.finetune_kimg, 0.3)


def test_every_shipped_cpu_generator_is_found_by_the_registry():
    """The shipped zoo stays usable across changes of the config's fields: every model of the cpu
    plan resolves to its shipped file (none would be retrained by `make reproduce`)."""
    from ssnlib.paper.zoo import planned_zoo, zoo_plan

    missing = []
    for dataset, model, variant, _, seed in zoo_plan("cpu"):
        zoo = planned_zoo("cpu", dataset, seed)
        if model == "stylegan2" and zoo.stylegan2_checkpoint:  # the shipped base is the baseline
            assert Path(zoo.stylegan2_checkpoint).is_file()
            continue
        config, name = zoo.stylegan2_config() if model == "stylegan2" else zoo.ssn_config(**variant)[:2]
        if runs.shipped_generator(config, name) is None:
            missing.append(name)
    assert not missing


def test_the_model_menu_lists_described_ssns_and_no_ci_test_runs(tmp_path, monkeypatch):
    from ssnlib.io.serialization import save_generator

    monkeypatch.setenv("SSNLIB_RUNS", str(tmp_path / "runs"))
    G = SSNGenerator(16, grid=(4, 4), z_dim=8, w_dim=8, channel_base=64, channel_max=8, mapping_layers=2)
    config = get_preset("cpu").train_config(lambda_d=100.0, grid=(4, 4))
    for preset, name in (("cpu", "ssn4x4-faces-ld100"), ("ci", "ssn4x4-faces-ld100"), ("cpu", "stylegan2-faces")):
        (tmp_path / "models" / preset).mkdir(parents=True, exist_ok=True)
        save_generator(tmp_path / "models" / preset / f"{name}.safetensors", G, {"train_config": config.to_dict()})
    run = tmp_path / "runs" / "ci" / "ssn4x4-faces-abc"
    run.mkdir(parents=True)
    save_generator(run / "generator.safetensors", G)
    menu = runs.available_models(tmp_path / "models")
    assert list(menu) == ["cpu · faces · 4×4 · λD 100 (shipped ssn4x4-faces-ld100)"]
    assert runs.describe_model(run / "generator.safetensors") == "generator"  # no training config stored


@pytest.mark.parametrize("kimg, flag", [("", ""), ("1200", "--kimg 1200 ")])
def test_make_long_runs_resumes_each_run_with_a_checkpoint_to_its_own_length(tmp_path, kimg, flag):
    """`make long-runs` resumes only run folders holding a checkpoint, each to the kimg of its own
    config.json unless KIMG is given (a base and an SSN transfer in flight have different lengths)."""
    import shutil
    import subprocess

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    training = tmp_path / "models" / "t" / "training"
    (training / "in-flight" / "checkpoints").mkdir(parents=True)
    (training / "in-flight" / "checkpoints" / "ckpt-00000001.safetensors").touch()
    (training / "finished").mkdir()  # CSVs only: nothing to resume
    makefile = Path(__file__).resolve().parents[1] / "Makefile"
    subprocess.run(["make", "-s", "-f", str(makefile), "-o", "venv", "long-runs", "PRESET=t", "PY=echo",
                    f"KIMG={kimg}"], cwd=tmp_path, check=True)
    run = "models/t/training/in-flight/"
    assert (training / "in-flight" / "train.log").read_text() == \
        f"-m ssnlib train --resume {run} --out {run} {flag}--keep-checkpoints 1\n"
    assert not (training / "finished" / "train.log").exists()
