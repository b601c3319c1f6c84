"""Training: one config dataclass, one loop (StyleGAN2's schedule + the distortion regularizer).

Per iteration, as NVlabs StyleGAN2: G main (adversarial + λD·R_D of eq. 2), G regularization
(path length, or Appendix B's eq. 15, every `pl_interval`), D main, D regularization (R1, every
`r1_interval`), then the generator EMA. Lazy regularization rescales Adam's lr and betas.
Progress is measured in images seen (kimg). Runs on one CPU or GPU, or under
`torchrun --nproc_per_node=K` (the batch is split across ranks, gradients are averaged with an
explicit all-reduce — NCCL on GPU, gloo on CPU — and only rank 0 writes).

Every source of randomness is a checkpointed RNG or a function of (seed, rank, step), so a run
resumed from a checkpoint continues bit-identically on CPU.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import logging
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn

from . import layers, losses
from .data import open_dataset
from .data.images import ImageDataset
from .data.procedural import ProceduralDataset
from .io.serialization import load_metadata, load_tensors, save_generator, save_tensors
from .networks import Discriminator, SSNGenerator, StyleGAN2Generator
from .progress import progress_bar
from .viz import save_image_grid

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
FINAL_GENERATOR = "generator.safetensors"
BEST_NETWORKS = "best.safetensors"  # a run's networks at its lowest FD-proc in quality.csv


AMP_MODES = ("none", "bf16", "fp16", "auto")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AVX512-BF16 or AMX, through oneDNN)."""
    return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_amp(amp: str, device: torch.device) -> str:
    """`amp="auto"` → "bf16" where the device has fast bfloat16 (a CUDA GPU that supports it, or a
    CPU with AVX512-BF16/AMX), else "none". Other values are returned unchanged."""
    if amp != "auto":
        return amp
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "none"
    return "bf16" if device.type == "cpu" and cpu_has_fast_bf16() else "none"


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped without writing a checkpoint."""


@dataclass
class TrainConfig:
    """Everything a run depends on. Field names are the CLI flags (`--lambda-d` for `lambda_d`)."""

    preset: str = "cpu"  # the name of the preset that filled the other fields (ssnlib.paper.presets)
    out: str = "runs/ssn"
    # data
    dataset: str = "faces"  # "faces", "churches", or a folder / .zip / LMDB path
    dataset_length: int | None = None  # procedural images rendered (and cached), or files read
    xflip: bool = False
    skip_bad_images: bool = True  # image datasets: check every file first, train on the readable ones
    background: tuple[int, int, int] = (255, 255, 255)  # image datasets: colour under transparent pixels
    # model
    model: str = "ssn"  # "ssn" or "stylegan2"
    resolution: int = 32
    grid: tuple[int, int] = (4, 4)
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 8
    channel_base: int = 2048
    channel_max: int = 128
    conditioning: str = "smc"  # "smc" or "spade" (Figure 4)
    spade_hidden: int = 128  # width of SPADE's shared conv (128 in SPADE; only with conditioning="spade")
    border: str = "interior"
    refine: bool = False
    mbstd_group: int = 4
    transfer: str | None = None  # StyleGAN2 checkpoint (.pt / .pkl) to start from (§3.4)
    init_from: str | None = None  # a run (or checkpoint) whose G, G_ema and D weights start this one (fine-tuning)
    # optimisation
    batch_size: int = 32
    kimg: float = 300.0
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 1.0
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    pl_kind: str = "plain"  # "plain" (StyleGAN2) or "low_distortion" (Appendix B, eq. 15)
    gamma_plus: float = 1.0
    gamma_minus: float = 0.1
    lambda_d: float = 0.0  # distortion regularizer weight λD (eq. 2)
    lambda_d_scale: str = "per_pixel"  # which of eq. 2's sums R_D keeps: "per_pixel" or "eq2" (losses)
    eq15_scale: str = "mean_a"  # eq. 15 averaged over a ("mean_a") or summed as written ("eq15")
    distortion_interval: int = 1
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = 0.05
    # bookkeeping
    seed: int = 0
    snapshot_kimg: float = 50.0
    sample_kimg: float = 25.0
    sample_count: int = 32
    keep_checkpoints: int = 3
    quality_kimg: float | None = None  # FD-proc (an SSN: + distortion) of G_ema every this many kimg → quality.csv
    quality_n: int = 2000  # samples per quality measurement
    device: str = "auto"
    amp: str = "none"  # "none", "bf16", "fp16", "auto" (autocast of the main phases; see `resolve_amp`)
    channels_last: bool = False  # NHWC activations and weights (oneDNN's fast layout on CPU)
    compile: bool = False  # torch.compile the discriminator of G's main phase
    workers: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):  # 300 and 300.0 are one config: one key, one run folder
            value = getattr(self, f.name)
            if f.type in ("float", "float | None") and isinstance(value, int) and not isinstance(value, bool):
                setattr(self, f.name, float(value))
        self.grid = tuple(int(g) for g in self.grid)
        self.background = tuple(int(v) for v in self.background)
        self.betas = tuple(float(b) for b in self.betas)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """From `to_dict`'s output, or a run's config.json (whose "data" summary is not a field)."""
        data = {k: v for k, v in data.items() if k != "data"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields {unknown}")
        return cls(**data)

    def validate(self, world_size: int = 1) -> None:
        checks = [
            (self.model in ("ssn", "stylegan2"), f"model must be 'ssn' or 'stylegan2', got {self.model!r}"),
            (self.batch_size % world_size == 0, f"batch_size {self.batch_size} is not divisible by {world_size} ranks"),
            ((self.batch_size // world_size) % min(self.mbstd_group, self.batch_size // world_size) == 0,
             f"per-rank batch {self.batch_size // world_size} is not divisible by mbstd_group {self.mbstd_group}"),
            (self.pl_kind in ("plain", "low_distortion"), "pl_kind must be 'plain' or 'low_distortion'"),
            (self.amp in AMP_MODES, f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}"),
            (self.lambda_d == 0 or self.model == "ssn", "the distortion regularizer (lambda_d) needs model 'ssn'"),
            (self.pl_kind == "plain" or self.model == "ssn", "pl_kind 'low_distortion' needs model 'ssn'"),
            (self.kimg > 0, f"kimg must be positive, got {self.kimg}"),
            (self.lambda_d_scale in losses.DISTORTION_SCALES,
             f"lambda_d_scale must be one of {', '.join(losses.DISTORTION_SCALES)}, got {self.lambda_d_scale!r}"),
            (self.eq15_scale in losses.EQ15_SCALES,
             f"eq15_scale must be one of {', '.join(losses.EQ15_SCALES)}, got {self.eq15_scale!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# ----------------------------------------------------------------------------------------------
# Distributed helpers


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_mean(self, tensors: list[torch.Tensor]) -> None:
        if self.world_size == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for t in tensors:
            t.copy_(flat[offset: offset + t.numel()].reshape(t.shape))
            offset += t.numel()

    def all_finite(self, value: torch.Tensor) -> bool:
        ok = torch.tensor(float(torch.isfinite(value).all()), device=self.device)
        if self.world_size > 1:
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        return bool(ok.item())


def setup_distributed(device: str) -> Dist:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if world_size == 1:
        return Dist(0, 1, torch.device(device))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank()
    if device.startswith("cuda"):
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    return Dist(rank, world_size, torch.device(device))


# ----------------------------------------------------------------------------------------------
# Models, data, optimizers


def build_networks(config: TrainConfig) -> tuple[nn.Module, Discriminator]:
    """Fresh G and D from the config, or — with `transfer` — StyleGAN2 weights copied in (§3.4)."""
    if config.transfer:
        from .io.stylegan2_import import load_stylegan2, load_stylegan2_discriminator

        source = load_stylegan2(config.transfer)
        if source.resolution != config.resolution:
            raise ValueError(f"{config.transfer} is a {source.resolution}×{source.resolution} StyleGAN2 but the run is "
                             f"configured for resolution {config.resolution}: pass --resolution {source.resolution}")
        G = SSNGenerator.from_stylegan2(source, **_ssn_options(config)) if config.model == "ssn" else source
        D = load_stylegan2_discriminator(config.transfer)
        return G, D
    G = _fresh_generator(config)  # before D: the order the random initial weights are drawn in
    return G, Discriminator(config.resolution, config.channel_base, config.channel_max, config.mbstd_group)


def _fresh_generator(config: TrainConfig) -> nn.Module:
    if config.model == "ssn":
        return SSNGenerator(**_ssn_options(config), **_generator_arch(config))
    return StyleGAN2Generator(**_generator_arch(config))


def _generator_arch(config: TrainConfig) -> dict[str, int]:
    """The constructor arguments StyleGAN2 and SSN generators share."""
    return dict(resolution=config.resolution, z_dim=config.z_dim, w_dim=config.w_dim, channel_base=config.channel_base,
                channel_max=config.channel_max, mapping_layers=config.mapping_layers)


def _ssn_options(config: TrainConfig) -> dict[str, Any]:
    """The SSN's own constructor arguments (those StyleGAN2 does not have)."""
    return dict(grid=config.grid, conditioning=config.conditioning, border=config.border, refine=config.refine,
                spade_hidden=config.spade_hidden)


