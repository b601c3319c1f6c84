"""The model zoo: names, fine-tunes from the λD = 0 base, paper-preset transfer."""

import dataclasses
from pathlib import Path

import pytest
import torch

from ssnlib.paper.runs import config_key, run_directory
from ssnlib.paper.zoo import ModelZoo


def test_the_ssn_base_is_transferred_from_stylegan2_and_variants_fine_tune_from_it(tmp_path):
    zoo = ModelZoo("ci", "faces", runs_root=str(tmp_path), models_root=str(tmp_path / "none"))
    stylegan2 = zoo.stylegan2_config()
    base, base_name, base_bases = zoo.ssn_config()
    assert (base_name, base_bases) == ("ssn4x4-faces", (stylegan2,)) and stylegan2[0].model == "stylegan2"
    assert base.init_from == str(run_directory(*stylegan2, tmp_path)) and base.kimg == 0.1  # transfer_kimg
    tuned, name, bases = zoo.ssn_config(lambda_d=100)
    assert name == "ssn4x4-faces-ld100" and bases == (stylegan2, (base, base_name))
    assert tuned.init_from == str(run_directory(base, base_name, tmp_path)) and tuned.lambda_d == 100
    assert tuned.kimg == 0.1  # finetune_kimg
    finer, finer_name, finer_bases = zoo.ssn_config(grid=(8, 8), lambda_d=100)
    assert finer_name == "ssn8x8-faces-ld100" and finer.grid == (8, 8)  # the grid is not a weight shape:
    assert finer_bases == bases and finer.init_from == tuned.init_from  # from the 4×4 base
    ft, ft_name, _ = zoo.ssn_config(finetuned=True)
    assert ft_name == "ssn4x4-faces-ft" and ft.lambda_d == 0
    assert ft.kimg == tuned.kimg and ft.init_from == tuned.init_from
    spade, spade_name, spade_bases = zoo.ssn_config(conditioning="spade")
    assert spade_name == "ssn4x4-spade-faces" and spade_bases == () and spade.init_from is None
    scratch, scratch_name, scratch_bases = zoo.ssn_config(from_scratch=True)
    assert scratch_name == "ssn4x4-faces-scratch" and scratch_bases == () and scratch.init_from is None
    assert scratch.kimg == stylegan2[0].kimg and config_key(scratch) != config_key(base)
    assert zoo.ssn_config(pl_kind="low_distortion", pl_weight=20)[1] == "ssn4x4-faces-eq15w20"
    with pytest.raises(ValueError, match="from_scratch"):
        zoo.ssn_config(lambda_d=100, from_scratch=True)

    G = zoo.ssn(lambda_d=100)  # trains the StyleGAN2, the transferred base, then the fine-tune
    for config, run_name in (stylegan2, (base, base_name), (tuned, name)):
        assert (run_directory(config, run_name, tmp_path) / "generator.safetensors").is_file()
    assert G.grid == (4, 4) and not G.training
    assert torch.isfinite(G(G.sample_z(2))).all()
    untrained = zoo.untrained_file()  # the from-scratch SSN's step-0 weights, written once
    assert untrained == zoo.untrained_file() and untrained.parent.name == "untrained"
    from ssnlib.train import Dist, Trainer

    start = Trainer(scratch, Dist()).G.state_dict()
    assert all(torch.equal(v, start[k]) for k, v in zoo.load(untrained).state_dict().items())
    G8 = zoo.ssn(grid=(8, 8))  # fine-tuned from the same 4×4 base run: trains only the fine-tune
    assert G8.grid == (8, 8) and G8.sample_z(1).shape == (1, G8.z_dim, 8, 8)


def test_paper_preset_requires_a_stylegan2_checkpoint_and_transfers_every_variant():
    with pytest.raises(ValueError, match="stylegan2_checkpoint"):
        ModelZoo("paper", "/data/ffhq.zip")
    zoo = ModelZoo("paper", "/data/ffhq.zip", stylegan2_checkpoint="/ckpt/ffhq-256.pt")
    config, name, base = zoo.ssn_config(lambda_d=100)
    assert base == () and config.transfer == "/ckpt/ffhq-256.pt" and config.resolution == 256
    assert name == "ssn4x4-ffhq-ld100"
    with pytest.raises(ValueError, match="from_scratch"):
        zoo.ssn_config(from_scratch=True)


