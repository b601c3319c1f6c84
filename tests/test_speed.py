"""Training-speed settings: the fused kernels equal the operations they replace, channels-last and
bf16 autocast train the same model, `amp="auto"` resolves by what the CPU can do, quality.csv."""

import contextlib
import copy
import csv
import json
import math

import pytest
import torch
import torch.nn.functional as F

from ssnlib import Discriminator
from ssnlib import train as train_module
from ssnlib.evaluate import EvalSettings, evaluate_generator
from ssnlib.io.serialization import load_tensors
from ssnlib.layers import EqualConv2d
from ssnlib.ops import bias_leaky_relu, scaled_bias_leaky_relu, setup_filter, upfirdn2d
from ssnlib.paper.presets import get_preset
from ssnlib.train import Dist, Trainer, resolve_amp


def unfused_epilogue(x, scale, bias, noise, strength):
    """What StyledConv did before the fusion: demodulate, add noise, add bias, lrelu, × √2."""
    y = x * scale[:, :, None, None]
    if noise is not None:
        y = y + noise * strength
    y = y + bias[None, :, None, None]
    return F.leaky_relu(y, 0.2) * math.sqrt(2)


@pytest.mark.parametrize("with_noise", [True, False])
def test_fused_epilogue_equals_the_six_operations(with_noise):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 8, 8, generator=g, dtype=torch.float64)
    scale = torch.rand(3, 5, generator=g, dtype=torch.float64) + 0.5
    bias = torch.randn(5, generator=g, dtype=torch.float64)
    noise = torch.randn(3, 1, 8, 8, generator=g, dtype=torch.float64) if with_noise else None
    strength = torch.tensor(0.3, dtype=torch.float64)
    got = scaled_bias_leaky_relu(x, scale, bias, noise, strength)
    torch.testing.assert_close(got, unfused_epilogue(x, scale, bias, noise, strength), rtol=1e-12, atol=1e-12)
    assert (got < 0).any() and (got > 0).any()  # both branches of the leaky ReLU were exercised