def lazy_adam(params, config: TrainConfig, interval: int) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularization correction: lr and betas scaled by k/(k+1)."""
    ratio = interval / (interval + 1) if interval > 0 else 1.0
    # foreach: each Adam operation over all parameters at once instead of ~10 small ops per parameter
    return torch.optim.Adam(params, lr=config.lr * ratio, betas=tuple(b**ratio for b in config.betas), eps=1e-8,
                            foreach=True)


def open_training_data(config: TrainConfig):
    dataset = open_dataset(config.dataset, config.resolution, length=config.dataset_length, seed=config.seed,
                           xflip=config.xflip, skip_bad=config.skip_bad_images, background=config.background)
    for where, reason in getattr(dataset, "skipped", []):
        logger.warning("skipped %s: %s", where, reason)
    if isinstance(dataset, ProceduralDataset):
        dataset = dataset.cached(len(dataset))
    if len(dataset) == 0:
        raise ValueError(f"dataset {config.dataset!r} is empty")
    return dataset


class StepSampler(torch.utils.data.Sampler):
    """Random indices as a pure function of (seed, rank, step): resuming at step k reproduces
    exactly the batches a straight run would have drawn, even with prefetching workers."""

    def __init__(self, n: int, batch: int, seed: int, rank: int, start_step: int):
        self.n, self.batch, self.seed, self.rank, self.start_step = n, batch, seed, rank, start_step

    def __iter__(self) -> Iterator[int]:
        step = self.start_step
        while True:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.rank) * 1_000_033 + step)
            yield from torch.randint(self.n, (self.batch,), generator=g).tolist()
            step += 1


def real_batches(dataset, config: TrainConfig, rank: int, batch: int, start_step: int) -> Iterator[torch.Tensor]:
    # The loader's own generator keeps its worker seeding off the global RNG (checkpointed state).
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=config.workers,
                                         sampler=StepSampler(len(dataset), batch, config.seed, rank, start_step),
                                         generator=torch.Generator().manual_seed(config.seed))
    for images in loader:
        yield images


# ----------------------------------------------------------------------------------------------
# Checkpoints


def _optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    sd = opt.state_dict()
    tensors = {f"{prefix}.{i}.{k}": torch.as_tensor(v) for i, state in sd["state"].items() for k, v in state.items()}
    return tensors, sd["param_groups"]


def _load_optimizer(opt: torch.optim.Optimizer, prefix: str, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def _module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def _load_module(module: nn.Module, prefix: str, tensors: dict[str, torch.Tensor], path: Path) -> None:
    sd = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    result = module.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{path}: {prefix} does not match the configured network: missing {result.missing_keys}, "
                         f"unexpected {result.unexpected_keys}")


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    files = sorted((Path(run_dir) / CHECKPOINT_DIR).glob("ckpt-*.safetensors"))
    return files[-1] if files else None


def checkpoint_of(source: str | Path, flag: str) -> Path:
    """The checkpoint a flag names: a checkpoint file, or a run directory's latest checkpoint."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{flag} {source}: no such run directory or checkpoint file")
    if path.is_dir():
        checkpoint = latest_checkpoint(path)
        if checkpoint is None:
            purpose = "resume" if flag == "--resume" else "start"
            raise FileNotFoundError(f"{flag} {source}: no checkpoint to {purpose} from in {path / CHECKPOINT_DIR}")
        return checkpoint
    return path


