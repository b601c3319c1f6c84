"""Import pretrained StyleGAN2 checkpoints for transfer to an SSN (§3.4), without running their code.

Two foreign formats become ssnlib's `StyleGAN2Generator` / `Discriminator`:

- rosinality/stylegan2-pytorch ``.pt``: ``torch.save`` of ``{"g_ema", "g", "d", "g_optim", "d_optim",
  "args"[, "latent_avg"]}`` (state dicts named ``style.*``, ``conv1``, ``convs.*``, ``to_rgbs.*``, ...);
- NVlabs stylegan2-ada-pytorch / stylegan3 ``.pkl``: a pickle of ``{"G", "D", "G_ema", ...}`` whose networks
  are ``torch_utils.persistence`` objects (metadata with ``module_src`` source code and the module's state).

Safety: torch files go through torch's weights-only unpickler, with `argparse.Namespace` (the
``args`` of rosinality's train.py, a plain attribute bag) added to its allowlist — torch keeps maintaining
that unpickler and it reads both the zip and the legacy torch.save formats. Plain pickles go through
`_RestrictedUnpickler`, which rebuilds tensors and containers only and turns each persistent object into its
metadata dict; ``module_src`` is never executed. Any other global raises `UnsafeCheckpointError` before it
can be called.

Configurations (resolution, widths, latent sizes, mapping depth) are inferred from tensor shapes and checked
against the settings the file records (``_init_kwargs`` or rosinality's ``args``). Every problem — unknown
format, missing or unexpected tensors, wrong shapes — raises `CheckpointError` naming the file and the key.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import logging
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..networks import Discriminator, StyleGAN2Generator, channels_for, check_resolution
from ..ops import setup_filter
from .serialization import load_generator

logger = logging.getLogger(__name__)

W_AVG_SAMPLES = 4096  # rosinality's generate.py estimates the truncation centre from 4096 samples too
_GENERATOR_NAMES = ("g_ema", "g")
_DISCRIMINATOR_NAMES = ("d",)
_NVLABS_NAMES = {"g_ema": "G_ema", "g": "G", "d": "D"}
_LEGACY_TORCH_PREFIX = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)
_ZIP_PREFIX = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint that cannot be imported: unknown format, missing/unexpected tensors or wrong shapes."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle asked for a global outside the allowlist (calling it could run code); nothing was run."""


# --------------------------------------------------------------------------------------------------
# Safe reading
# --------------------------------------------------------------------------------------------------

def read_checkpoint(path: str | Path) -> Any:
    """The object stored in a torch checkpoint or pickle, read without executing code from the file."""
    with _named_errors(path):
        return _read_checkpoint(Path(path))


