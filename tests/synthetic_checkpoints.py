"""Synthetic foreign checkpoints for tests (a test helper, not library code).

Writes one of OUR networks the way the reference code saves its own, so that loading can be tested
without downloads:

- `write_rosinality_pt`: rosinality/stylegan2-pytorch ``torch.save`` dicts — train.py's
  ``{"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}`` when a discriminator is given,
  convert_weight.py's ``{"g_ema", "latent_avg"}`` otherwise — with the reference state-dict names,
  singleton dims and blur-kernel buffers (model.py: Generator, Discriminator).
- `write_nvlabs_pkl`: an NVlabs stylegan2-ada-pytorch snapshot pickle: each network is pickled as a call
  to ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` (meta: type, version, module_src,
  class_name, state = the module's __dict__ with nested persistent submodules), ``_init_kwargs`` holding
  ``dnnlib.util.EasyDict`` settings and numpy-float gains, as training/networks.py builds them.

The names are spelled out here independently of `ssnlib.io.stylegan2_import`, so a wrong mapping in either shows
up as a failing round trip. ``torch_utils`` and ``dnnlib`` exist only as fake modules, put into
`sys.modules` while pickling and removed afterwards, so loading never finds them.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import torch

FILTER = torch.tensor([1.0, 3.0, 3.0, 1.0]).outer(torch.tensor([1.0, 3.0, 3.0, 1.0])) / 64  # make_kernel
DUMMY_SRC = "# training/networks.py — synthetic stand-in for the pickled module source; never executed\n"


# --------------------------------------------------------------------------------------------------
# rosinality/stylegan2-pytorch
# --------------------------------------------------------------------------------------------------

def _styled_conv(out: dict, prefix: str, sd: dict, ours: str, upsample: bool) -> None:
    """StyledConv = ModulatedConv2d(weight, [blur], modulation) → NoiseInjection → FusedLeakyReLU."""
    out[f"{prefix}.conv.weight"] = sd[f"{ours}.conv.weight"].unsqueeze(0)
    if upsample:
        out[f"{prefix}.conv.blur.kernel"] = FILTER * 4
    out[f"{prefix}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
    out[f"{prefix}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
    out[f"{prefix}.noise.weight"] = sd[f"{ours}.noise.strength"].reshape(1)
    out[f"{prefix}.activate.bias"] = sd[f"{ours}.bias"]


def _to_rgb(out: dict, prefix: str, sd: dict, ours: str, upsample: bool) -> None:
    """ToRGB: own bias (1,3,1,1), then [Upsample kernel], then ModulatedConv2d without demodulation."""
    out[f"{prefix}.bias"] = sd[f"{ours}.bias"].reshape(1, 3, 1, 1)
    if upsample:
        out[f"{prefix}.upsample.kernel"] = FILTER * 4
    out[f"{prefix}.conv.weight"] = sd[f"{ours}.conv.weight"].unsqueeze(0)
    out[f"{prefix}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
    out[f"{prefix}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]


def rosinality_generator_state(G) -> OrderedDict:
    """Our StyleGAN2Generator's tensors as rosinality's Generator.state_dict()."""
    sd = {k: v.detach().clone() for k, v in G.state_dict().items()}
    above4 = G.synthesis.block_resolutions[1:]
    out = OrderedDict()
    for i in range(G.config["mapping_layers"]):  # style.0 is PixelNorm
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"].unsqueeze(0)
    _styled_conv(out, "conv1", sd, "synthesis.b4.conv1", upsample=False)
    _to_rgb(out, "to_rgb1", sd, "synthesis.b4.torgb", upsample=False)
    for k, res in enumerate(above4):
        _styled_conv(out, f"convs.{2 * k}", sd, f"synthesis.b{res}.conv0", upsample=True)
        _styled_conv(out, f"convs.{2 * k + 1}", sd, f"synthesis.b{res}.conv1", upsample=False)
    for k, res in enumerate(above4):
        _to_rgb(out, f"to_rgbs.{k}", sd, f"synthesis.b{res}.torgb", upsample=True)
    layers = ["synthesis.b4.conv1"] + [f"synthesis.b{res}.conv{j}" for res in above4 for j in (0, 1)]
    for i, layer in enumerate(layers):
        out[f"noises.noise_{i}"] = sd[f"{layer}.noise.const"][None, None]
    return out


def rosinality_discriminator_state(D) -> OrderedDict:
    """Our Discriminator's tensors as rosinality's Discriminator.state_dict(): convs = Sequential(
    ConvLayer FromRGB, ResBlock...); ConvLayer = Sequential([Blur], EqualConv2d, [FusedLeakyReLU])."""
    sd = {k: v.detach().clone() for k, v in D.state_dict().items()}
    out = OrderedDict()
    out["convs.0.0.weight"] = sd[f"b{D.resolution}.fromrgb.weight"]
    out["convs.0.1.bias"] = sd[f"b{D.resolution}.fromrgb.bias"]
    for j, res in enumerate(D.block_resolutions, start=1):
        out[f"convs.{j}.conv1.0.weight"] = sd[f"b{res}.conv0.weight"]
        out[f"convs.{j}.conv1.1.bias"] = sd[f"b{res}.conv0.bias"]
        out[f"convs.{j}.conv2.0.kernel"] = FILTER.clone()
        out[f"convs.{j}.conv2.1.weight"] = sd[f"b{res}.conv1.weight"]
        out[f"convs.{j}.conv2.2.bias"] = sd[f"b{res}.conv1.bias"]
        out[f"convs.{j}.skip.0.kernel"] = FILTER.clone()
        out[f"convs.{j}.skip.1.weight"] = sd[f"b{res}.skip.weight"]
    out["final_conv.0.weight"] = sd["conv.weight"]
    out["final_conv.1.bias"] = sd["conv.bias"]
    for i, layer in enumerate(("fc", "out")):
        out[f"final_linear.{i}.weight"] = sd[f"{layer}.weight"]
        out[f"final_linear.{i}.bias"] = sd[f"{layer}.bias"]
    return out


def _optimizer_state(num_params: int) -> dict:
    group = dict(lr=0.002, betas=(0.0, 0.99), eps=1e-8, weight_decay=0, amsgrad=False, params=list(range(num_params)))
    return {"state": {}, "param_groups": [group]}


def rosinality_args(G) -> argparse.Namespace:
    """train.py's args; channel_multiplier only where rosinality's width table can express our widths."""
    cfg = G.config
    args = argparse.Namespace(path="lmdb", iter=800000, batch=16, n_sample=64, size=cfg["resolution"], r1=10.0,
                              path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9,
                              ckpt=None, lr=0.002, wandb=False, local_rank=0, augment=False, augment_p=0.0,
                              ada_target=0.6, ada_length=500000, ada_every=256, distributed=False,
                              latent=cfg["w_dim"], n_mlp=cfg["mapping_layers"], start_iter=0)
    if cfg["channel_max"] == 512 and cfg["channel_base"] % 16384 == 0:
        args.channel_multiplier = cfg["channel_base"] // 16384
    return args


def write_rosinality_pt(path, G, D=None, latent_avg: bool = True) -> None:
    """train.py's checkpoint layout when `D` is given, else convert_weight.py's; `latent_avg` adds
    convert_weight.py's top-level w_avg (train.py checkpoints have none)."""
    g_state = rosinality_generator_state(G)
    if D is None:
        ckpt = {"g_ema": g_state}
    else:
        d_state = rosinality_discriminator_state(D)
        ckpt = {"g": OrderedDict((k, v.clone()) for k, v in g_state.items()), "d": d_state, "g_ema": g_state,
                "g_optim": _optimizer_state(len(g_state)), "d_optim": _optimizer_state(len(d_state)),
                "args": rosinality_args(G), "ada_aug_p": 0.0}
    if latent_avg:
        ckpt["latent_avg"] = G.mapping.w_avg.detach().clone()
    torch.save(ckpt, path)