def checkpoint_generator(source: str | Path, flag: str = "checkpoint") -> tuple[nn.Module, int]:
    """(EMA generator in eval mode, images seen) of a training checkpoint, or of a run directory's
    latest: what the run would export if it stopped there."""
    path = checkpoint_of(source, flag)
    meta = load_metadata(path)
    transfer = TrainConfig.from_dict(meta["config"]).transfer if "config" in meta else None
    if transfer:
        raise ValueError(f"{flag} {path}: a run transferred from {transfer}; load its exported generator")
    return generator_of(path, flag=flag), int(meta["nimg"])


NETWORKS = ("G", "G_ema", "D")  # what a fine-tune or a transfer starts from (`Trainer.load_weights`)
NETWORKS_META = ("config", "step", "nimg", "train_seconds")


def generator_of(path: str | Path, device: str | torch.device = "cpu", flag: str = "") -> nn.Module:
    """The EMA generator (eval mode) of a training checkpoint or a networks file (`save_networks`,
    RUN/best.safetensors, a shipped base): what to sample from before the run has finished."""
    tensors, meta = load_tensors(path)
    if "config" not in meta or not any(k.startswith("G_ema.") for k in tensors):
        raise ValueError(f"{flag + ' ' if flag else ''}{path}: not an ssnlib training checkpoint or networks file "
                         "(no run config or G_ema tensors)")
    with torch.random.fork_rng(devices=[]):  # the throw-away initial weights leave the caller's stream alone
        G = _fresh_generator(TrainConfig.from_dict(meta["config"]))
    _load_module(G, "G_ema", tensors, Path(path))
    return G.to(device).eval()


def network_file(path: str | Path, flag: str = "network") -> Path:
    """The file a command or a script was given: the file itself, or a run directory's finished
    generator (named, with the run's latest checkpoint, when the run has not finished)."""
    source = Path(path)
    if source.is_dir():
        final = source / FINAL_GENERATOR
        if not final.is_file():
            raise FileNotFoundError(f"{source} has no {FINAL_GENERATOR} (is the run finished? latest checkpoint: "
                                    f"{latest_checkpoint(source)})")
        return final
    if not source.is_file():
        raise FileNotFoundError(f"{flag} {path}: no such file (a .safetensors / .pt / .pkl generator or a run "
                                "directory)")
    return source


def read_network(path: str | Path, flag: str = "network", device: str | torch.device = "cpu") -> nn.Module:
    """The generator (eval mode) any network file holds: a generator file (ssnlib .safetensors,
    rosinality .pt, NVlabs .pkl), a finished run directory's, or the G_ema of a training checkpoint
    or networks file (RUN/best.safetensors, a shipped base). `flag` names the argument in errors."""
    from .io.stylegan2_import import load

    source = network_file(path, flag)
    training_file = source.suffix == ".safetensors" and "class" not in load_metadata(source)
    return generator_of(source, device) if training_file else load(source, device).eval()