def _read_checkpoint(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint file: {path}")
    with open(path, "rb") as f:
        head = f.read(len(_LEGACY_TORCH_PREFIX))
    if head.startswith(_ZIP_PREFIX) or head.startswith(_LEGACY_TORCH_PREFIX):
        with open(path, "rb") as f:
            return _torch_load(f, str(path))
    if head[:1] == b"\x80":  # pickle protocol ≥ 2
        return _unpickle(path)
    raise CheckpointError(f"{path} is neither a torch checkpoint (zip or legacy torch.save) nor a pickle: "
                          f"it starts with {head[:8]!r}")


def _torch_load(source, name: str) -> Any:
    """torch.load with weights_only=True, allowing argparse.Namespace; refusals name the global."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            refused = _refused_globals(source, err)
        except Exception:  # a file too broken to list its globals: report the unpickling error below
            refused = None
        if refused:
            raise UnsafeCheckpointError(f"{name}: refused to unpickle global {refused} "
                                        f"(it could execute code); nothing from the file was run") from None
        raise CheckpointError(f"{name} is not a readable torch checkpoint: {str(err).splitlines()[0]}") from None
    except CheckpointError:
        raise
    except Exception as err:  # torch's legacy reader lets KeyError, AssertionError, … through on bad bytes
        raise CheckpointError(f"{name} is not a readable torch checkpoint: {type(err).__name__}: "
                              f"{_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "(no message)"


@contextlib.contextmanager
def _named_errors(path):
    """Every failure on a corrupt or malformed file as a `CheckpointError` that names the file."""
    try:
        yield
    except CheckpointError as err:
        if str(path) in str(err):
            raise
        raise type(err)(f"{path}: {err}") from None
    except FileNotFoundError:
        raise
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise CheckpointError(f"{path}: {err}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: nested too deeply to be a checkpoint (a cyclic structure?): refused") from None
    except Exception as err:  # a malformed structure that passed unpickling: name it, never a bare KeyError
        raise CheckpointError(f"{path} is malformed: {type(err).__name__}: {_first_line(err)}") from None


def _refused_globals(source, err: Exception) -> str | None:
    """Fully qualified globals a torch file asked for (zip format), else the one torch's error names."""
    try:
        source.seek(0)
        names = [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(source) if g != "argparse.Namespace"]
        if names:
            return ", ".join(names)
    except ValueError:  # legacy (non-zip) format
        pass
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    return found.group(1) if found else None


def _unpickle(path: Path) -> Any:
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, str(path)).load()
        except CheckpointError:
            raise
        except Exception as err:  # anything else a malformed pickle triggers while being rebuilt
            raise CheckpointError(f"{path} is not a readable pickle: {type(err).__name__}: {err}") from None


def _persistent_meta(meta: Any) -> dict:
    """Stand-in for torch_utils.persistence._reconstruct_persistent_obj: keeps the metadata, runs nothing."""
    if not isinstance(meta, dict) or "state" not in meta or "class_name" not in meta:
        raise CheckpointError(f"malformed persistent object: expected a dict with 'class_name' and 'state', "
                              f"got {type(meta).__name__}")
    return meta


def _storage_from_bytes(data: bytes, name: str):
    """Stand-in for torch.storage._load_from_bytes: the nested torch.save is read weights-only too."""
    if not isinstance(data, bytes):
        raise CheckpointError(f"{name}: malformed tensor storage ({type(data).__name__})")
    storage = _torch_load(io.BytesIO(data), f"{name} (nested tensor storage)")
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"{name}: nested tensor storage holds a {type(storage).__name__}")
    return storage


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 restricted to real storages; pickled hooks/metadata are dropped."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"malformed tensor: expected a storage, got {type(storage).__name__}")
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False, collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.nn.Parameter:
    """torch._utils._rebuild_parameter(_with_state) without hooks or extra Python state."""
    if not isinstance(data, torch.Tensor):
        raise CheckpointError(f"malformed parameter: expected a tensor, got {type(data).__name__}")
    return torch.nn.Parameter(data, requires_grad=False)


def _numpy_scalar(dtype, data):
    """numpy's scalar reconstructor for numeric dtypes only (NVlabs stores gains as numpy floats)."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "biufc" or not isinstance(data, bytes):
        raise CheckpointError(f"malformed numpy scalar ({dtype!r})")
    return np.frombuffer(data, dtype=dtype)[0].item()


class _PlainModule:
    """Inert stand-in for any pickled plain torch.nn module: keeps its __dict__ as `state`, runs nothing."""

    def __setstate__(self, state):
        self.state = state


_PICKLE_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("torch", "Size"): torch.Size,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_meta,
    ("dnnlib.util", "EasyDict"): dict,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose globals are an allowlist of tensor/container rebuilders and inert stand-ins."""

    def __init__(self, file, name: str):
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda data: _storage_from_bytes(data, self.name)
        if (module, name) in _PICKLE_ALLOWED:
            return _PICKLE_ALLOWED[module, name]
        if module.startswith("torch.nn.modules."):
            return _PlainModule
        hint = ""
        if module.startswith("dnnlib.tflib"):
            hint = " (a TensorFlow StyleGAN2 pickle: convert it to PyTorch first, e.g. with NVlabs' legacy.py)"
        raise UnsafeCheckpointError(f"{self.name}: refused to unpickle global {module}.{name}{hint}; "
                                    f"it could execute code, and nothing from the file was run")