# --------------------------------------------------------------------------------------------------
# NVlabs stylegan2-ada-pytorch
# --------------------------------------------------------------------------------------------------

class EasyDict(dict):
    """Pickled as dnnlib.util.EasyDict."""


def _reconstruct_persistent_obj(meta):
    raise RuntimeError("synthetic torch_utils.persistence exists for pickling only")


EasyDict.__module__ = "dnnlib.util"
_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


@contextlib.contextmanager
def reference_modules():
    """Fake `torch_utils.persistence` and `dnnlib.util` in sys.modules, for pickle to name their globals."""
    fakes = {"torch_utils": {}, "torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj},
             "dnnlib": {}, "dnnlib.util": {"EasyDict": EasyDict}}
    saved = {name: sys.modules.get(name) for name in fakes}
    for name, attributes in fakes.items():
        sys.modules[name] = types.ModuleType(name)
        vars(sys.modules[name]).update(attributes)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent:
    """A network as torch_utils.persistence pickles it: _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name: str, state: dict, module_src: str = DUMMY_SRC):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name,
                    state=self.state)
        return _reconstruct_persistent_obj, (meta,)

    def child(self, dotted: str) -> "Persistent":
        node = self
        for name in dotted.split("."):
            node = node.state["_modules"][name]
        return node


def module_state(params=None, buffers=None, modules=None, **attributes) -> dict:
    """A torch.nn.Module.__dict__ (requires_grad off, as in NVlabs snapshots) plus extra attributes."""
    state = {"training": False,
             "_parameters": OrderedDict((k, torch.nn.Parameter(v.detach().clone(), requires_grad=False))
                                        for k, v in (params or {}).items()),
             "_buffers": OrderedDict((k, v.detach().clone()) for k, v in (buffers or {}).items()),
             "_non_persistent_buffers_set": set(),
             **{hooks: OrderedDict() for hooks in ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks",
                                                   "_state_dict_hooks", "_load_state_dict_pre_hooks")},
             "_modules": OrderedDict(modules or {})}
    state.update(attributes)
    return state


def as_plain_module(node: Persistent) -> torch.nn.Module:
    """The same state pickled as a plain torch.nn.Module instead of a persistent object."""
    module = torch.nn.Module.__new__(torch.nn.Module)
    module.__dict__.update(node.state)
    return module


class _Builder:
    """Builds persistent-object trees with the attributes and _init_kwargs of NVlabs' networks."""

    def __init__(self, sd: dict, module_src: str, conv_clamp):
        self.sd, self.module_src, self.conv_clamp = sd, module_src, conv_clamp

    def obj(self, class_name: str, init_kwargs: dict, **state) -> Persistent:
        return Persistent(class_name, module_state(**state, _init_args=(), _init_kwargs=init_kwargs), self.module_src)

    def fc(self, prefix: str, activation: str = "linear", lr: float = 1.0, bias_init: float = 0.0) -> Persistent:
        out_features, in_features = self.sd[f"{prefix}.weight"].shape
        return self.obj("FullyConnectedLayer",
                        dict(in_features=in_features, out_features=out_features, activation=activation,
                             lr_multiplier=lr, bias_init=bias_init),
                        params={"weight": self.sd[f"{prefix}.weight"], "bias": self.sd[f"{prefix}.bias"]},
                        activation=activation, weight_gain=np.float64(lr / np.sqrt(in_features)), bias_gain=lr)

    def conv(self, prefix: str, weight: torch.Tensor, activation: str, down: int, bias: bool) -> Persistent:
        out_channels, in_channels, k, _ = weight.shape
        clamp = self.conv_clamp if bias else None
        return self.obj("Conv2dLayer",
                        dict(in_channels=in_channels, out_channels=out_channels, kernel_size=k, bias=bias,
                             activation=activation, down=down, conv_clamp=clamp),
                        params={"weight": weight, **({"bias": self.sd[f"{prefix}.bias"]} if bias else {})},
                        buffers={"resample_filter": FILTER}, activation=activation, up=1, down=down, conv_clamp=clamp,
                        padding=k // 2, weight_gain=np.float64(1 / np.sqrt(in_channels * k * k)),
                        act_gain=np.float64(np.sqrt(2) if activation == "lrelu" else 1.0),
                        **({} if bias else {"bias": None}))