def save_networks(source: str | Path, path: str | Path, flag: str = "source") -> Path:
    """A run's networks without its training state: G, G_ema and D (float32) of a checkpoint, or of a
    run directory's latest, with its config, step, images seen and training time — no optimizer,
    path-length or RNG state. What `--init-from` and `ModelZoo(stylegan2_checkpoint=…)` start from:
    a trained base that ships, as the paper's SSNs start from pretrained StyleGAN2s (§3.4)."""
    checkpoint = checkpoint_of(source, flag)
    tensors, meta = load_tensors(checkpoint)
    missing = [p for p in NETWORKS if not any(k.startswith(f"{p}.") for k in tensors)]
    if "config" not in meta or missing:
        raise ValueError(f"{flag} {checkpoint}: not an ssnlib training checkpoint (no "
                         f"{'run config' if 'config' not in meta else ', '.join(missing) + ' tensors'})")
    kept = {k: v.float() for k, v in tensors.items() if k.split(".", 1)[0] in NETWORKS}
    save_tensors(path, kept, {**{k: meta[k] for k in NETWORKS_META if k in meta}, "networks_of": str(checkpoint)})
    return Path(path)


# ----------------------------------------------------------------------------------------------
# The trainer


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """`module`'s parameters need no gradient inside (as NVlabs' phases toggle `requires_grad`): a
    backward through it computes the input's gradient only, skipping its weight-gradient kernels."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


class Trainer:
    """Holds the networks, optimizers, regularizers and counters of one run."""

    def __init__(self, config: TrainConfig, env: Dist):
        config.validate(env.world_size)
        self.config, self.env = config, env
        self.out = Path(config.out)
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        G, D = build_networks(config)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.G = G.to(env.device, memory_format=self.memory_format)
        self.D = D.to(env.device, memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_g = lazy_adam(self.G.parameters(), config, config.pl_interval if config.pl_weight > 0 else 0)
        self.opt_d = lazy_adam(self.D.parameters(), config, config.r1_interval if config.r1_gamma > 0 else 0)
        if config.pl_kind == "plain":
            self.path_length = losses.PathLengthRegularizer(config.pl_decay)
        else:
            self.path_length = losses.LowDistortionPathLength(config.gamma_plus, config.gamma_minus,
                                                              config.eq15_scale)
        self.path_length.to(env.device)
        self.distortion = losses.DistortionRegularizer(scale=config.lambda_d_scale)
        self.batch = config.batch_size // env.world_size
        self.step, self.nimg = 0, 0
        self.train_seconds = 0.0  # wall time spent in train_step, summed over every session of the run
        torch.manual_seed(config.seed * 7919 + env.rank + 1)  # per-rank stream for z, noise, blocks
        self.D_main = torch.compile(self.D) if config.compile else self.D  # G main's D (D main pairs its batches)
        self.amp = resolve_amp(config.amp, env.device)
        self.scalers = {name: torch.amp.GradScaler(env.device.type, enabled=self.amp == "fp16")
                        for name in ("G", "D")}

    # -- one phase = one loss, one backward, one optimizer step ---------------------------------
    def _autocast(self):
        if self.amp == "none":
            return nullcontext()
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(self.env.device.type, dtype=dtype)

    def _apply(self, phase: str, loss: torch.Tensor, net: nn.Module, opt: torch.optim.Optimizer) -> None:
        if not self.env.all_finite(loss.detach()):
            last = latest_checkpoint(self.out)
            raise NonFiniteLossError(
                f"non-finite {phase} loss ({loss.item()}) at step {self.step} ({self.nimg / 1000:.3f} kimg); "
                f"the last good checkpoint is {last or 'none (no checkpoint written yet)'}")
        scaler = self.scalers["G" if net is self.G else "D"]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        self.env.all_reduce_mean(grads)
        for p in net.parameters():
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        scaler.step(opt)
        scaler.update()

    def _fake_ws(self, n: int, update_w_avg: bool = False) -> tuple[torch.Tensor, torch.Tensor, bool]:
        z = self.G.sample_z(n, device=self.env.device)
        ws, mixed = losses.mix_styles(self.G, z, self.config.style_mixing, update_w_avg=update_w_avg)
        return z, ws, mixed

    def generator_main(self, stats: dict[str, float]) -> None:
        cfg = self.config
        z, ws, mixed = self._fake_ws(self.batch)
        noise = self.G.make_noise(self.batch, device=self.env.device)
        with frozen(self.D):  # G's gradient flows through D's input, not its weights
            with self._autocast():
                images = self.G.synthesize(ws, noise=noise)
                loss = losses.generator_loss(self.D_main(images))
                stats["loss_g"] = loss.item()
                if cfg.lambda_d > 0 and self.step % cfg.distortion_interval == 0:  # in the main one's precision
                    r_d, d_stats = self.distortion(self.G, z, images=None if mixed else images, noise=noise)
                    loss = loss + cfg.lambda_d * cfg.distortion_interval * r_d.float()
                    stats["distortion"] = d_stats["distortion"].item()
            self._apply("generator", loss, self.G, self.opt_g)

    def generator_regularization(self, stats: dict[str, float]) -> None:
        cfg = self.config
        n = max(self.batch // cfg.pl_batch_shrink, 1)
        _, ws, _ = self._fake_ws(n)
        penalty, _ = self.path_length(self.G, ws, noise=self.G.make_noise(n, device=self.env.device))
        stats["pl_penalty"] = penalty.item()
        self._apply("path-length", penalty * cfg.pl_weight * cfg.pl_interval, self.G, self.opt_g)

    def discriminator_main(self, real: torch.Tensor, stats: dict[str, float]) -> None:
        with torch.no_grad():
            _, ws, _ = self._fake_ws(self.batch, update_w_avg=True)  # w_avg tracks these, as NVlabs
            with self._autocast():
                fake = self.G.synthesize(ws, noise_mode="random")
        with self._autocast():
            loss = losses.discriminator_loss(*self.D.forward_pair(real, fake))
        stats["loss_d"] = loss.item()
        self._apply("discriminator", loss, self.D, self.opt_d)

    def discriminator_regularization(self, real: torch.Tensor, stats: dict[str, float]) -> None:
        real = real.detach().requires_grad_(True)
        penalty = losses.r1_penalty(real, self.D(real))
        stats["r1_penalty"] = penalty.item()
        self._apply("R1", penalty * (self.config.r1_gamma / 2) * self.config.r1_interval, self.D, self.opt_d)

    def sync_buffers(self) -> None:
        """w_avg and the path-length mean are running statistics of each rank's batch: average them."""
        self.env.all_reduce_mean([self.G.mapping.w_avg, *self.path_length.buffers()])

    def update_ema(self) -> None:
        cfg = self.config
        ema_nimg = cfg.ema_kimg * 1000
        if cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.nimg * cfg.ema_rampup)
        beta = 0.5 ** (cfg.batch_size / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        stats: dict[str, float] = {}
        real = real.contiguous(memory_format=self.memory_format)
        self.generator_main(stats)
        if cfg.pl_weight > 0 and self.step % cfg.pl_interval == 0:
            self.generator_regularization(stats)
        self.discriminator_main(real, stats)
        if cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0:
            self.discriminator_regularization(real, stats)
        self.sync_buffers()
        self.step += 1
        self.nimg += cfg.batch_size
        self.update_ema()
        return stats

    # -- state ---------------------------------------------------------------------------------
    def rng_states(self) -> list[torch.Tensor]:
        """The global torch RNG state of every rank (rank r at index r)."""
        local = torch.get_rng_state()
        if self.env.world_size == 1:
            return [local]
        gathered: list[Any] = [None] * self.env.world_size
        dist.all_gather_object(gathered, local)
        return gathered

    def save_checkpoint(self) -> Path | None:
        tensors = {**_module_tensors("G", self.G), **_module_tensors("G_ema", self.G_ema),
                   **_module_tensors("D", self.D), **_module_tensors("path_length", self.path_length)}
        opt_g, groups_g = _optimizer_tensors("opt_g", self.opt_g)
        opt_d, groups_d = _optimizer_tensors("opt_d", self.opt_d)
        tensors.update(opt_g)
        tensors.update(opt_d)
        for rank, state in enumerate(self.rng_states()):
            tensors[f"rng.rank{rank}"] = state
        if not self.env.is_main:
            return None
        path = self.out / CHECKPOINT_DIR / f"ckpt-{self.step:08d}.safetensors"
        meta = dict(config=self.config.to_dict(), step=self.step, nimg=self.nimg, world_size=self.env.world_size,
                    opt_g_groups=groups_g, opt_d_groups=groups_d, train_seconds=self.train_seconds)
        save_tensors(path, tensors, meta)
        for old in sorted((self.out / CHECKPOINT_DIR).glob("ckpt-*.safetensors"))[:-self.config.keep_checkpoints]:
            old.unlink()
        logger.info("checkpoint %s", path)
        return path

    def save_networks(self, path: Path, **extra: Any) -> None:
        """G, G_ema and D (float32) with the run's config and counters, as `save_networks` keeps a
        checkpoint's: a file `--init-from`, `export --networks` and a zoo's base read."""
        tensors = {k: v.float() for prefix in NETWORKS
                   for k, v in _module_tensors(prefix, getattr(self, prefix)).items()}
        meta = dict(config=self.config.to_dict(), step=self.step, nimg=self.nimg, train_seconds=self.train_seconds)
        save_tensors(path, tensors, {**meta, **extra})

    def load_weights(self, source: str | Path) -> None:
        """Start from another run's networks (G, G_ema, D) — not its optimizers or counters. An SSN
        started from a StyleGAN2 run gets its generators by transfer (§3.4,
        `SSNGenerator.from_stylegan2`), as the paper's SSNs start from pretrained StyleGAN2s."""
        path = checkpoint_of(source, "init_from")
        tensors, meta = load_tensors(path, device=self.env.device)
        source_config = TrainConfig.from_dict(meta["config"])
        transfer = source_config.model == "stylegan2" and self.config.model == "ssn"
        for prefix, module in (("G", self.G), ("G_ema", self.G_ema)):
            if transfer:
                stylegan2 = StyleGAN2Generator(**_generator_arch(source_config)).to(self.env.device)
                _load_module(stylegan2, prefix, tensors, path)
                transferred = SSNGenerator.from_stylegan2(stylegan2, **_ssn_options(self.config))
                _load_module(module, prefix, {f"{prefix}.{k}": v for k, v in transferred.state_dict().items()}, path)
            else:
                _load_module(module, prefix, tensors, path)
        _load_module(self.D, "D", tensors, path)
        logger.info("initialised G, G_ema and D from %s%s", path, " (StyleGAN2 → SSN transfer)" if transfer else "")

    def load_checkpoint(self, path: Path) -> None:
        tensors, meta = load_tensors(path, device=self.env.device)
        for prefix, module in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D), ("path_length", self.path_length)):
            _load_module(module, prefix, tensors, path)
        _load_optimizer(self.opt_g, "opt_g", tensors, meta["opt_g_groups"])
        _load_optimizer(self.opt_d, "opt_d", tensors, meta["opt_d_groups"])
        self.step, self.nimg = meta["step"], meta["nimg"]
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        key = f"rng.rank{self.env.rank}"
        if meta["world_size"] == self.env.world_size and key in tensors:
            torch.set_rng_state(tensors[key].cpu())
        else:
            logger.warning("%s was written with %d ranks, resuming with %d: random streams restart",
                           path, meta["world_size"], self.env.world_size)
        logger.info("resumed from %s at step %d (%.3f kimg)", path, self.step, self.nimg / 1000)