# --------------------------------------------------------------------------------------------------
# Foreign layouts: how each format names and shapes our tensors
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """Key names, tensor shapes and fixed filters of one foreign format, as functions of ours."""

    name: str
    key: Callable[[str, int], str]  # (our state-dict key, resolution) → the file's key
    shape: Callable[[str, tuple], tuple]  # (our key, our shape) → the file's shape
    resolution: Callable[[list[str]], int]  # the file's keys → resolution
    filter: Callable[[str], torch.Tensor | None]  # the file's key → expected FIR filter, if it is one
    optional: frozenset = frozenset()  # our keys the file may lack


def _block_index(res: int) -> int:
    """Index of the block at resolution `res` among the blocks above 4×4 (8 → 0, 16 → 1, ...)."""
    return int(math.log2(res)) - 3


def _max_index(keys: list[str], pattern: str) -> int | None:
    found = [int(m.group(1)) for k in keys if (m := re.match(pattern, k))]
    return max(found) if found else None


_ROSINALITY_CONV_LEAF = {"affine.weight": "conv.modulation.weight", "affine.bias": "conv.modulation.bias",
                         "conv.weight": "conv.weight", "noise.strength": "noise.weight", "bias": "activate.bias"}
_ROSINALITY_TORGB_LEAF = {"affine.weight": "conv.modulation.weight", "affine.bias": "conv.modulation.bias",
                          "conv.weight": "conv.weight", "bias": "bias"}


def _rosinality_g_key(key: str, resolution: int) -> str:
    """mapping.fc{i} → style.{i+1}; b4 → input/conv1/to_rgb1; b{R} → convs.{2k,2k+1}/to_rgbs.{k};
    noise buffers → noises.noise_{n} in layer order; w_avg → the top-level latent_avg."""
    if key == "mapping.w_avg":
        return "latent_avg"
    if m := re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", key):
        return f"style.{int(m.group(1)) + 1}.{m.group(2)}"
    if key == "synthesis.b4.const":
        return "input.input"
    res, layer, leaf = re.fullmatch(r"synthesis\.b(\d+)\.(conv0|conv1|torgb)\.(.+)", key).groups()
    res = int(res)
    k = _block_index(res)
    if layer == "torgb":
        return f"{'to_rgb1' if res == 4 else f'to_rgbs.{k}'}.{_ROSINALITY_TORGB_LEAF[leaf]}"
    j = int(layer[-1])
    if leaf == "noise.const":
        return f"noises.noise_{0 if res == 4 else 2 * k + 1 + j}"
    return f"{'conv1' if res == 4 else f'convs.{2 * k + j}'}.{_ROSINALITY_CONV_LEAF[leaf]}"


def _rosinality_g_shape(key: str, shape: tuple) -> tuple:
    """rosinality keeps singleton dims: conv weights (1,O,I,k,k), input (1,C,4,4), noise weight (1,),
    noise buffers (1,1,r,r), ToRGB bias (1,3,1,1)."""
    if key.endswith("conv.weight") or key == "synthesis.b4.const":
        return (1, *shape)
    if key.endswith("noise.strength"):
        return (1,)
    if key.endswith("noise.const"):
        return (1, 1, *shape)
    if key.endswith("torgb.bias"):
        return (1, *shape, 1, 1)
    return shape


def _rosinality_d_key(key: str, resolution: int) -> str:
    """FromRGB → convs.0; block b{r} → convs.{j} (j = 1 at the input resolution), whose downsampling
    convs are Sequential(Blur, conv, act): conv1 → conv2.1/conv2.2, skip → skip.1; epilogue → final_*."""
    if m := re.fullmatch(r"(?:b\d+\.fromrgb|fromrgb4)\.(weight|bias)", key):
        return "convs.0.0.weight" if m.group(1) == "weight" else "convs.0.1.bias"
    if m := re.fullmatch(r"b(\d+)\.(conv0|conv1|skip)\.(weight|bias)", key):
        res, layer, param = m.groups()
        j = int(math.log2(resolution)) - int(math.log2(int(res))) + 1
        module, first = {"conv0": ("conv1", 0), "conv1": ("conv2", 1), "skip": ("skip", 1)}[layer]
        return f"convs.{j}.{module}.{first if param == 'weight' else first + 1}.{param}"
    layer, param = key.split(".")
    if layer == "conv":
        return f"final_conv.{0 if param == 'weight' else 1}.{param}"
    return f"final_linear.{0 if layer == 'fc' else 1}.{param}"