def nvlabs_generator(G, module_src: str = DUMMY_SRC, conv_clamp=256) -> Persistent:
    """Our StyleGAN2Generator as NVlabs' Generator(mapping=MappingNetwork, synthesis=SynthesisNetwork)."""
    cfg = G.config
    b = _Builder(G.state_dict(), module_src, conv_clamp)
    sd, w_dim, log2 = b.sd, cfg["w_dim"], int(np.log2(cfg["resolution"]))
    fp16_resolution = max(2 ** (log2 + 1 - 4), 8)

    def layer(prefix: str, res: int, up: int) -> Persistent:
        out_channels, in_channels = sd[f"{prefix}.conv.weight"].shape[:2]
        return b.obj("SynthesisLayer",
                     dict(in_channels=in_channels, out_channels=out_channels, w_dim=w_dim, resolution=res, up=up,
                          resample_filter=[1, 3, 3, 1], conv_clamp=conv_clamp, channels_last=False),
                     params={"weight": sd[f"{prefix}.conv.weight"], "noise_strength": sd[f"{prefix}.noise.strength"],
                             "bias": sd[f"{prefix}.bias"]},
                     buffers={"resample_filter": FILTER, "noise_const": sd[f"{prefix}.noise.const"]},
                     modules={"affine": b.fc(f"{prefix}.affine", bias_init=1)},
                     resolution=res, up=up, use_noise=True, activation="lrelu", conv_clamp=conv_clamp, padding=1,
                     act_gain=np.float64(np.sqrt(2)))

    def torgb(prefix: str) -> Persistent:
        channels = sd[f"{prefix}.conv.weight"].shape[1]
        return b.obj("ToRGBLayer", dict(in_channels=channels, out_channels=3, w_dim=w_dim, conv_clamp=conv_clamp,
                                        channels_last=False),
                     params={"weight": sd[f"{prefix}.conv.weight"], "bias": sd[f"{prefix}.bias"]},
                     modules={"affine": b.fc(f"{prefix}.affine", bias_init=1)}, conv_clamp=conv_clamp,
                     weight_gain=np.float64(1 / np.sqrt(channels)))

    blocks = OrderedDict()
    for res in G.synthesis.block_resolutions:
        p = f"synthesis.b{res}"
        out_channels = sd[f"{p}.conv1.bias"].numel()
        in_channels = 0 if res == 4 else sd[f"{p}.conv0.conv.weight"].shape[1]
        use_fp16, is_last = res >= fp16_resolution, res == cfg["resolution"]
        modules = OrderedDict() if res == 4 else OrderedDict(conv0=layer(f"{p}.conv0", res, 2))
        modules.update(conv1=layer(f"{p}.conv1", res, 1), torgb=torgb(f"{p}.torgb"))
        blocks[f"b{res}"] = b.obj(
            "SynthesisBlock",
            dict(in_channels=in_channels, out_channels=out_channels, w_dim=w_dim, resolution=res, img_channels=3,
                 is_last=is_last, use_fp16=use_fp16, conv_clamp=conv_clamp),
            params={"const": sd[f"{p}.const"]} if res == 4 else None, buffers={"resample_filter": FILTER},
            modules=modules, in_channels=in_channels, w_dim=w_dim, resolution=res, img_channels=3, is_last=is_last,
            architecture="skip", use_fp16=use_fp16, channels_last=False, num_conv=1 if res == 4 else 2, num_torgb=1)
    synthesis_kwargs = EasyDict(channel_base=cfg["channel_base"], channel_max=cfg["channel_max"], num_fp16_res=4,
                                conv_clamp=conv_clamp)
    synthesis = b.obj("SynthesisNetwork", dict(w_dim=w_dim, img_resolution=cfg["resolution"], img_channels=3,
                                               **synthesis_kwargs),
                      modules=blocks, w_dim=w_dim, img_resolution=cfg["resolution"], img_resolution_log2=log2,
                      img_channels=3, block_resolutions=list(G.synthesis.block_resolutions), num_ws=G.num_ws)
    layers = cfg["mapping_layers"]
    mapping = b.obj("MappingNetwork", dict(z_dim=cfg["z_dim"], c_dim=0, w_dim=w_dim, num_ws=G.num_ws,
                                           num_layers=layers),
                    modules={f"fc{i}": b.fc(f"mapping.fc{i}", "lrelu", lr=0.01) for i in range(layers)},
                    buffers={"w_avg": sd["mapping.w_avg"]}, z_dim=cfg["z_dim"], c_dim=0, w_dim=w_dim,
                    num_ws=G.num_ws, num_layers=layers, w_avg_beta=0.995)
    init_kwargs = dict(z_dim=cfg["z_dim"], w_dim=w_dim, mapping_kwargs=EasyDict(num_layers=layers),
                       synthesis_kwargs=synthesis_kwargs, c_dim=0, img_resolution=cfg["resolution"], img_channels=3)
    return b.obj("Generator", init_kwargs, modules=OrderedDict(synthesis=synthesis, mapping=mapping),
                 z_dim=cfg["z_dim"], c_dim=0, w_dim=w_dim, img_resolution=cfg["resolution"], img_channels=3,
                 num_ws=G.num_ws)


