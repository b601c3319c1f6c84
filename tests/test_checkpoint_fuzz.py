"""Corrupted checkpoints (truncations, byte flips) of both foreign formats: every failure is a
`CheckpointError` that names the file; none escapes as a raw unpickling or indexing error."""

import random

import pytest
import synthetic_checkpoints as synth
import torch

from ssnlib import Discriminator, StyleGAN2Generator
from ssnlib.io.stylegan2_import import CheckpointError, load_stylegan2, load_stylegan2_discriminator

WRITERS = {"rosinality": (synth.write_rosinality_pt, ".pt"), "nvlabs": (synth.write_nvlabs_pkl, ".pkl")}


def corruptions(data: bytes, seed: int, n: int):
    """n corrupted copies: truncations at spread offsets, then single and burst byte flips."""
    rng = random.Random(seed)
    for i in range(n // 2):
        yield f"truncated{i}", data[: max(1, int(len(data) * (i + 0.5) / (n // 2)))]
    for i in range(n - n // 2):
        flipped = bytearray(data)
        start = rng.randrange(len(data))
        for j in range(start, min(len(data), start + rng.choice([1, 1, 4, 64]))):
            flipped[j] ^= rng.randrange(1, 256)
        yield f"flipped{i}", bytes(flipped)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", list(WRITERS))
def test_corrupted_checkpoints_fail_as_named_checkpoint_errors(tmp_path, fmt):
    torch.manual_seed(0)
    G = StyleGAN2Generator(8, z_dim=16, w_dim=16, channel_base=64, channel_max=16, mapping_layers=2)
    D = Discriminator(8, channel_base=64, channel_max=16)
    write, suffix = WRITERS[fmt]
    original = tmp_path / f"original{suffix}"
    write(original, G, D)
    data = original.read_bytes()
    outcomes = {"named error": 0, "loaded": 0}
    escaped = []
    for name, corrupted in corruptions(data, seed=1, n=80):
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(corrupted)
        for loader in (load_stylegan2, load_stylegan2_discriminator):
            try:
                loader(path)
                outcomes["loaded"] += 1  # a flip inside tensor data can leave a valid file
            except CheckpointError as err:
                if str(path) not in str(err):
                    escaped.append(f"{name} {loader.__name__}: unnamed: {err}")
                outcomes["named error"] += 1
            except Exception as err:  # noqa: BLE001 — what this test exists to catch
                escaped.append(f"{name} {loader.__name__}: {type(err).__name__}: {err}")
        path.unlink()
    assert not escaped, escaped[:10]
    assert outcomes["named error"] >= 80  # most corruptions are detected, not silently loaded


def test_a_self_referencing_pickle_is_refused_not_recursed(tmp_path):
    import pickle

    module = torch.nn.Module()
    module._modules["child"] = module  # a module tree that contains itself
    path = tmp_path / "cycle.pkl"
    path.write_bytes(pickle.dumps({"G_ema": module, "D": module}, protocol=3))
    with pytest.raises(CheckpointError, match="contains itself") as caught:
        load_stylegan2(path)
    assert str(path) in str(caught.value)