def _nvlabs_g_key(key: str, resolution: int) -> str:
    """Same names as ours except inside synthesis layers: conv.weight → weight, noise.* → noise_*."""
    key = re.sub(r"\.(conv0|conv1|torgb)\.conv\.weight$", r".\1.weight", key)
    return key.replace(".noise.strength", ".noise_strength").replace(".noise.const", ".noise_const")


def _nvlabs_d_key(key: str, resolution: int) -> str:
    """Same names as ours except the epilogue, which NVlabs keeps in block b4."""
    return f"b4.{key}" if key.startswith(("conv.", "fc.", "out.")) else key


def _rosinality_g_resolution(keys: list[str]) -> int:
    top = _max_index(keys, r"to_rgbs\.(\d+)\.")
    return 4 if top is None else 8 * 2**top


def _rosinality_d_resolution(keys: list[str]) -> int:
    return 4 * 2 ** (_max_index(keys, r"convs\.(\d+)\.conv1\.") or 0)


def _nvlabs_resolution(pattern: str) -> Callable[[list[str]], int]:
    return lambda keys: max([int(m.group(1)) for k in keys if (m := re.match(pattern, k))], default=4)


def _filter_if(pattern: str, gain: float) -> Callable[[str], torch.Tensor | None]:
    return lambda key: setup_filter() * gain if re.search(pattern, key) else None


def _same_shape(key: str, shape: tuple) -> tuple:
    return shape


_ROSINALITY_G = _Layout("rosinality/stylegan2-pytorch generator", _rosinality_g_key, _rosinality_g_shape,
                        _rosinality_g_resolution, _filter_if(r"\.(blur|upsample)\.kernel$", 4.0),
                        optional=frozenset({"mapping.w_avg"}))
_ROSINALITY_D = _Layout("rosinality/stylegan2-pytorch discriminator", _rosinality_d_key, _same_shape,
                        _rosinality_d_resolution, _filter_if(r"^convs\.\d+\.(conv2|skip)\.0\.kernel$", 1.0))
_NVLABS_G = _Layout("NVlabs stylegan2-ada generator", _nvlabs_g_key, _same_shape,
                    _nvlabs_resolution(r"synthesis\.b(\d+)\."), _filter_if(r"(^|\.)resample_filter$", 1.0))
_NVLABS_D = _Layout("NVlabs stylegan2-ada discriminator", _nvlabs_d_key, _same_shape,
                    _nvlabs_resolution(r"b(\d+)\."), _filter_if(r"(^|\.)resample_filter$", 1.0))


# --------------------------------------------------------------------------------------------------
# Reading one network out of a checkpoint
# --------------------------------------------------------------------------------------------------

@dataclass
class _Source:
    """One network's tensors under the file's names, its layout, and the settings the file records."""

    tensors: dict[str, Any]
    layout: _Layout
    settings: dict[str, Any]
    label: str


def _names(keys, limit: int = 12) -> str:
    keys = list(keys)
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" … (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _check_which(which: str, kind: str) -> None:
    allowed = _GENERATOR_NAMES if kind == "generator" else _DISCRIMINATOR_NAMES
    if which.lower() not in allowed:
        raise ValueError(f"which must be one of {allowed} for a {kind} (case-insensitive), got {which!r}")