# ----------------------------------------------------------------------------------------------
# Logging


class RunLog:
    """metrics.csv and TensorBoard scalars (rank 0 only). On resume, rows logged after the
    checkpoint's step (by a run that was killed later) are dropped, so each step appears once."""

    def __init__(self, out: Path, start_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.csv_path = out / "metrics.csv"
        self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start_step or None)
        self.columns: list[str] | None = None
        if self.csv_path.exists():
            with open(self.csv_path) as f:
                rows = list(csv.reader(f))
            self.columns = rows[0] if rows else None
            kept = [r for r in rows[1:] if int(r[0]) <= start_step]
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerows(([self.columns] if self.columns else []) + kept)

    def write(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **values}
        if self.columns is None:
            self.columns = ["step", "kimg", "img_per_s", "loss_g", "loss_d", "pl_penalty", "r1_penalty", "distortion"]
            with open(self.csv_path, "w", newline="") as f:
                csv.writer(f).writerow(self.columns)
        with open(self.csv_path, "a", newline="") as f:
            csv.writer(f).writerow([row.get(c, "") for c in self.columns])
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        self.writer.close()


class QualityLog:
    """quality.csv: FD-proc and precision/recall of G_ema against the training data (ProcNet features, the first
    `quality_n` images of the dataset's seed-0 stream) and, for an SSN, its distortion, in-block change and
    locality over `quality_n` single-block resamples (eq. 2's quantity, as Table 2 measures it), with the
    kimg and the training wall time at which it was measured — the curves that say when a run stops
    paying. Rows after the resumed step are dropped, as in `RunLog`; a StyleGAN2 leaves the distortion
    columns empty. Each measurement that lowers the run's best FD-proc writes the networks to
    RUN/best.safetensors (with `fd_proc` in its metadata): the snapshot to ship, where one
    measurement moves by tens between snapshots (re-measure it on fresh samples before quoting it)."""

    COLUMNS = ["step", "kimg", "train_hours", "fd_proc", "fd_proc_se", "precision_proc", "recall_proc",
               "distortion", "distortion_se", "in_block", "locality"]

    def __init__(self, out: Path, config: TrainConfig, start_step: int):
        self.path, self.config = out / "quality.csv", config
        rows = []
        if self.path.exists():
            with open(self.path) as f:
                rows = [r for r in csv.reader(f)][1:]
        with open(self.path, "w", newline="") as f:
            kept = [r + [""] * (len(self.COLUMNS) - len(r)) for r in rows if int(r[0]) <= start_step]
            csv.writer(f).writerows([self.COLUMNS] + kept)
        self.best_path = out / BEST_NETWORKS  # an older run (no file yet) writes one once it beats its rows
        self.best_fd = (load_metadata(self.best_path)["fd_proc"] if self.best_path.exists()
                        else min((float(r[3]) for r in kept), default=math.inf))

    def measure(self, trainer: "Trainer") -> dict[str, float]:
        from .evaluate import EvalSettings, evaluate_generator

        cfg = self.config
        settings = EvalSettings(dataset=cfg.dataset, resolution=cfg.resolution, dataset_seed=0, n_fd=cfg.quality_n,
                                n_distortion=cfg.quality_n, device=str(trainer.env.device))
        G = copy.deepcopy(trainer.G_ema).to(memory_format=torch.contiguous_format)
        metrics = ["fd_proc", "prc_proc"] + (["distortion"] if cfg.model == "ssn" else [])
        with torch.random.fork_rng(devices=[]):  # training's random stream is untouched
            results = evaluate_generator(G, metrics, settings)
        row = [trainer.step, trainer.nimg / 1000, trainer.train_seconds / 3600, results["fd_proc"],
               results["fd_proc_se"], results["prc_proc_precision"], results["prc_proc_recall"],
               *(results.get(k, "") for k in ("distortion", "distortion_se", "in_block", "locality"))]
        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow(row)
        logger.info("kimg %.1f: FD-proc %.2f ± %.2f, precision %.3f, recall %.3f", *row[1:7])
        if results["fd_proc"] < self.best_fd:
            self.best_fd = results["fd_proc"]
            trainer.save_networks(self.best_path, fd_proc=self.best_fd)
        if cfg.model == "ssn":
            logger.info("kimg %.1f: distortion %.3g ± %.2g, locality %.3f", row[1], row[7], row[8], row[10])
        return dict(zip(self.COLUMNS, row))


