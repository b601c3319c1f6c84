"""Importing pretrained StyleGAN2 checkpoints (§3.4): rosinality `.pt` and NVlabs `.pkl` files written
from our own networks (tests/synthetic_checkpoints.py) load back exactly, transfer to an SSN, and
malformed or malicious files are refused with errors that name the problem."""

import builtins
import io
import logging
import os
import pickle
import sys

import pytest
import synthetic_checkpoints as synth
import torch
from conftest import seeded

from ssnlib import Discriminator, SSNGenerator, StyleGAN2Generator
from ssnlib.io.serialization import save_generator
from ssnlib.io.stylegan2_import import (
    CheckpointError,
    UnsafeCheckpointError,
    load,
    load_stylegan2,
    load_stylegan2_discriminator,
    read_checkpoint,
)

SMALL = dict(z_dim=64, w_dim=64, channel_base=1024, channel_max=64)
CASES = {"small32": (32, SMALL), "small64": (64, SMALL), "default32": (32, {})}
WRITERS = {"rosinality": (synth.write_rosinality_pt, ".pt"), "nvlabs": (synth.write_nvlabs_pkl, ".pkl")}


def randomized(module, seed: int):
    """Every tensor random (mapping weights at their stored 1/lr_mul scale), so that any mis-mapped,
    swapped or dropped tensor changes the output."""
    g = seeded(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            scale = 100.0 if name.startswith("mapping.fc") and name.endswith("weight") else 1.0
            tensor.copy_(torch.randn(tensor.shape, generator=g) * scale)
    return module


@pytest.fixture(scope="module")
def sources():
    """Per case: (G, D, G(latent(G)), D(images(D))) — the reference outputs computed once."""
    nets = {}
    for name, (res, kwargs) in CASES.items():
        d_kwargs = {k: v for k, v in kwargs.items() if k.startswith("channel")}
        G = randomized(StyleGAN2Generator(res, **kwargs), 1)
        D = randomized(Discriminator(res, **d_kwargs), 2)
        with torch.no_grad():
            nets[name] = (G, D, G(latent(G), noise_mode="const"), D(images(D)))
    return nets


def latent(G):
    return torch.randn(1, G.z_dim, generator=seeded(3))


def images(D):
    return torch.randn(2, 3, D.resolution, D.resolution, generator=seeded(5))


@pytest.fixture(scope="module")
def files(sources, tmp_path_factory):
    """One file per (format, case), generator and discriminator in each; built on first use."""
    made = {}

    def get(fmt: str, case: str):
        if (fmt, case) not in made:
            write, suffix = WRITERS[fmt]
            path = tmp_path_factory.mktemp(fmt) / f"{case}{suffix}"
            write(path, *sources[case][:2])
            made[fmt, case] = path
        return made[fmt, case]

    return get


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", WRITERS)
def test_generator_round_trip_is_exact(fmt, case, sources, files):
    G, _, image, _ = sources[case]
    loaded = load_stylegan2(files(fmt, case))
    assert loaded.config == G.config
    assert_same_state(loaded, G)
    with torch.no_grad():
        assert torch.equal(loaded(latent(G), noise_mode="const"), image)


@pytest.mark.parametrize("case", ["small32", "small64"])
@pytest.mark.parametrize("fmt", WRITERS)
def test_transferred_ssn_with_constant_grid_equals_loaded_generator(fmt, case, files):
    loaded = load_stylegan2(files(fmt, case))
    ssn = SSNGenerator.from_stylegan2(loaded, grid=(4, 4))
    z = latent(loaded)
    with torch.no_grad():
        expected = loaded(z, noise_mode="const")
        image = ssn(z[:, :, None, None].expand(-1, -1, 4, 4).contiguous(), noise_mode="const")
    # 1e-5 relative to the image scale: with every tensor random the images reach |x| ≈ 50, not 1
    assert (image - expected).abs().max().item() <= 1e-5 * max(1.0, expected.abs().max().item())


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", WRITERS)
def test_discriminator_round_trip_gives_identical_logits(fmt, case, sources, files):
    _, D, _, logits = sources[case]
    loaded = load_stylegan2_discriminator(files(fmt, case))
    assert loaded.config == D.config
    assert_same_state(loaded, D)
    with torch.no_grad():
        assert torch.equal(loaded(images(D)), logits)


# --- the synthetic files follow the reference layouts (names and shapes read off the reference code) ---

def test_rosinality_writer_matches_reference_state_dict_names_and_shapes(tmp_path):
    G = StyleGAN2Generator(8, z_dim=16, w_dim=16, channel_base=64, channel_max=16, mapping_layers=2)
    D = Discriminator(8, channel_base=64, channel_max=16)
    synth.write_rosinality_pt(tmp_path / "r.pt", G, D)
    ckpt = read_checkpoint(tmp_path / "r.pt")
    assert set(ckpt) == {"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p", "latent_avg"}
    g = {k: tuple(v.shape) for k, v in ckpt["g_ema"].items()}
    assert g == {
        "style.1.weight": (16, 16), "style.1.bias": (16,), "style.2.weight": (16, 16), "style.2.bias": (16,),
        "input.input": (1, 16, 4, 4),
        "conv1.conv.weight": (1, 16, 16, 3, 3), "conv1.conv.modulation.weight": (16, 16),
        "conv1.conv.modulation.bias": (16,), "conv1.noise.weight": (1,), "conv1.activate.bias": (16,),
        "to_rgb1.bias": (1, 3, 1, 1), "to_rgb1.conv.weight": (1, 3, 16, 1, 1),
        "to_rgb1.conv.modulation.weight": (16, 16), "to_rgb1.conv.modulation.bias": (16,),
        "convs.0.conv.weight": (1, 8, 16, 3, 3), "convs.0.conv.blur.kernel": (4, 4),
        "convs.0.conv.modulation.weight": (16, 16), "convs.0.conv.modulation.bias": (16,),
        "convs.0.noise.weight": (1,), "convs.0.activate.bias": (8,),
        "convs.1.conv.weight": (1, 8, 8, 3, 3), "convs.1.conv.modulation.weight": (8, 16),
        "convs.1.conv.modulation.bias": (8,), "convs.1.noise.weight": (1,), "convs.1.activate.bias": (8,),
        "to_rgbs.0.bias": (1, 3, 1, 1), "to_rgbs.0.upsample.kernel": (4, 4), "to_rgbs.0.conv.weight": (1, 3, 8, 1, 1),
        "to_rgbs.0.conv.modulation.weight": (8, 16), "to_rgbs.0.conv.modulation.bias": (8,),
        "noises.noise_0": (1, 1, 4, 4), "noises.noise_1": (1, 1, 8, 8), "noises.noise_2": (1, 1, 8, 8),
    }
    d = {k: tuple(v.shape) for k, v in ckpt["d"].items()}
    assert d == {
        "convs.0.0.weight": (8, 3, 1, 1), "convs.0.1.bias": (8,),
        "convs.1.conv1.0.weight": (8, 8, 3, 3), "convs.1.conv1.1.bias": (8,), "convs.1.conv2.0.kernel": (4, 4),
        "convs.1.conv2.1.weight": (16, 8, 3, 3), "convs.1.conv2.2.bias": (16,), "convs.1.skip.0.kernel": (4, 4),
        "convs.1.skip.1.weight": (16, 8, 1, 1),
        "final_conv.0.weight": (16, 17, 3, 3), "final_conv.1.bias": (16,),
        "final_linear.0.weight": (16, 256), "final_linear.0.bias": (16,),
        "final_linear.1.weight": (1, 16), "final_linear.1.bias": (1,),
    }
    assert vars(ckpt["args"])["size"] == 8 and vars(ckpt["args"])["n_mlp"] == 2


def _persistent_state_dict(node, prefix=""):
    """A pickled network's state dict, walked the way torch.nn.Module.state_dict would."""
    assert node["type"] == "class" and isinstance(node["module_src"], str)
    state = node["state"]
    out = {prefix + k: tuple(v.shape) for k, v in {**state["_parameters"], **state["_buffers"]}.items()}
    for name, child in state["_modules"].items():
        out.update(_persistent_state_dict(child, f"{prefix}{name}."))
    return out


FILTER = (4, 4)


def _synthesis_layer(p, out_channels, in_channels, res, w_dim=16):
    """NVlabs SynthesisLayer: weight, noise_strength, bias, resample_filter, noise_const, affine."""
    return {f"{p}.weight": (out_channels, in_channels, 3, 3), f"{p}.noise_strength": (), f"{p}.bias": (out_channels,),
            f"{p}.resample_filter": FILTER, f"{p}.noise_const": (res, res), f"{p}.affine.weight": (in_channels, w_dim),
            f"{p}.affine.bias": (in_channels,)}


def _torgb_layer(p, channels, w_dim=16):
    return {f"{p}.weight": (3, channels, 1, 1), f"{p}.bias": (3,), f"{p}.affine.weight": (channels, w_dim),
            f"{p}.affine.bias": (channels,)}


def _conv2d_layer(p, out_channels, in_channels, k, bias=True):
    return {f"{p}.weight": (out_channels, in_channels, k, k), **({f"{p}.bias": (out_channels,)} if bias else {}),
            f"{p}.resample_filter": FILTER}


def test_nvlabs_writer_matches_reference_state_dict_names_and_shapes(tmp_path):
    G = StyleGAN2Generator(8, z_dim=16, w_dim=16, channel_base=64, channel_max=16, mapping_layers=2)
    synth.write_nvlabs_pkl(tmp_path / "n.pkl", G, Discriminator(8, channel_base=64, channel_max=16))
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    snapshot = read_checkpoint(tmp_path / "n.pkl")
    assert list(snapshot) == ["training_set_kwargs", "G", "D", "G_ema", "augment_pipe"]
    assert _persistent_state_dict(snapshot["G_ema"]) == {
        "mapping.fc0.weight": (16, 16), "mapping.fc0.bias": (16,), "mapping.fc1.weight": (16, 16),
        "mapping.fc1.bias": (16,), "mapping.w_avg": (16,),
        "synthesis.b4.const": (16, 4, 4), "synthesis.b4.resample_filter": FILTER,
        **_synthesis_layer("synthesis.b4.conv1", 16, 16, 4), **_torgb_layer("synthesis.b4.torgb", 16),
        "synthesis.b8.resample_filter": FILTER, **_synthesis_layer("synthesis.b8.conv0", 8, 16, 8),
        **_synthesis_layer("synthesis.b8.conv1", 8, 8, 8), **_torgb_layer("synthesis.b8.torgb", 8),
    }
    assert snapshot["G_ema"]["state"]["_init_kwargs"]["synthesis_kwargs"] == dict(
        channel_base=64, channel_max=16, num_fp16_res=4, conv_clamp=256)
    assert _persistent_state_dict(snapshot["D"]) == {
        "b8.resample_filter": FILTER, **_conv2d_layer("b8.fromrgb", 8, 3, 1), **_conv2d_layer("b8.conv0", 8, 8, 3),
        **_conv2d_layer("b8.conv1", 16, 8, 3), **_conv2d_layer("b8.skip", 16, 8, 1, bias=False),
        **_conv2d_layer("b4.conv", 16, 17, 3), "b4.fc.weight": (16, 256), "b4.fc.bias": (16,),
        "b4.out.weight": (1, 16), "b4.out.bias": (1,),
    }


# --- variants of real files ---

def test_rosinality_file_without_latent_avg_estimates_w_avg(sources, tmp_path, caplog):
    G = sources["small32"][0]
    synth.write_rosinality_pt(tmp_path / "train.pt", G, sources["small32"][1], latent_avg=False)
    with caplog.at_level(logging.WARNING, logger="ssnlib.io.stylegan2_import"):
        loaded = load_stylegan2(tmp_path / "train.pt")
    assert "no latent_avg" in caplog.text
    with torch.no_grad():
        w = G.mapping(torch.randn(8192, G.z_dim, generator=seeded(6)))
    tolerance = 6 * w.std(0) * (1 / 4096 + 1 / 8192) ** 0.5
    assert ((loaded.mapping.w_avg - w.mean(0)).abs() <= tolerance).all()
    assert not torch.allclose(loaded.mapping.w_avg, G.mapping.w_avg)  # the source's own w_avg was random


def test_rosinality_args_give_the_channel_multiplier_config(tmp_path):
    G = randomized(StyleGAN2Generator(8, z_dim=16, w_dim=16, channel_base=32768, mapping_layers=2), 7)
    synth.write_rosinality_pt(tmp_path / "m2.pt", G, Discriminator(8, channel_base=32768))
    assert load_stylegan2(tmp_path / "m2.pt").config["channel_base"] == 32768  # widths alone say 4096


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_nvlabs_pickle_protocols_and_conv_clamp_warning(protocol, sources, tmp_path, caplog):
    G = sources["small32"][0]
    synth.write_nvlabs_pkl(tmp_path / "p.pkl", G, protocol=protocol)
    with caplog.at_level(logging.WARNING, logger="ssnlib.io.stylegan2_import"):
        assert_same_state(load_stylegan2(tmp_path / "p.pkl"), G)
    assert "conv_clamp" in caplog.text


def test_nvlabs_plain_torch_submodules_load(sources, tmp_path):
    G = sources["small32"][0]
    snapshot = synth.nvlabs_snapshot(G)
    tree = snapshot["G_ema"]
    tree.state["_modules"]["mapping"] = synth.as_plain_module(tree.child("mapping"))
    tree.child("synthesis").state["_modules"]["b8"] = synth.as_plain_module(tree.child("synthesis.b8"))
    synth.dump_nvlabs_pkl(tmp_path / "plain.pkl", snapshot)
    assert_same_state(load_stylegan2(tmp_path / "plain.pkl"), G)


def test_stylegan3_repository_layouts(sources, tmp_path):
    """stylegan3's networks_stylegan2.Generator takes its synthesis settings at top level; its alias-free
    generator (synthesis.input, synthesis.L*_*) has no StyleGAN2 counterpart and is refused."""
    G = sources["small32"][0]
    snapshot = synth.nvlabs_snapshot(G)
    init = snapshot["G_ema"].state["_init_kwargs"]
    init.update(init.pop("synthesis_kwargs"))
    synth.dump_nvlabs_pkl(tmp_path / "sg3_stylegan2.pkl", snapshot)
    assert load_stylegan2(tmp_path / "sg3_stylegan2.pkl").config == G.config
    snapshot["G_ema"].child("synthesis").state["_modules"]["input"] = synth.Persistent(
        "SynthesisInput", synth.module_state(params={"weight": torch.ones(4, 2)}))
    synth.dump_nvlabs_pkl(tmp_path / "sg3.pkl", snapshot)
    with pytest.raises(CheckpointError, match="StyleGAN3"):
        load_stylegan2(tmp_path / "sg3.pkl")


# --- malicious files: refused before anything runs ---

class _Payload:
    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _payloads(sentinel):
    return {"posix.system": _Payload(os.system, f"touch {sentinel}"),
            "builtins.eval": _Payload(builtins.eval, f"__import__('pathlib').Path({str(sentinel)!r}).touch()")}


@pytest.mark.parametrize("refused", ["posix.system", "builtins.eval"])
def test_malicious_pickle_is_refused_without_running(refused, tmp_path):
    sentinel = tmp_path / "SENTINEL"
    payload = _payloads(sentinel)[refused]
    for path, save in [(tmp_path / "evil.pkl", lambda p: p.write_bytes(pickle.dumps({"G_ema": payload}, protocol=3))),
                       (tmp_path / "evil.pt", lambda p: torch.save({"g_ema": payload}, p))]:
        save(path)
        with pytest.raises(UnsafeCheckpointError, match=refused.replace(".", r"\.")):
            load_stylegan2(path)
        assert not sentinel.exists()
    if refused == "builtins.eval":  # control: the same bytes do run under an unrestricted unpickler
        pickle.loads(pickle.dumps(payload))
        assert sentinel.exists()


def test_malicious_tensor_storage_inside_pickle_is_refused(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    inner = io.BytesIO()
    torch.save(_payloads(sentinel)["posix.system"], inner, _use_new_zipfile_serialization=False)
    storage = _Payload(torch.storage._load_from_bytes, inner.getvalue())
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"G_ema": storage}, protocol=3))
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load_stylegan2(tmp_path / "evil.pkl")
    assert not sentinel.exists()