def _read_network(path: str | Path, which: str, kind: str) -> _Source:
    data = read_checkpoint(path)
    keys = [k for k in data if isinstance(k, str)] if isinstance(data, dict) else []
    if set(keys) & {"g_ema", "g", "d"}:
        return _rosinality_source(data, which.lower(), kind, path)
    if set(keys) & {"G_ema", "G", "D"}:
        return _nvlabs_source(data, _NVLABS_NAMES[which.lower()], kind, path)
    found = f"a dict with keys {_names(sorted(keys))}" if isinstance(data, dict) else f"a {type(data).__name__}"
    raise CheckpointError(f"{path} is neither a rosinality/stylegan2-pytorch checkpoint (keys 'g_ema', 'g', 'd') "
                          f"nor an NVlabs stylegan2-ada/stylegan3 pickle (keys 'G_ema', 'G', 'D'): found {found}")


def _rosinality_source(data: dict, name: str, kind: str, path) -> _Source:
    if not isinstance(data.get(name), dict):
        raise CheckpointError(f"{path} has no {kind} {name!r}; the rosinality checkpoint holds "
                              f"{_names(sorted(map(str, data)))}")
    tensors = dict(data[name])
    if kind == "generator" and "latent_avg" in data:
        tensors["latent_avg"] = data["latent_avg"]
    args = data.get("args")
    args = vars(args) if isinstance(args, argparse.Namespace) else (args if isinstance(args, dict) else {})
    settings = {"resolution": args.get("size")}
    if kind == "generator":
        settings.update(z_dim=args.get("latent"), w_dim=args.get("latent"), mapping_layers=args.get("n_mlp"))
    if args.get("channel_multiplier") is not None:  # rosinality's widths: min(16384·m / res, 512)
        settings.update(channel_base=int(16384 * args["channel_multiplier"]), channel_max=512)
    layout = _ROSINALITY_G if kind == "generator" else _ROSINALITY_D
    return _Source(tensors, layout, settings, f"rosinality {name!r}")


_NVLABS_REQUIRED = {
    "generator": {"c_dim": 0, "img_channels": 3, "mapping_kwargs.lr_multiplier": 0.01,
                  "mapping_kwargs.activation": "lrelu", "architecture": "skip", "activation": "lrelu"},
    "discriminator": {"c_dim": 0, "img_channels": 3, "architecture": "resnet", "block_kwargs.activation": "lrelu",
                      "epilogue_kwargs.activation": "lrelu"},
}


def _node_state(node: Any, where: str) -> dict:
    """The __dict__ of a pickled network: a persistent object's metadata or a plain torch.nn module."""
    if isinstance(node, _PlainModule) and isinstance(getattr(node, "state", None), dict):
        return node.state
    if isinstance(node, dict) and isinstance(node.get("state"), dict):
        return node["state"]
    raise CheckpointError(f"{where} is not a pickled network (found {type(node).__name__})")


def _module_states(node: Any, where: str, prefix: str = "", seen: frozenset = frozenset()):
    """(where, prefix, __dict__) of every module of a pickled network tree, depth first. A tree
    that contains itself (a cyclic pickle) is refused, not recursed into."""
    if id(node) in seen:
        raise CheckpointError(f"{where} contains itself (a cyclic module tree): refused")
    state = _node_state(node, where)
    yield where, prefix, state
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            yield from _module_states(child, f"{where}.{name}", f"{prefix}{name}.", seen | {id(node)})


def _flatten(node: Any, where: str) -> dict[str, Any]:
    """A pickled network's state dict: parameters and persistent buffers of every module."""
    tensors = {}
    for _, prefix, state in _module_states(node, where):
        skip = state.get("_non_persistent_buffers_set") or set()
        tensors.update({prefix + k: v for k, v in (state.get("_parameters") or {}).items() if v is not None})
        tensors.update({prefix + k: v for k, v in (state.get("_buffers") or {}).items()
                        if v is not None and k not in skip})
    return tensors


def _attribute_values(node: Any, attribute: str) -> set:
    """Every value of `attribute` among a pickled network and its submodules."""
    return {state[attribute] for _, _, state in _module_states(node, "network") if attribute in state}


