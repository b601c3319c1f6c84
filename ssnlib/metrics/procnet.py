"""ProcNet: a project-trained feature network for the procedural datasets (offline metrics).

Without internet there are no Inception / VGG weights, so the offline presets measure quality with
a small CNN trained here on `ProceduralFaces` and `ProceduralChurches` renders. It is
labelled as what it is: Fréchet distances on its features are "FD-procnet", never "FID", and
`proc_perceptual_distance` is an LPIPS-*style* distance (channel-unit-normalised features, no
learned linear weights), so a PPL computed with it is "PPL-proc".

One trunk (5 stages at 64², 32², 16², 8², 4² with 16→128 channels, GroupNorm/ReLU; any 16–256 px
input is resized to 64×64) feeds a 256-d global feature (mean and max over the last stage,
`features`), one linear classifier per dataset attribute plus a face/church `domain` head, and a
light FPN-style decoder that segments both datasets' parts in one label space ("face/hair",
"church/tower", ...; `segment`). Training adds deep supervision: eye colour and expression are
also predicted at each 8×8 position over the eyes / mouth, which makes the trunk see these small
parts within the CPU budget.

The shipped weights were trained by `ssnlib.train_procnet` (`python -m ssnlib.train_procnet --out
ssnlib/assets/procnet.safetensors` (seeded; data seeds 1000 for training and 2000 for the held-out
split, a family disjoint from GAN training seeds). Held-out metrics live in the file's metadata.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import ProceduralChurches, ProceduralFaces
from ..data.procedural import ProceduralDataset
from ..io.serialization import load_tensors
from .features import FeatureExtractor, register_feature_extractor

log = logging.getLogger(__name__)

DOMAINS: dict[str, type[ProceduralDataset]] = {"face": ProceduralFaces, "church": ProceduralChurches}
PART_NAMES = tuple(f"{d}/{p}" for d, cls in DOMAINS.items() for p in cls.PARTS)
PART_OFFSETS = {"face": 0, "church": len(ProceduralFaces.PARTS)}  # dataset part id + offset = ProcNet part id
HEADS = {"domain": len(DOMAINS), **{f"{d}/{a}": n for d, cls in DOMAINS.items() for a, n in cls.ATTRIBUTES.items()}}
# deep supervision: these attributes are also predicted at every 8×8 position of the 4th stage
# that covers their part, which teaches the trunk to look at the irises and the mouth (from the
# global labels alone, eye colour stays at chance for the first few hundred steps)
PART_ATTRIBUTES = {"face/eye_color": ("face/eyes",), "face/expression": ("face/mouth",)}
TRAIN_SEED, HELD_OUT_SEED = 1000, 2000  # dataset seeds: disjoint from the GAN training data (seed 0)
MIN_RES, MAX_RES = 16, 256
IGNORE = -100  # label of a head on the other domain's images
ASSET = "procnet.safetensors"
PROCNET_NAME = "procnet"  # the feature-extractor name FD-proc is registered under


def _norm_act(channels: int, groups: int) -> list[nn.Module]:
    return [nn.GroupNorm(min(groups, channels), channels), nn.ReLU(inplace=True)]


class ProcNet(nn.Module):
    """Trunk + global feature + attribute/domain heads + part segmentation decoder.

    Inputs are float images (B, 3, H, W) in [-1, 1] (clamped), 16 ≤ H, W ≤ 256, resized to
    `input_size` with antialiased bilinear interpolation. The global feature is the average and
    the maximum over the last stage's positions (2 × 128 = 256-d). `forward` is `features`.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64, 128, 128),
        decoder_channels: int = 16,
        input_size: int = 64,
        groups: int = 8,
        heads: dict[str, int] | None = None,
        part_names: Sequence[str] = PART_NAMES,
        part_attributes: dict[str, Sequence[str]] | None = None,
    ):
        super().__init__()
        heads = dict(HEADS if heads is None else heads)
        part_attributes = PART_ATTRIBUTES if part_attributes is None else part_attributes
        part_attributes = {k: list(v) for k, v in part_attributes.items()}
        unknown = [k for k, parts in part_attributes.items() if k not in heads or not set(parts) <= set(part_names)]
        if unknown:
            raise ValueError(f"part_attributes {unknown} name unknown heads or parts")
        self.config = {"channels": list(channels), "decoder_channels": decoder_channels, "input_size": input_size,
                       "groups": groups, "heads": heads, "part_names": list(part_names),
                       "part_attributes": part_attributes}
        self.input_size, self.part_names, self.part_attributes = input_size, tuple(part_names), part_attributes
        stages = [nn.Sequential(nn.Conv2d(3, channels[0], 3, padding=1), *_norm_act(channels[0], groups))]
        for i, c in enumerate(channels[1:], 1):
            last = i == len(channels) - 1
            stages.append(nn.Sequential(
                nn.Conv2d(channels[i - 1], c, 3, stride=2, padding=1), *_norm_act(c, groups),
                nn.Conv2d(c, c, 1 if last else 3, padding=0 if last else 1), *_norm_act(c, groups),
            ))
        self.stages = nn.ModuleList(stages)
        self.feature_dim = 2 * channels[-1]
        self.heads = nn.ModuleDict({name: nn.Linear(self.feature_dim, n) for name, n in heads.items()})
        d = decoder_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, d, 1) for c in channels)
        self.smooth = nn.ModuleList(
            nn.Sequential(nn.Conv2d(d, d, 3, padding=1), *_norm_act(d, groups)) for _ in channels[:-1]
        )
        self.classifier = nn.Conv2d(d, len(part_names), 1)
        # deep supervision: the part attributes, per position of the second-to-last stage
        self.part_heads = nn.ModuleDict({name: nn.Conv2d(channels[-2], heads[name], 1) for name in part_attributes})

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or not x.is_floating_point() or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"ProcNet expects float images (B, 3, H, W) in [-1, 1], got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        h, w = x.shape[-2:]
        if not (MIN_RES <= h <= MAX_RES and MIN_RES <= w <= MAX_RES):
            raise ValueError(f"ProcNet takes images of {MIN_RES}–{MAX_RES} px per side, got {h}×{w}")
        x = x.clamp(-1.0, 1.0)
        if (h, w) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
        return x

    def multiscale_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage feature maps (after GroupNorm/ReLU): 64², 32², 16², 8², 4² by default."""
        h, maps = self._prepare(x), []
        for stage in self.stages:
            h = stage(h)
            maps.append(h)
        return maps

    @staticmethod
    def _pool(maps: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat([maps[-1].mean(dim=(2, 3)), maps[-1].amax(dim=(2, 3))], dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Global (B, 256) feature: the penultimate layer, what FD-procnet compares."""
        return self._pool(self.multiscale_features(x))

    forward = features

    def _decode(self, maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Segmentation logits (B, n_parts, *size)."""
        y = self.lateral[-1](maps[-1])
        for i in range(len(maps) - 2, -1, -1):
            y = F.interpolate(y, size=maps[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[i](y + self.lateral[i](maps[i]))
        logits = self.classifier(y)
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False, antialias=True)
        return logits

    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything at once: "features", one logit tensor per head name, "segmentation" logits
        (B, n_parts, H, W) at the input's resolution and "parts/<head>" attribute logits per
        position of the second-to-last stage (8×8 by default)."""
        maps = self.multiscale_features(x)
        feats = self._pool(maps)
        out = {"features": feats, **{name: head(feats) for name, head in self.heads.items()}}
        out["segmentation"] = self._decode(maps, tuple(x.shape[-2:]))
        out.update({f"parts/{name}": head(maps[-2]) for name, head in self.part_heads.items()})
        return out

    def domain_parts(self, domain: str | None) -> list[int]:
        """Indices into `part_names` of one dataset's parts ("face" / "church"), or all if None."""
        if domain is None:
            return list(range(len(self.part_names)))
        return [i for i, n in enumerate(self.part_names) if n.startswith(f"{_check_domain(domain)}/")]

    def part_probabilities(self, x: torch.Tensor, domain: str | None = None) -> torch.Tensor:
        """(B, P, H, W) softmax over the parts `domain_parts(domain)`, at the input's resolution."""
        logits = self._decode(self.multiscale_features(x), tuple(x.shape[-2:]))
        return logits[:, self.domain_parts(domain)].softmax(1)

    def segment(self, x: torch.Tensor, domain: str | None = None) -> torch.Tensor:
        """(B, H, W) int64 part ids into `part_names`; with `domain` ("face" / "church") the
        argmax runs over that dataset's parts only."""
        ids = self.domain_parts(domain)
        logits = self._decode(self.multiscale_features(x), tuple(x.shape[-2:]))[:, ids]
        return torch.as_tensor(ids, device=logits.device)[logits.argmax(1)]


def _check_domain(domain: str) -> str:
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {tuple(DOMAINS)}")
    return domain


# ------------------------------------------------------------------ perceptual distance


def proc_perceptual_distance(x: torch.Tensor, y: torch.Tensor, net: ProcNet | None = None) -> torch.Tensor:
    """LPIPS-style distance (B,): Σ_stages mean_{h,w} ‖f̂_s(x) − f̂_s(y)‖², f̂ = features divided by
    their channel norm at each pixel (as LPIPS), with uniform weights — no learned linear heads.
    Differentiable in x and y; `net` defaults to the shipped ProcNet."""
    if x.shape != y.shape:
        raise ValueError(f"proc_perceptual_distance: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    net = shipped_procnet() if net is None else net
    fx, fy = net.multiscale_features(x), net.multiscale_features(y)
    total = x.new_zeros(x.shape[0])
    for a, b in zip(fx, fy):  # F.normalize: a zero feature vector (after ReLU) gets a zero gradient, not NaN
        diff = F.normalize(a, dim=1, eps=1e-10) - F.normalize(b, dim=1, eps=1e-10)
        total = total + diff.square().sum(1).mean(dim=(1, 2))
    return total


# ------------------------------------------------------------------ loading and registration


def default_weights_path() -> Path:
    """The shipped weights, `ssnlib/assets/procnet.safetensors`."""
    return Path(str(importlib.resources.files("ssnlib") / "assets" / ASSET))


def load_procnet(path: str | Path | None = None, device: str | torch.device = "cpu") -> ProcNet:
    """A ProcNet in eval mode with frozen weights (gradients still flow to its inputs); the file's
    metadata (config, training settings, `held_out_metrics`) is kept as `net.metadata`."""
    path = default_weights_path() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ProcNet weights {path} not found; train them with "
                                f"`python -m ssnlib.metrics.procnet train --out {path}`")
    tensors, metadata = load_tensors(path)
    if metadata.get("class") != "ProcNet" or "config" not in metadata:
        raise ValueError(f"{path} is not a ProcNet weights file (metadata class {metadata.get('class')!r})")
    net = ProcNet(**metadata["config"])
    try:
        result = net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=False)
    except RuntimeError as err:  # tensors of the wrong shape for the stored config
        raise ValueError(f"{path}: tensors do not fit the stored ProcNet config: {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: missing tensors {result.missing_keys}, unexpected tensors {result.unexpected_keys}")
    net.metadata = metadata
    return net.to(device).eval().requires_grad_(False)


@functools.lru_cache(maxsize=None)
def shipped_procnet() -> ProcNet:
    """The shipped ProcNet on the CPU, loaded once per process."""
    return load_procnet()


def procnet_feature_extractor(path: str | Path | None = None, device: str | torch.device = "cpu") -> FeatureExtractor:
    """ProcNet's 256-d global features as a `FeatureExtractor`; its metric is "FD-procnet"."""
    return FeatureExtractor("procnet", load_procnet(path, device), input_format="float")


# replace=True: the module may run twice in one process (`python -m` after a package import, reload)
register_feature_extractor(PROCNET_NAME, procnet_feature_extractor, replace=True)