@pytest.mark.slow
def test_train_zoo_trains_every_notebook_model_once_with_fine_tunes_from_their_base(tmp_path, monkeypatch):
    from ssnlib.io.serialization import load_tensors
    from ssnlib.paper.zoo import planned_zoo, train_zoo, zoo_plan

    monkeypatch.setenv("SSNLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SSNLIB_MODELS", str(tmp_path / "none"))
    plan = zoo_plan("ci")
    # StyleGAN2 ×2, transferred SSN ×2, λD 0/100/10000, eq. 15 ×2, 8×8 faces, churches, SPADE, from scratch ×2,
    # and the seed-1 replicates of Table 1 (StyleGAN2, as ci ships no base, and SSN, per dataset) and of
    # Table 2 (faces λD 0 and 100)
    assert len(plan) == 2 + 2 + 3 + 2 + 2 + 1 + 2 + 4 + 2
    trained = []
    for dataset, model, variant, needs, seed in plan:  # every model comes after the run it starts from
        assert needs is None or needs in [(d, m, s) for d, m, v, s in trained if d == dataset and v == {}]
        trained.append((dataset, model, variant, seed))
    assert [(d, m, v) for d, m, v, _, s in plan if s == 1] == [
        ("faces", "stylegan2", {}), ("faces", "ssn", {}), ("churches", "stylegan2", {}), ("churches", "ssn", {}),
        ("faces", "ssn", {"lambda_d": 0.0, "finetuned": True}),
        ("faces", "ssn", {"lambda_d": 100.0, "finetuned": True})]
    paths = train_zoo("ci", jobs=2)
    assert len(paths) == len(plan) and len(set(paths)) == len(plan) and all(Path(p).is_file() for p in paths)
    zoos = {(d, s): planned_zoo("ci", d, s) for d, _, _, _, s in plan}
    for p in paths:  # the base starts from its StyleGAN2 run, every fine-tune from the base run, of its own seed
        config = load_tensors(p)[1]["train_config"]
        zoo = zoos[(config["dataset"], None if config["seed"] == 0 else config["seed"])]
        if p == str(zoo.ssn_file()):
            assert Path(config["init_from"]).name == Path(zoo.stylegan2_file()).parent.name
        elif config["init_from"]:
            assert Path(config["init_from"]).name == Path(zoo.ssn_file()).parent.name
        else:
            assert p in {str(zoo.stylegan2_file()), str(zoo.ssn_file(from_scratch=True)),
                         str(zoo.ssn_file(conditioning="spade"))}
    faces = zoos["faces", None]
    assert str(faces.ssn_file()) in paths and str(faces.ssn_file(from_scratch=True)) in paths
    replicate = zoos["faces", 1].ssn_file(lambda_d=100.0)
    assert replicate.parent.name.startswith("ssn4x4-faces-ld100-s1-")  # ships beside seed 0's file, not over it
    mtimes = {p: Path(p).stat().st_mtime_ns for p in paths}
    assert train_zoo("ci", jobs=1) == paths and all(Path(p).stat().st_mtime_ns == t for p, t in mtimes.items())


def test_a_longer_stylegan2_runs_checkpoint_replaces_the_presets_baseline(tmp_path):
    from ssnlib.io.serialization import load_tensors
    from ssnlib.paper.tables import train_kimg
    from ssnlib.train import latest_checkpoint, train

    run = tmp_path / "training" / "stylegan2-faces-s0"
    own = ModelZoo("ci", "faces", runs_root=str(tmp_path)).stylegan2_config()[0]
    train(dataclasses.replace(own, out=str(run), kimg=0.3, snapshot_kimg=0.1))
    checkpoint = latest_checkpoint(run)
    zoo = ModelZoo("ci", "faces", stylegan2_checkpoint=str(run), runs_root=str(tmp_path / "runs"))
    assert zoo.stylegan2_checkpoint == str(checkpoint)  # the run's latest checkpoint, pinned
    base, base_name, bases = zoo.ssn_config()
    assert bases == () and base.init_from == str(checkpoint) and base_name == "ssn4x4-faces"
    tuned, _, tuned_bases = zoo.ssn_config(lambda_d=100)
    assert tuned_bases == ((base, base_name),)
    assert zoo.stylegan2_kimg() == pytest.approx(0.304)  # 38 steps of 8 images
    assert train_kimg(zoo, "stylegan2") == pytest.approx(0.304)
    assert train_kimg(zoo, lambda_d=100) == pytest.approx(0.304 + 0.1 + 0.1)  # base run, transfer, fine-tune
    exported = zoo.stylegan2_file()  # the checkpoint's EMA generator, written once
    assert exported == zoo.stylegan2_file() and exported.parent.name == "bases"
    tensors, _ = load_tensors(checkpoint)
    weights = zoo.load(exported).state_dict()
    assert all(torch.equal(v, tensors[f"G_ema.{k}"]) for k, v in weights.items())
    narrow = tmp_path / "narrow"
    train(dataclasses.replace(own, out=str(narrow), kimg=0.01, channel_max=16))
    with pytest.raises(ValueError, match="channel_max 16 \\(preset: 32\\)"):
        ModelZoo("ci", "faces", stylegan2_checkpoint=str(narrow))
    with pytest.raises(ValueError, match="on churches"):
        ModelZoo("ci", "churches", stylegan2_checkpoint=str(run))