def _setting(kwargs: dict, dotted: str, default=None):
    for part in dotted.split("."):
        if not isinstance(kwargs, dict) or part not in kwargs:
            return default
        kwargs = kwargs[part]
    return kwargs


def _nvlabs_source(data: dict, name: str, kind: str, path) -> _Source:
    if data.get(name) is None:
        raise CheckpointError(f"{path} has no {kind} {name!r}; the NVlabs pickle holds "
                              f"{_names(sorted(map(str, data)))}")
    node = data[name]
    tensors = _flatten(node, f"{path}:{name}")
    if any(k.startswith(("synthesis.input.", "synthesis.L")) for k in tensors):
        raise CheckpointError(f"{path}:{name} is a StyleGAN3 (alias-free) generator; only StyleGAN2 generators "
                              f"transfer to an SSN (§3.4)")
    kwargs = _init_kwargs(node, name, kind)
    for setting, required in _NVLABS_REQUIRED[kind].items():
        value = _setting(kwargs, setting, required)
        if value != required:
            raise CheckpointError(f"{path}:{name} has {setting}={value!r}; ssnlib's {kind} needs {required!r}")
    clamps = _attribute_values(node, "conv_clamp") - {None}
    if clamps:
        logger.warning("%s:%s clamps activations at ±%s (conv_clamp); ssnlib's networks do not clamp, which only "
                       "matters where an activation exceeds that bound", path, name, "/".join(map(str, sorted(clamps))))
    settings = _nvlabs_settings(kwargs, kind) if kwargs else {}
    if kind == "discriminator":
        groups = _attribute_values(node, "group_size")
        if None in groups:
            raise CheckpointError(f"{path}:{name} takes the minibatch standard deviation over the whole minibatch "
                                  f"(mbstd group_size=None); ssnlib's Discriminator needs a fixed group size")
        if len(groups) == 1:
            settings["mbstd_group"] = groups.pop()
    layout = _NVLABS_G if kind == "generator" else _NVLABS_D
    return _Source(tensors, layout, settings, f"NVlabs {name!r}")


def _init_kwargs(node: Any, name: str, kind: str) -> dict:
    """A network's constructor arguments. A generator's synthesis settings are merged in: stylegan2-ada
    nests them in `synthesis_kwargs`, stylegan3's networks_stylegan2.Generator takes them at top level."""
    kwargs = dict(_node_state(node, name).get("_init_kwargs") or {})
    if kind == "generator":
        kwargs.update(kwargs.get("synthesis_kwargs") or {})
    return kwargs


def _nvlabs_settings(kwargs: dict, kind: str) -> dict:
    """Configuration recorded in `_init_kwargs`, with the reference constructors' defaults where absent."""
    settings = dict(resolution=kwargs.get("img_resolution"), channel_base=kwargs.get("channel_base", 32768),
                    channel_max=kwargs.get("channel_max", 512))
    if kind == "generator":
        settings.update(z_dim=kwargs.get("z_dim"), w_dim=kwargs.get("w_dim"),
                        mapping_layers=_setting(kwargs, "mapping_kwargs.num_layers", 8))
    return settings


# --------------------------------------------------------------------------------------------------
# Inferring the configuration and converting tensors
# --------------------------------------------------------------------------------------------------

def _probe(source: _Source, key: str, resolution: int, ndim: int, path) -> torch.Tensor:
    """The file's tensor for our `key`, which configuration inference needs: must exist with `ndim` dims."""
    name = source.layout.key(key, resolution)
    tensor = source.tensors.get(name)
    if not isinstance(tensor, torch.Tensor):
        raise CheckpointError(f"{path}: {source.label} has no tensor {name!r}")
    if tensor.ndim != ndim:
        raise CheckpointError(f"{path}: tensor {name!r} has shape {tuple(tensor.shape)}; expected {ndim} dims")
    return tensor