def test_module_src_is_never_executed(sources, tmp_path):
    sentinel = tmp_path / "SENTINEL"
    G = sources["small32"][0]
    src = f"import pathlib\npathlib.Path({str(sentinel)!r}).touch()\n"
    synth.write_nvlabs_pkl(tmp_path / "src.pkl", G, module_src=src)
    assert_same_state(load_stylegan2(tmp_path / "src.pkl"), G)
    assert not sentinel.exists()


def test_tensorflow_pickle_is_refused_with_a_conversion_hint(tmp_path):
    # protocol 3: GLOBAL dnnlib.tflib.network.Network, EMPTY_TUPLE, NEWOBJ, STOP — what TF StyleGAN2 pickles hold
    (tmp_path / "tf.pkl").write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\n)\x81.")
    with pytest.raises(UnsafeCheckpointError, match=r"dnnlib\.tflib\.network\.Network.*TensorFlow"):
        load_stylegan2(tmp_path / "tf.pkl")


# --- malformed files: clear errors ---

@pytest.mark.parametrize("suffix", [".pt", ".pkl"])
def test_random_bytes_are_not_a_checkpoint(suffix, tmp_path):
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=seeded(8), dtype=torch.uint8).tolist()))
    with pytest.raises(CheckpointError, match=path.name):
        load_stylegan2(path)