def test_a_shipped_base_holds_the_runs_networks_and_the_preset_transfers_from_it(tmp_path, monkeypatch):
    from ssnlib.__main__ import main
    from ssnlib.io.serialization import load_metadata, load_tensors
    from ssnlib.paper import presets
    from ssnlib.train import latest_checkpoint, save_networks, train

    run = tmp_path / "training" / "stylegan2-faces-s0"
    own = ModelZoo("ci", "faces", runs_root=str(tmp_path)).stylegan2_config()[0]
    train(dataclasses.replace(own, out=str(run), kimg=0.2, snapshot_kimg=0.1))
    checkpoint = latest_checkpoint(run)
    base = save_networks(run, tmp_path / "bases" / "stylegan2-faces-200img.safetensors")
    full, meta = load_tensors(checkpoint)
    kept, kept_meta = load_tensors(base)
    assert {k.split(".", 1)[0] for k in kept} == {"G", "G_ema", "D"}  # no optimizer, path-length or RNG state
    assert kept.keys() == {k for k in full if k.split(".", 1)[0] in ("G", "G_ema", "D")}
    assert all(torch.equal(v, full[k]) for k, v in kept.items())
    assert kept_meta["nimg"] == meta["nimg"] == 200 and kept_meta["config"] == meta["config"]
    assert base.stat().st_size < checkpoint.stat().st_size / 1.5
    cli = tmp_path / "cli.safetensors"
    assert main(["export", str(run), "--networks", "--out", str(cli)]) == 0
    assert load_tensors(cli)[0].keys() == kept.keys()
    assert main(["export", str(run), "--networks", "--half", "--out", str(cli)]) == 2
    with pytest.raises(ValueError, match="not an ssnlib training checkpoint"):
        save_networks(ModelZoo("ci", "faces", stylegan2_checkpoint=str(base), runs_root=str(tmp_path / "r")
                               ).stylegan2_file(), tmp_path / "x.safetensors")

    monkeypatch.setitem(presets.PRESETS, "ci", dataclasses.replace(presets.PRESETS["ci"], bases={"faces": str(base)}))
    zoo = ModelZoo("ci", "faces", runs_root=str(tmp_path / "runs"))
    assert zoo.stylegan2_checkpoint == str(base) and zoo.stylegan2_kimg() == 0.2
    assert ModelZoo("ci", "churches", runs_root=str(tmp_path / "runs")).stylegan2_checkpoint is None
    ssn, _, bases = zoo.ssn_config()
    assert bases == () and ssn.init_from == str(base)
    replicate = zoo.replicate(1)  # the SSN runs again at another seed, from the same base
    assert replicate.stylegan2_checkpoint == str(base) and replicate.ssn_config()[0].seed == 1
    assert config_key(replicate.ssn_config()[0]) != config_key(ssn) and zoo.config().seed == 0
    exported = zoo.stylegan2_file()
    assert exported.name == "stylegan2-faces-200img.safetensors" and load_metadata(exported)["nimg"] == 200
    assert all(torch.equal(v, full[f"G_ema.{k}"]) for k, v in zoo.load(exported).state_dict().items())
    # the key names the base by its file, wherever the clone is; a checkpoint by its run and step
    moved = dataclasses.replace(ssn, init_from=str(tmp_path / "elsewhere" / base.name))
    assert config_key(moved) == config_key(ssn)
    other_run = dataclasses.replace(ssn, init_from=str(tmp_path / "another-run" / "checkpoints" / checkpoint.name))
    assert config_key(dataclasses.replace(ssn, init_from=str(checkpoint))) != config_key(other_run)


def test_a_seeded_zoo_is_an_independent_replicate_of_every_run(tmp_path):
    default, replicate = ModelZoo("ci", "faces", runs_root=str(tmp_path)), ModelZoo("ci", "faces", seed=1,
                                                                                  runs_root=str(tmp_path))
    assert default.config().seed == 0 and replicate.config().seed == 1
    for variant in (dict(), dict(lambda_d=100)):
        (mine, name, bases), (theirs, their_name, their_bases) = (z.ssn_config(**variant) for z in (replicate, default))
        assert name == their_name + "-s1" and mine.seed == 1 and all(b.seed == 1 for b, _ in bases)
        assert all(base_name.endswith("-s1") for _, base_name in bases)  # `make ship` keeps seed 0's files
        assert config_key(mine) != config_key(theirs)  # another run directory, never the seed-0 run
    assert replicate.stylegan2_config()[0].seed == 1