def _crossed(before: int, after: int, every_kimg: float) -> bool:
    every = max(int(round(every_kimg * 1000)), 1)
    return before // every != after // every


def dataset_summary(config: TrainConfig, dataset) -> dict[str, Any]:
    """What the run trains on: images found, used and skipped (with why), for RUN/dataset.json."""
    skipped = [dict(file=where, reason=reason) for where, reason in getattr(dataset, "skipped", [])]
    used = len(dataset.keys) if isinstance(dataset, ImageDataset) else len(dataset)  # images, not flipped copies
    return dict(dataset=config.dataset, resolution=config.resolution, found=used + len(skipped), used=used,
                skipped=skipped)


def prepare_run_dir(config: TrainConfig, dataset: dict[str, Any] | None = None) -> None:
    """RUN/config.json: the resolved config, plus (key "data", not a config field) what the run
    found in its dataset; RUN/dataset.json the same summary with every skipped file."""
    out = Path(config.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    saved = config.to_dict()
    if dataset is not None:
        saved["data"] = {k: v for k, v in dataset.items() if k != "skipped"} | {"skipped": len(dataset["skipped"])}
        (out / "dataset.json").write_text(json.dumps(dataset, indent=2) + "\n")
    (out / "config.json").write_text(json.dumps(saved, indent=2) + "\n")


def train(config: TrainConfig, resume: str | Path | None = None) -> Trainer:
    """Train until `config.kimg`; returns the trainer (`.out` is the run directory).

    `resume`: a checkpoint file, or a run directory (its latest checkpoint)."""
    with torch.enable_grad():  # callers (notebooks) may have turned autograd off globally
        return _train(config, resume)


def _train(config: TrainConfig, resume: str | Path | None) -> Trainer:
    env = setup_distributed(config.device)
    resume_path = checkpoint_of(resume, "--resume") if resume is not None else None
    if resume_path is None and latest_checkpoint(config.out) is not None:
        raise FileExistsError(f"{config.out} already holds checkpoints; pass --resume {config.out} to continue it, "
                              f"or choose another --out")
    # everything that can fail on bad input happens before the run directory is written
    trainer = Trainer(config, env)
    dataset = open_training_data(config)
    summary = dataset_summary(config, dataset)
    logger.info("dataset %s: %d images found, %d used, %d unreadable skipped (%d×%d)", config.dataset,
                summary["found"], summary["used"], len(summary["skipped"]), config.resolution, config.resolution)
    if env.is_main:
        prepare_run_dir(config, summary)
    if resume_path is not None:
        trainer.load_checkpoint(resume_path)
    elif config.init_from:
        trainer.load_weights(config.init_from)
    out = Path(config.out)
    reals = real_batches(dataset, config, env.rank, trainer.batch, trainer.step)
    sample_z = trainer.G.sample_z(config.sample_count, torch.Generator().manual_seed(config.seed + 12345),
                                  device=env.device)
    total = int(round(config.kimg * 1000))
    log = RunLog(out, trainer.step) if env.is_main else None
    quality = QualityLog(out, config, trainer.step) if env.is_main and config.quality_kimg else None
    bar = progress_bar(total=total, initial=trainer.nimg, unit="img", unit_scale=True, shown=env.is_main,
                       desc=f"train {Path(config.out).name}")
    start_time, start_nimg = time.perf_counter(), trainer.nimg
    if env.is_main and trainer.step == 0:
        save_samples(trainer.G_ema, sample_z, out, 0)
    try:
        while trainer.nimg < total:
            before, step_start = trainer.nimg, time.perf_counter()
            stats = trainer.train_step(next(reals).to(env.device))
            trainer.train_seconds += time.perf_counter() - step_start
            rate = (trainer.nimg - start_nimg) / max(time.perf_counter() - start_time, 1e-9)
            if env.is_main:
                log.write(trainer.step, {"kimg": trainer.nimg / 1000, "img_per_s": rate, **stats})
                bar.update(trainer.nimg - before)
                bar.set_postfix(img_s=f"{rate:.0f}", G=f"{stats['loss_g']:.3f}", D=f"{stats['loss_d']:.3f}",
                                refresh=False)  # a log file gets one line a minute, not one a step
            done = trainer.nimg >= total
            if env.is_main and (done or _crossed(before, trainer.nimg, config.sample_kimg)):
                save_samples(trainer.G_ema, sample_z, out, trainer.step)
            if quality is not None and (done or _crossed(before, trainer.nimg, config.quality_kimg)):
                quality.measure(trainer)
            if done or _crossed(before, trainer.nimg, config.snapshot_kimg):
                trainer.save_checkpoint()
    finally:
        bar.close()
        if log is not None:
            log.close()
    if env.is_main:
        save_generator(out / FINAL_GENERATOR, trainer.G_ema, extra={"train_config": config.to_dict(),
                                                                   "nimg": trainer.nimg})
    return trainer


def save_samples(G_ema: nn.Module, z: torch.Tensor, out: Path, step: int) -> None:
    with torch.no_grad():
        images = torch.cat([G_ema(chunk, noise_mode="const") for chunk in z.split(16)])
    save_image_grid(images, out / "samples" / f"step{step:07d}.png")


# ----------------------------------------------------------------------------------------------
# Command line


# One line per TrainConfig field: `python -m ssnlib train --help` (a test keeps it complete).
FIELD_HELP = {
    "preset": "the preset whose values fill every flag not given",
    "out": "run directory (config.json, metrics.csv, checkpoints/, samples/, generator.safetensors)",
    "dataset": "'faces', 'churches' (procedural) or an image folder / .zip / LMDB path",
    "dataset_length": "procedural images rendered (and cached), or image files read (default: all)",
    "xflip": "add horizontally flipped copies of the data",
    "background": "image datasets: R G B (0–255) that transparent pixels are composited onto",
    "skip_bad_images": "image datasets: check every file first and train on the readable ones (else: stop at the "
                       "first unreadable file)",
    "model": "generator: an SSN (spatial latent grid) or the StyleGAN2 baseline",
    "resolution": "image size (a power of two ≥ 4)",
    "grid": "SSN latent grid: rows columns (powers of two dividing the resolution)",
    "z_dim": "latent channels per cell", "w_dim": "intermediate latent channels per cell",
    "mapping_layers": "mapping network depth",
    "channel_base": "channels = min(channel_base / resolution, channel_max) per block",
    "channel_max": "the most channels of any block",
    "conditioning": "how the w grid reaches the synthesis layers: spatially modulated convs or SPADE (Figure 4)",
    "spade_hidden": "width of SPADE's shared conv (only with --conditioning spade)",
    "border": "eq. 14 normalizer at the border: 'interior' (equals StyleGAN2 under a constant style) or "
              "'zero_padded' (eq. 14 literally)",
    "refine": "learned residual 3×3 conv on each layer's w grid (zero-initialised)",
    "mbstd_group": "minibatch standard deviation group size",
    "transfer": "StyleGAN2 checkpoint (.pt / .pkl) to start from (§3.4)",
    "init_from": "a run (or checkpoint) whose G, G_ema and D start this one (a fine-tune)",
    "batch_size": "images per step (split across ranks under torchrun)",
    "kimg": "train until this many thousand images have been seen",
    "lr": "Adam learning rate", "betas": "Adam β1 β2",
    "r1_gamma": "R1 weight γ (the penalty is γ/2 · ‖∇D‖²; 0: off)", "r1_interval": "R1 every this many D steps",
    "pl_weight": "path length weight (0: off)", "pl_interval": "path length every this many G steps",
    "pl_decay": "path length running-mean decay", "pl_batch_shrink": "path length batch = batch / this",
    "pl_kind": "'plain' path length (StyleGAN2) or 'low_distortion' (Appendix B, eq. 15; SSN only)",
    "gamma_plus": "eq. 15 target γ+ inside the block", "gamma_minus": "eq. 15 target γ− outside the block",
    "lambda_d": "distortion regularizer weight λD (eq. 2; SSN only)",
    "lambda_d_scale": "which of eq. 2's sums λD weighs: 'per_pixel' (E = eq. 2 / (n(n−1))) or 'eq2' (E = eq. 2 / n)",
    "eq15_scale": "eq. 15 averaged over a ('mean_a', E = eq. 15 / n) or summed as written ('eq15')",
    "distortion_interval": "distortion regularizer every this many G steps (weighted ×interval)",
    "style_mixing": "style mixing probability", "ema_kimg": "G EMA half-life in kimg",
    "ema_rampup": "EMA ramp-up: half-life ≤ this × kimg seen ('' or none: off)",
    "seed": "seed of weights, data order and every random draw",
    "snapshot_kimg": "checkpoint every this many kimg", "sample_kimg": "sample grid every this many kimg",
    "sample_count": "images in each sample grid", "keep_checkpoints": "checkpoints kept (older ones deleted)",
    "quality_kimg": "FD-proc, precision/recall (an SSN: + distortion) of G_ema every this many kimg → "
                    "quality.csv (default: never)",
    "quality_n": "samples per quality.csv measurement",
    "device": "'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1', …",
    "amp": "autocast of the main phases: 'auto' = bf16 where the CPU/GPU has it (README: Training speed)",
    "channels_last": "NHWC memory layout (oneDNN's fast one on CPU)",
    "compile": "torch.compile the discriminator of G's main phase (D's main phase scores its pair eagerly)",
    "workers": "data loader worker processes",
}
FIELD_CHOICES = {"model": ("ssn", "stylegan2"), "conditioning": ("smc", "spade"), "border": layers.BORDER_MODES,
                 "pl_kind": ("plain", "low_distortion"), "amp": AMP_MODES,
                 "lambda_d_scale": losses.DISTORTION_SCALES, "eq15_scale": losses.EQ15_SCALES}


def resume_source(resume: str | Path) -> tuple[Path, dict[str, Any]]:
    """(checkpoint file, its run's saved config) for `--resume RUN`: RUN's own config.json when RUN
    is a run directory, the checkpoint's own config when it is a checkpoint file."""
    path, checkpoint = Path(resume), checkpoint_of(resume, "--resume")
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"--resume {resume}: {config_file} is missing")
        return checkpoint, json.loads(config_file.read_text())
    _, meta = load_tensors(path)
    if "config" not in meta:
        raise ValueError(f"--resume {resume}: not a training checkpoint (no config in its metadata)")
    return path, meta["config"]
