"""The model zoo: names, fine-tunes from the λD = 0 base, paper-preset transfer."""

from pathlib import Path

import pytest
import torch

from ssnlib.experiments import ModelZoo
from ssnlib.runs import config_key, run_directory


def test_variants_fine_tune_from_the_base_run(tmp_path):
    zoo = ModelZoo("ci", "faces", runs_root=str(tmp_path), models_root=str(tmp_path / "none"))
    base, base_name, none = zoo.ssn_config()
    tuned, name, (base_again, _) = zoo.ssn_config(lambda_d=100)
    assert (base_name, name, none) == ("ssn4x4-faces", "ssn4x4-faces-ld100", None)
    assert tuned.init_from == str(run_directory(base, base_name, tmp_path)) and tuned.lambda_d == 100
    assert tuned.kimg == 0.1 and config_key(base_again) == config_key(base)
    finer, finer_name, (finer_base, _) = zoo.ssn_config(grid=(8, 8), lambda_d=100)
    assert finer_name == "ssn8x8-faces-ld100" and finer.grid == (8, 8)  # the grid is not a weight shape:
    assert config_key(finer_base) == config_key(base) and finer.init_from == tuned.init_from  # from the 4×4 base
    ft, ft_name, _ = zoo.ssn_config(finetuned=True)
    assert ft_name == "ssn4x4-faces-ft" and ft.lambda_d == 0 and ft.kimg == tuned.kimg and ft.init_from == tuned.init_from
    spade, spade_name, spade_base = zoo.ssn_config(conditioning="spade")
    assert spade_name == "ssn4x4-spade-faces" and spade_base is None and spade.init_from is None
    assert zoo.ssn_config(pl_kind="low_distortion", pl_weight=20)[1] == "ssn4x4-faces-eq15w20"

    G = zoo.ssn(lambda_d=100)  # trains the base (with checkpoints), then the fine-tune
    assert (run_directory(base, base_name, tmp_path) / "generator.safetensors").is_file()
    assert (run_directory(tuned, name, tmp_path) / "generator.safetensors").is_file()
    assert G.grid == (4, 4) and not G.training
    assert torch.isfinite(G(G.sample_z(2))).all()
    untrained = zoo.untrained_file()  # the base's step-0 weights, written once
    assert untrained == zoo.untrained_file() and untrained.parent.name == "untrained"
    from ssnlib.train import Dist, Trainer

    start = Trainer(base, Dist()).G.state_dict()
    assert all(torch.equal(v, start[k]) for k, v in zoo.load(untrained).state_dict().items())
    G8 = zoo.ssn(grid=(8, 8))  # fine-tuned from the same 4×4 base run: trains only the fine-tune
    assert G8.grid == (8, 8) and G8.sample_z(1).shape == (1, G8.z_dim, 8, 8)


def test_paper_preset_requires_a_stylegan2_checkpoint_and_transfers_every_variant():
    with pytest.raises(ValueError, match="stylegan2_checkpoint"):
        ModelZoo("paper", "/data/ffhq.zip")
    zoo = ModelZoo("paper", "/data/ffhq.zip", stylegan2_checkpoint="/ckpt/ffhq-256.pt")
    config, name, base = zoo.ssn_config(lambda_d=100)
    assert base is None and config.transfer == "/ckpt/ffhq-256.pt" and config.resolution == 256
    assert name == "ssn4x4-ffhq-ld100"


@pytest.mark.slow
def test_train_zoo_trains_every_notebook_model_once_with_fine_tunes_from_their_base(tmp_path, monkeypatch):
    from ssnlib.experiments import train_zoo, zoo_plan
    from ssnlib.serialization import load_tensors

    monkeypatch.setenv("SSNLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("SSNLIB_MODELS", str(tmp_path / "none"))
    scratch, tuned = zoo_plan("ci")
    assert len(scratch) == 5 and len(tuned) == 3 + 2 + 2  # λD 0/100/10000, eq. 15 ×2, 8×8 faces, churches
    paths = train_zoo("ci", jobs=2)
    assert len(paths) == 12 and len(set(paths)) == 12 and all(Path(p).is_file() for p in paths)
    base = ModelZoo("ci", "faces").ssn_file()
    for p in paths:
        config = load_tensors(p)[1]["train_config"]
        if config["init_from"]:  # every fine-tune starts from its dataset's 4×4 base run
            assert Path(config["init_from"]).name == Path(ModelZoo("ci", config["dataset"]).ssn_file()).parent.name
    assert str(base) in paths
    mtimes = {p: Path(p).stat().st_mtime_ns for p in paths}
    assert train_zoo("ci", jobs=1) == paths and all(Path(p).stat().st_mtime_ns == t for p, t in mtimes.items())