def _resolution(source: _Source, path) -> int:
    resolution = source.layout.resolution([str(k) for k in source.tensors])
    try:
        check_resolution(resolution)
    except ValueError as err:
        raise CheckpointError(f"{path}: {source.label}: {err}") from None
    return resolution


def _channel_schedule(channels: dict[int, int], path) -> dict[str, int]:
    """The smallest (channel_base, channel_max) whose min(base // res, max) gives these widths."""
    channel_max = max(channels.values())
    channel_base = max(c * r for r, c in channels.items())
    if any(channels_for(r, channel_base, channel_max) != c for r, c in channels.items()):
        raise CheckpointError(f"{path}: channel widths {channels} (resolution: channels) do not follow StyleGAN2's "
                              f"min(channel_base / resolution, channel_max) schedule")
    return dict(channel_base=channel_base, channel_max=channel_max)


def _apply_settings(config: dict, channels: dict[int, int], settings: dict, source: _Source, path) -> dict:
    """Check the file's recorded settings against the tensors; keep recorded values the tensors cannot tell."""
    for key, value in settings.items():
        if value is None or key in ("channel_base", "channel_max"):
            continue
        if key in config and config[key] != value:
            raise CheckpointError(f"{path}: {source.label} records {key}={value!r} but its tensors give "
                                  f"{key}={config[key]!r}")
        config[key] = value
    if settings.get("channel_base") is not None and settings.get("channel_max") is not None:
        base, cmax = settings["channel_base"], settings["channel_max"]
        if any(channels_for(r, base, cmax) != c for r, c in channels.items()):
            raise CheckpointError(f"{path}: {source.label} records channel_base={base}, channel_max={cmax} but its "
                                  f"tensors have channel widths {channels} (resolution: channels)")
        config.update(channel_base=base, channel_max=cmax)
    return config


def _generator_config(source: _Source, path) -> dict:
    resolution = _resolution(source, path)
    layers = 0
    while source.layout.key(f"mapping.fc{layers}.weight", resolution) in source.tensors:
        layers += 1
    first = _probe(source, "mapping.fc0.weight", resolution, 2, path)
    last = _probe(source, f"mapping.fc{layers - 1}.weight", resolution, 2, path)
    channels = {r: _probe(source, f"synthesis.b{r}.conv1.bias", resolution, 1, path).numel()
                for r in (2**i for i in range(2, int(math.log2(resolution)) + 1))}
    config = dict(resolution=resolution, z_dim=first.shape[1], w_dim=last.shape[0], mapping_layers=layers,
                  **_channel_schedule(channels, path))
    return _apply_settings(config, channels, source.settings, source, path)


def _discriminator_config(source: _Source, path) -> dict:
    resolution = _resolution(source, path)
    channels = {r: _probe(source, f"b{r}.conv0.bias", resolution, 1, path).numel()
                for r in (2**i for i in range(int(math.log2(resolution)), 2, -1))}
    channels[4] = _probe(source, "conv.bias", resolution, 1, path).numel()
    mbstd_channels = _probe(source, "conv.weight", resolution, 4, path).shape[1] - channels[4]
    config = dict(resolution=resolution, **_channel_schedule(channels, path), mbstd_channels=mbstd_channels)
    config = _apply_settings(config, channels, source.settings, source, path)
    config.setdefault("mbstd_group", 4)  # rosinality hard-codes 4, NVlabs' default; tensors cannot tell it
    return config


def _check_filters(source: _Source, path) -> None:
    for name, tensor in source.tensors.items():
        expected = source.layout.filter(str(name))
        if expected is None:
            continue
        if not isinstance(tensor, torch.Tensor) or tensor.shape != expected.shape or not torch.allclose(
                tensor.float(), expected):
            raise CheckpointError(f"{path}: {name!r} is not StyleGAN2's [1, 3, 3, 1] resampling filter, the only "
                                  f"one ssnlib's networks use")