def test_bias_leaky_relu_with_gain_is_the_scaled_activation():
    x, b = torch.randn(2, 4, 3, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    expected = F.leaky_relu(x + b[None, :, None, None], 0.2) * math.sqrt(2) * 0.7
    torch.testing.assert_close(bias_leaky_relu(x, b, gain=0.7), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(bias_leaky_relu(x), F.leaky_relu(x, 0.2) * math.sqrt(2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pad", [(1, 1), (2, 2), (2, 1), (0, -1)])
def test_fir_filter_padding_inside_the_conv_equals_padding_first(pad):
    """Symmetric padding is passed to the convolution; the explicit pad/crop is the reference."""
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    f = setup_filter().to(torch.float64)
    p0, p1 = pad
    padded = F.pad(x, [max(p0, 0), max(p1, 0)] * 2)
    padded = padded[:, :, max(-p0, 0): padded.shape[2] - max(-p1, 0), max(-p0, 0): padded.shape[3] - max(-p1, 0)]
    expected = F.conv2d(padded, (f * 2.0).flip([0, 1])[None, None].repeat(3, 1, 1, 1), groups=3)
    torch.testing.assert_close(upfirdn2d(x, f, pad=pad, gain=2.0), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation, bias", [(True, True), (False, False), (False, True)])
def test_equal_conv_gain_scales_the_output(activation, bias):
    torch.manual_seed(0)
    conv = EqualConv2d(4, 6, 3, bias=bias, activation=activation, down=2).double()
    if bias:
        torch.nn.init.normal_(conv.bias)
    scaled = copy.deepcopy(conv)
    scaled.gain = 0.5**0.5
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(scaled(x), conv(x) * 0.5**0.5, rtol=1e-12, atol=1e-12)


def test_discriminator_block_sums_its_branches_with_gain_sqrt_half():
    torch.manual_seed(0)
    D = Discriminator(16, channel_base=128, channel_max=16).double()
    block = D.b16
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    plain = copy.deepcopy(block)
    plain.conv1.gain = plain.skip.gain = 1.0
    h = plain.fromrgb(x)
    expected = (plain.conv1(plain.conv0(h)) + plain.skip(h)) * 0.5**0.5
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fast", [True, False])
def test_amp_auto_is_bf16_exactly_where_the_cpu_has_it(monkeypatch, fast):
    monkeypatch.setattr(train_module, "cpu_has_fast_bf16", lambda: fast)
    assert resolve_amp("auto", torch.device("cpu")) == ("bf16" if fast else "none")
    assert resolve_amp("none", torch.device("cpu")) == "none"
    assert resolve_amp("bf16", torch.device("cpu")) == "bf16"


def one_step(tmp_path, **overrides):
    config = get_preset("ci").train_config(out=str(tmp_path / "run"), dataset_length=16, **overrides)
    trainer = Trainer(config, Dist())
    real = torch.rand(config.batch_size, 3, config.resolution, config.resolution) * 2 - 1
    stats = trainer.train_step(real)
    return trainer, stats


@pytest.mark.parametrize("lambda_d, speed", [(0.0, {}), (100.0, {}), (100.0, dict(amp="bf16", channels_last=True))])
def test_generator_phase_skips_the_discriminators_weight_gradients_and_changes_nothing(tmp_path, monkeypatch,
                                                                                      lambda_d, speed):
    """G main runs D with its parameters frozen: D gets no weight gradient (the kernels skipped)
    and G's update is bit for bit the one with D's weight gradients computed and thrown away."""
    def g_main(tag):
        config = get_preset("ci").train_config(out=str(tmp_path / tag), dataset_length=16, lambda_d=lambda_d,
                                                       **speed)
        trainer = Trainer(config, Dist())
        trainer.generator_main({})
        return trainer

    frozen = g_main("frozen")
    monkeypatch.setattr(train_module, "frozen", lambda module: contextlib.nullcontext())
    unfrozen = g_main("unfrozen")
    assert all(p.grad is None for p in frozen.D.parameters())
    assert all(p.grad is not None for p in unfrozen.D.parameters())
    assert all(p.requires_grad for p in frozen.D.parameters())  # thawed again for D's phases
    for (name, a), b in zip(frozen.G.named_parameters(), unfrozen.G.parameters()):
        assert torch.equal(a, b), name
        assert torch.equal(a.grad, b.grad), name


def test_channels_last_trains_the_same_model(tmp_path):
    """Memory layout is arithmetic order only: one step (all four phases) agrees to float rounding."""
    nchw, stats_nchw = one_step(tmp_path, channels_last=False)
    nhwc, stats_nhwc = one_step(tmp_path, channels_last=True)
    assert nhwc.G.synthesis.b8.conv1.conv.weight.is_contiguous(memory_format=torch.channels_last)
    for key in ("loss_g", "loss_d", "pl_penalty", "r1_penalty"):
        assert stats_nhwc[key] == pytest.approx(stats_nchw[key], rel=1e-4, abs=1e-6), key
    for (name, a), b in zip(nchw.G.named_parameters(), nhwc.G.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_autocast_main_phase_is_close_to_float32():
    """bf16 changes the main phases' arithmetic (8-bit mantissa), not what they compute: images,
    logits and the generator's gradient agree with float32 to bf16 accuracy."""
    from ssnlib import SSNGenerator, losses

    torch.manual_seed(0)
    G = SSNGenerator(16, grid=(4, 4), z_dim=32, w_dim=32, channel_base=256, channel_max=32, mapping_layers=2)
    D = Discriminator(16, channel_base=256, channel_max=32)
    z = G.sample_z(8, torch.Generator().manual_seed(1))
    noise = G.make_noise(8, torch.Generator().manual_seed(2))
    results = {}
    for amp in ("none", "bf16"):
        G.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            images = G(z, noise=noise)
            logits = D(images)
            loss = losses.generator_loss(logits)
        loss.backward()
        grad = torch.cat([p.grad.flatten() for p in G.parameters() if p.grad is not None])
        results[amp] = images.float(), logits.float(), grad
    (img32, logit32, grad32), (img16, logit16, grad16) = results["none"], results["bf16"]
    assert img16.dtype == torch.float32  # the skip sums stay float32
    assert (img16 - img32).abs().max() < 0.05 * img32.abs().max()
    assert (logit16 - logit32).abs().max() < 0.05 * logit32.abs().max()
    assert F.cosine_similarity(grad16, grad32, dim=0) > 0.99


def test_quality_log_measures_fd_proc_and_drops_rows_on_resume(tmp_path):
    run = tmp_path / "run"
    config = get_preset("ci").train_config(out=str(run), kimg=0.2, quality_kimg=0.1, quality_n=64)
    trainer = train_module.train(config)
    with open(run / "quality.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [13, 25]  # every 0.1 kimg at batch 8, and at the end
    assert all(float(r["fd_proc"]) > 0 and float(r["fd_proc_se"]) > 0 for r in rows)
    assert all(0 <= float(r["precision_proc"]) <= 1 and 0 <= float(r["recall_proc"]) <= 1 for r in rows)
    assert config.model == "ssn"  # an SSN also logs its distortion (Table 2's measure, quality_n resamples)
    assert all(float(r["distortion"]) > 0 and float(r["distortion_se"]) > 0 for r in rows)
    assert all(float(r["in_block"]) > float(r["distortion"]) and 0 < float(r["locality"]) < 1 for r in rows)
    settings = EvalSettings(dataset=config.dataset, resolution=config.resolution, n_fd=64, n_distortion=64)
    direct = evaluate_generator(copy.deepcopy(trainer.G_ema), ["distortion"], settings)  # the last row's model
    assert float(rows[-1]["distortion"]) == pytest.approx(direct["distortion"], rel=1e-6)
    assert float(rows[-1]["locality"]) == pytest.approx(direct["locality"], rel=1e-6)
    hours = [float(r["train_hours"]) for r in rows]
    assert 0 < hours[0] < hours[1] == pytest.approx(trainer.train_seconds / 3600)
    # best.safetensors: the networks at the row with the lowest FD-proc, which re-measure to that row
    best_row = min(rows, key=lambda r: float(r["fd_proc"]))
    tensors, meta = load_tensors(run / train_module.BEST_NETWORKS)
    assert (meta["step"], meta["fd_proc"]) == (int(best_row["step"]), float(best_row["fd_proc"]))
    assert {k.split(".", 1)[0] for k in tensors} == set(train_module.NETWORKS)
    best_G, _ = train_module.build_networks(train_module.TrainConfig.from_dict(meta["config"]))
    best_G.load_state_dict({k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")})
    settings = EvalSettings(dataset=config.dataset, resolution=config.resolution, n_fd=64, n_distortion=64)
    assert evaluate_generator(best_G, ["fd_proc"], settings)["fd_proc"] == pytest.approx(meta["fd_proc"], rel=1e-6)
    from ssnlib.__main__ import main  # `eval RUN/best.safetensors` measures that snapshot, as quality.csv did
    assert main(["eval", str(run / "best.safetensors"), "--metrics", "fd_proc", "--n-fd", "64",
                 "--batch-size", "64"]) == 0
    assert json.loads((run / "eval-ci-best.json").read_text())["fd_proc"] == pytest.approx(meta["fd_proc"], rel=1e-6)
    resumed = train_module.QualityLog(run, config, start_step=13)  # a resume from step 13 keeps only row 13
    with open(run / "quality.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [13]
    assert resumed.best_fd == meta["fd_proc"]  # and improves on the best file's FD-proc only


@pytest.mark.parametrize("n, group", [(8, 4), (4, 4), (6, 2)])
def test_discriminator_pair_pass_equals_two_passes(n, group):
    """D main scores reals and fakes in one batch; the minibatch-std groups must not mix them."""
    torch.manual_seed(0)
    D = Discriminator(16, channel_base=128, channel_max=16, mbstd_group=group).double()
    a, b = torch.randn(n, 3, 16, 16, dtype=torch.float64), torch.randn(n, 3, 16, 16, dtype=torch.float64) * 3
    got_a, got_b = D.forward_pair(a, b)
    torch.testing.assert_close(got_a, D(a), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(got_b, D(b), rtol=1e-10, atol=1e-10)
    mixed = D(torch.cat([a, b]))[:n]  # the naive concatenation mixes the groups: a different function
    assert (mixed - D(a)).abs().max() > 1e-6
