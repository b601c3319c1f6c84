"""`python -m ssnlib eval`: metrics of a run, JSON + table; canonical metrics fail clearly offline."""

import json

import pytest
import torch

from ssnlib import SSNGenerator, StyleGAN2Generator
from ssnlib.__main__ import main
from ssnlib.evaluate import EvalSettings, evaluate_cached, evaluate_generator, evaluate_run, format_table, parse_metrics
from ssnlib.io.serialization import save_generator
from ssnlib.metrics.features import MissingWeightsError
from ssnlib.paper.presets import get_preset

SMALL = dict(z_dim=16, w_dim=16, channel_base=128, channel_max=16, mapping_layers=2)


@pytest.fixture()
def run_dir(tmp_path):
    run = tmp_path / "run"
    config = get_preset("ci").train_config(out=str(run))
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    save_generator(run / "generator.safetensors", SSNGenerator(16, **SMALL))
    return run


def test_eval_cli_prints_a_table_and_writes_json(run_dir, capsys):
    main(["eval", str(run_dir), "--metrics", "distortion", "--n-distortion", "32", "--batch-size", "16"])
    out = capsys.readouterr().out
    assert "| distortion |" in out and "| locality |" in out
    saved = json.loads((run_dir / "eval-ci.json").read_text())
    assert saved["n_samples"] == 32 and saved["distortion"] > 0 and 0 < saved["locality"] < 1
    again = evaluate_run(run_dir, ["distortion"], **{**get_preset("ci").eval, "n_distortion": 32, "batch_size": 16})
    assert again["distortion"] == saved["distortion"]  # seeded


def test_canonical_metrics_fail_clearly_offline(run_dir, monkeypatch):
    monkeypatch.delenv("SSNLIB_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(run_dir / "empty-torch-home"))
    with pytest.raises(MissingWeightsError, match="SSNLIB_INCEPTION_WEIGHTS"):
        evaluate_run(run_dir, ["fid"], n_fd=8)


def test_stylegan2_has_no_distortion_and_unknown_metrics_are_named():
    settings = get_preset("ci").eval_settings(dataset="faces", resolution=16, n_distortion=4)
    results = evaluate_generator(StyleGAN2Generator(16, **SMALL), ["distortion"], settings)
    assert all(results[k] != results[k] for k in ("distortion", "in_block", "locality"))  # NaN: N/A
    with pytest.raises(ValueError, match="unknown metrics \\['fidelity'\\]"):
        parse_metrics("fid,fidelity")
    assert "FD-proc" in format_table({"fd_proc": 12.5}) and "FID" not in format_table({"fd_proc": 12.5})


def test_proxy_metrics_run_with_the_shipped_procedural_network(run_dir):
    results = evaluate_run(run_dir, ["fd_proc", "ppl_proc"], n_fd=16, n_ppl=8, batch_size=8)
    assert results["fd_proc"] > 0 and results["ppl_proc"] > 0
    assert "FD-proc" in format_table(results) and "PPL-proc" in format_table(results)


def test_evaluation_cache_keys_on_file_content_metric_and_settings(run_dir, tmp_path):
    path = run_dir / "generator.safetensors"
    settings = get_preset("ci").eval_settings(dataset="faces", resolution=16, n_distortion=16, batch_size=8,
                                        cache_dir=str(tmp_path / "cache"))
    loads = []

    def load():
        loads.append(1)
        from ssnlib.io.serialization import load_generator
        return load_generator(path)

    first = evaluate_cached(path, load, ["distortion"], settings)
    again = evaluate_cached(path, load, ["distortion"], settings)
    assert again == first and len(loads) == 1  # the second call read the cache
    assert first == evaluate_generator(load(), ["distortion"], settings)  # and the cache holds the real numbers
    more = EvalSettings(**{**settings.__dict__, "n_distortion": 24})
    assert evaluate_cached(path, load, ["distortion"], more)["n_samples"] == 24 and len(loads) == 3
    torch.manual_seed(123)
    save_generator(path, SSNGenerator(16, **SMALL))  # other weights, same file name
    assert evaluate_cached(path, load, ["distortion"], settings)["distortion"] != first["distortion"]
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        evaluate_cached(tmp_path / "missing.safetensors", load, ["distortion"], settings)


def test_real_vs_real_compares_held_out_images_with_the_reference_set(tmp_path):
    from torch.utils.data import DataLoader, Subset

    from ssnlib.data import open_dataset
    from ssnlib.evaluate import evaluate_real
    from ssnlib.metrics.features import compute_feature_stats, get_feature_extractor
    from ssnlib.metrics.frechet import frechet_distance
    from ssnlib.metrics.procnet import PROCNET_NAME

    settings = EvalSettings(dataset="faces", resolution=16, n_fd=128, batch_size=32, cache_dir=str(tmp_path))
    results = evaluate_real(["fd_proc", "prc_proc"], settings)
    dataset = open_dataset("faces", 16, length=256, seed=0)
    extractor = get_feature_extractor(PROCNET_NAME)
    a, b = (compute_feature_stats(DataLoader(Subset(dataset, r), batch_size=32), extractor, 128, 32)
            for r in (range(128), range(128, 256)))
    assert results["fd_proc"] == pytest.approx(frechet_distance(b.mean, b.cov, a.mean, a.cov), rel=1e-6)
    untrained = evaluate_generator(SSNGenerator(16, **SMALL), ["fd_proc", "prc_proc"], settings)
    assert results["fd_proc"] < 0.2 * untrained["fd_proc"]  # the floor, far below a generator that learned nothing
    assert results["prc_proc_precision"] > 0.7 and results["prc_proc_recall"] > 0.7
    with pytest.raises(ValueError, match="no latent code: ppl_proc"):
        evaluate_real(["fd_proc", "ppl_proc"], settings)
    # a transform degrades the held-out images first: the same FD as degrading them by hand
    flipped = compute_feature_stats((x.flip(-1) for x in DataLoader(Subset(dataset, range(128, 256)), batch_size=32)),
                                    extractor, 128, 32)
    degraded = evaluate_real(["fd_proc"], settings, transform=lambda x: x.flip(-1))
    assert degraded["fd_proc"] == pytest.approx(frechet_distance(flipped.mean, flipped.cov, a.mean, a.cov), rel=1e-6)
    with pytest.raises(ValueError, match=r"transform must return a tensor of the batch's shape \(32, 3, 16, 16\)"):
        evaluate_real(["fd_proc"], settings, transform=lambda x: x[:, :, :8])