def _converted_state(source: _Source, model: torch.nn.Module, path) -> dict[str, torch.Tensor]:
    """The file's tensors renamed and reshaped to `model`'s state dict; every mismatch is named."""
    layout, tensors = source.layout, source.tensors
    expected = model.state_dict()
    names = {key: layout.key(key, model.resolution) for key in expected}
    missing = [names[k] for k in expected if names[k] not in tensors and k not in layout.optional]
    known = set(names.values())
    unexpected = [k for k in tensors if k not in known and layout.filter(str(k)) is None]
    if missing or unexpected:
        raise CheckpointError(f"{path}: {source.label} does not match a {layout.name} with the inferred "
                              f"configuration {model.config}: missing tensors [{_names(missing)}], "
                              f"unexpected tensors [{_names(unexpected)}]")
    _check_filters(source, path)
    state = {}
    for key, target in expected.items():
        name = names[key]
        if name not in tensors:
            continue
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{path}: {name!r} is a {type(tensor).__name__}, not a tensor")
        want = layout.shape(key, tuple(target.shape))
        if tuple(tensor.shape) != want:
            raise CheckpointError(f"{path}: tensor {name!r} has shape {tuple(tensor.shape)} but the inferred "
                                  f"configuration {model.config} needs {want}")
        state[key] = tensor.detach().to(torch.float32).reshape(target.shape)
    return state


def _estimate_w_avg(generator: StyleGAN2Generator) -> None:
    z = torch.randn(W_AVG_SAMPLES, generator.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        generator.mapping.w_avg.copy_(generator.mapping(z).mean(0))


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------

def load_stylegan2(path: str | Path, which: str = "g_ema", device: str | torch.device = "cpu") -> StyleGAN2Generator:
    """A pretrained StyleGAN2 generator (rosinality ``.pt`` or NVlabs ``.pkl``) as ssnlib's
    `StyleGAN2Generator`, ready for `SSNGenerator.from_stylegan2` (§3.4).

    `which` is ``"g_ema"`` (the EMA generator, default) or ``"g"``, in either spelling. A rosinality file
    without ``latent_avg`` gets w_avg estimated from 4096 mapped samples (logged)."""
    _check_which(which, "generator")  # the caller's argument, not the file: a plain ValueError
    with _named_errors(path):
        source = _read_network(path, which, "generator")
        config = _generator_config(source, path)
        generator = StyleGAN2Generator(**config)
        generator.load_state_dict(_converted_state(source, generator, path), strict=False)
    if source.layout.key("mapping.w_avg", generator.resolution) not in source.tensors:
        _estimate_w_avg(generator)
        logger.warning("%s has no latent_avg: w_avg (the truncation centre) estimated from %d mapped samples",
                       path, W_AVG_SAMPLES)
    logger.info("loaded %s from %s: %s", source.label, path, config)
    return generator.to(device).eval()


def load_stylegan2_discriminator(path: str | Path, which: str = "d",
                                 device: str | torch.device = "cpu") -> Discriminator:
    """The discriminator of a rosinality ``.pt`` or NVlabs ``.pkl`` as ssnlib's `Discriminator`.

    Raises `CheckpointError` if the file has none (e.g. rosinality's convert_weight.py without --disc)."""
    _check_which(which, "discriminator")  # the caller's argument, not the file: a plain ValueError
    with _named_errors(path):
        source = _read_network(path, which, "discriminator")
        config = _discriminator_config(source, path)
        discriminator = Discriminator(**config)
        discriminator.load_state_dict(_converted_state(source, discriminator, path))
    logger.info("loaded %s from %s: %s", source.label, path, config)
    return discriminator.to(device).eval()


def load(path: str | Path, device: str | torch.device = "cpu"):
    """Any generator checkpoint, by suffix: ``.safetensors`` (ssnlib's own, `serialization.load_generator`),
    ``.pt`` (rosinality) or ``.pkl`` (NVlabs) — the latter two via `load_stylegan2`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".safetensors":
        return load_generator(path, device)
    if suffix in (".pt", ".pkl"):
        return load_stylegan2(path, device=device)
    raise CheckpointError(f"{path}: unknown checkpoint suffix {suffix!r}; expected .safetensors, .pt or .pkl")