def nvlabs_discriminator(D, module_src: str = DUMMY_SRC, conv_clamp=256) -> Persistent:
    """Our Discriminator as NVlabs' resnet Discriminator(b{R}..b8 = DiscriminatorBlock, b4 = epilogue)."""
    cfg = D.config
    b = _Builder(D.state_dict(), module_src, conv_clamp)
    sd, log2 = b.sd, int(np.log2(cfg["resolution"]))
    fp16_resolution = max(2 ** (log2 + 1 - 4), 8)
    blocks = OrderedDict()
    for layer_index, res in enumerate(D.block_resolutions):
        p = f"b{res}"
        modules = OrderedDict()
        if res == cfg["resolution"]:
            modules["fromrgb"] = b.conv(f"{p}.fromrgb", sd[f"{p}.fromrgb.weight"], "lrelu", 1, True)
        modules.update(conv0=b.conv(f"{p}.conv0", sd[f"{p}.conv0.weight"], "lrelu", 1, True),
                       conv1=b.conv(f"{p}.conv1", sd[f"{p}.conv1.weight"], "lrelu", 2, True),
                       skip=b.conv(f"{p}.skip", sd[f"{p}.skip.weight"], "linear", 2, False))
        tmp_channels = sd[f"{p}.conv0.bias"].numel()
        in_channels = 0 if res == cfg["resolution"] else tmp_channels
        blocks[p] = b.obj("DiscriminatorBlock",
                          dict(in_channels=in_channels, tmp_channels=tmp_channels,
                               out_channels=sd[f"{p}.conv1.bias"].numel(), resolution=res, first_layer_idx=layer_index,
                               use_fp16=res >= fp16_resolution, img_channels=3, architecture="resnet",
                               conv_clamp=conv_clamp),
                          buffers={"resample_filter": FILTER}, modules=modules, in_channels=in_channels, resolution=res,
                          img_channels=3, first_layer_idx=layer_index, architecture="resnet",
                          use_fp16=res >= fp16_resolution, channels_last=False, num_layers=len(modules))
    c4 = sd["conv.bias"].numel()
    group, channels = cfg["mbstd_group"], cfg["mbstd_channels"]
    mbstd = b.obj("MinibatchStdLayer", dict(group_size=group, num_channels=channels), group_size=group,
                  num_channels=channels)
    blocks["b4"] = b.obj("DiscriminatorEpilogue",
                         dict(in_channels=c4, cmap_dim=0, resolution=4, img_channels=3, architecture="resnet",
                              mbstd_group_size=group, conv_clamp=conv_clamp),
                         modules=OrderedDict(mbstd=mbstd, conv=b.conv("conv", sd["conv.weight"], "lrelu", 1, True),
                                             fc=b.fc("fc", "lrelu"), out=b.fc("out")),
                         in_channels=c4, cmap_dim=0, resolution=4, img_channels=3, architecture="resnet")
    init_kwargs = dict(c_dim=0, img_resolution=cfg["resolution"], img_channels=3, architecture="resnet",
                       channel_base=cfg["channel_base"], channel_max=cfg["channel_max"], num_fp16_res=4,
                       conv_clamp=conv_clamp, block_kwargs=EasyDict(), mapping_kwargs=EasyDict(),
                       epilogue_kwargs=EasyDict(mbstd_group_size=group))
    return b.obj("Discriminator", init_kwargs, modules=blocks, c_dim=0, img_resolution=cfg["resolution"],
                 img_resolution_log2=log2, img_channels=3, block_resolutions=list(D.block_resolutions))