def test_unrelated_torch_file_names_what_it_found(tmp_path):
    torch.save({"model": {"weight": torch.ones(2)}, "epoch": 3}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other\.pt.*neither.*'epoch', 'model'"):
        load_stylegan2(tmp_path / "other.pt")


def _rosinality_edit(tmp_path, G, edit):
    synth.write_rosinality_pt(tmp_path / "edit.pt", G)
    ckpt = torch.load(tmp_path / "edit.pt", weights_only=True)
    edit(ckpt["g_ema"])
    torch.save(ckpt, tmp_path / "edit.pt")
    return tmp_path / "edit.pt"


def _nvlabs_edit(tmp_path, G, edit):
    snapshot = synth.nvlabs_snapshot(G)
    layer = snapshot["G_ema"].child("synthesis.b16.conv1").state
    edit(layer)
    synth.dump_nvlabs_pkl(tmp_path / "edit.pkl", snapshot)
    return tmp_path / "edit.pkl"


C16 = SMALL["channel_base"] // 16  # width at 16×16

EDITS = {
    "missing": (lambda sd: sd.pop("convs.3.noise.weight"),
                lambda layer: layer["_parameters"].pop("noise_strength"),
                r"missing tensors \['{}'\]", ("convs.3.noise.weight", "synthesis.b16.conv1.noise_strength")),
    "unexpected": (lambda sd: sd.update({"convs.3.extra.weight": torch.ones(3)}),
                   lambda layer: layer["_buffers"].update(extra=torch.ones(3)),
                   r"unexpected tensors \['{}'\]", ("convs.3.extra.weight", "synthesis.b16.conv1.extra")),
    "shape": (lambda sd: sd.update({"convs.3.conv.modulation.weight": torch.ones(C16, 65)}),
              lambda layer: layer["_modules"]["affine"].state["_parameters"].update(weight=torch.ones(C16, 65)),
              r"'{}' has shape \(" + str(C16) + r", 65\) .* needs \(" + str(C16) + r", 64\)",
              ("convs.3.conv.modulation.weight", "synthesis.b16.conv1.affine.weight")),
}


@pytest.mark.parametrize("problem", EDITS)
@pytest.mark.parametrize("fmt", WRITERS)
def test_state_dict_problems_are_named(fmt, problem, sources, tmp_path):
    ros_edit, nv_edit, message, names = EDITS[problem]
    G = sources["small32"][0]
    if fmt == "rosinality":
        path, name = _rosinality_edit(tmp_path, G, ros_edit), names[0]
    else:
        path, name = _nvlabs_edit(tmp_path, G, nv_edit), names[1]
    with pytest.raises(CheckpointError, match=message.format(name.replace(".", r"\."))):
        load_stylegan2(path)


def test_other_resampling_filters_are_refused(sources, tmp_path):
    path = _rosinality_edit(tmp_path, sources["small32"][0],
                            lambda sd: sd.update({"convs.0.conv.blur.kernel": torch.ones(4, 4)}))
    with pytest.raises(CheckpointError, match=r"convs\.0\.conv\.blur\.kernel.*\[1, 3, 3, 1\]"):
        load_stylegan2(path)


def test_recorded_settings_must_agree_with_the_tensors(sources, tmp_path):
    G, D = sources["small32"][:2]
    snapshot = synth.nvlabs_snapshot(G, D)
    snapshot["G_ema"].state["_init_kwargs"]["img_resolution"] = 64
    snapshot["D"].state["_init_kwargs"]["c_dim"] = 10
    synth.dump_nvlabs_pkl(tmp_path / "bad.pkl", snapshot)
    with pytest.raises(CheckpointError, match="records resolution=64 but its tensors give resolution=32"):
        load_stylegan2(tmp_path / "bad.pkl")
    with pytest.raises(CheckpointError, match="c_dim=10"):
        load_stylegan2_discriminator(tmp_path / "bad.pkl")
    snapshot["D"].state["_init_kwargs"]["c_dim"] = 0
    snapshot["D"].child("b4.mbstd").state["group_size"] = None  # legacy.py's conversion of TF pickles does this
    synth.dump_nvlabs_pkl(tmp_path / "bad.pkl", snapshot)
    with pytest.raises(CheckpointError, match="group_size=None"):
        load_stylegan2_discriminator(tmp_path / "bad.pkl")


@pytest.mark.parametrize("fmt", WRITERS)
def test_file_without_discriminator_says_so(fmt, sources, tmp_path):
    write, suffix = WRITERS[fmt]
    path = tmp_path / f"g_only{suffix}"
    write(path, sources["small32"][0])
    with pytest.raises(CheckpointError, match=r"has no discriminator '[dD]'"):
        load_stylegan2_discriminator(path)


def test_which_selects_a_network_and_rejects_unknown_names(sources, files):
    assert_same_state(load_stylegan2(files("nvlabs", "small32"), which="G"), sources["small32"][0])
    with pytest.raises(ValueError, match="which"):
        load_stylegan2(files("nvlabs", "small32"), which="d")


# --- ssnlib.io.stylegan2_import.load dispatches on the suffix ---

def test_load_dispatches_on_suffix(sources, files, tmp_path):
    G = sources["small32"][0]
    save_generator(tmp_path / "g.safetensors", G)
    for path in (tmp_path / "g.safetensors", files("rosinality", "small32"), files("nvlabs", "small32")):
        assert_same_state(load(path), G)
    with pytest.raises(CheckpointError, match=r"unknown checkpoint suffix '\.ckpt'"):
        load(tmp_path / "g.ckpt")