def dump_nvlabs_pkl(path, snapshot: dict, protocol: int = 3) -> None:
    """Pickle a snapshot dict as training_loop.py does (protocol 3: Python 3.7, the NVlabs releases)."""
    with reference_modules(), open(path, "wb") as f:
        pickle.dump(snapshot, f, protocol=protocol)


def nvlabs_snapshot(G, D=None, module_src: str = DUMMY_SRC) -> dict:
    """training_loop.py's snapshot_data: training_set_kwargs, G, D, G_ema, augment_pipe (D left out if None)."""
    snapshot = {"training_set_kwargs": dict(class_name="training.dataset.ImageFolderDataset", path="data.zip",
                                            use_labels=False, max_size=1000, xflip=False,
                                            resolution=G.config["resolution"]),
                "G": nvlabs_generator(G, module_src)}
    if D is not None:
        snapshot["D"] = nvlabs_discriminator(D, module_src)
    snapshot["G_ema"] = nvlabs_generator(G, module_src)
    snapshot["augment_pipe"] = Persistent("AugmentPipe", module_state(
        buffers={"p": torch.zeros([])}, _init_args=(), _init_kwargs=dict(xflip=1, rotate90=1, xint=1), xflip=1.0,
        rotate90=1.0, xint=1.0), module_src)
    return snapshot


def write_nvlabs_pkl(path, G, D=None, module_src: str = DUMMY_SRC, protocol: int = 3) -> None:
    dump_nvlabs_pkl(path, nvlabs_snapshot(G, D, module_src), protocol)
