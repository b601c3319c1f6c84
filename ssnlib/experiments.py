"""The models of the paper's experiments, by name, for every preset (the notebooks' one entry point).

    zoo = ModelZoo("cpu", "faces")
    zoo.stylegan2()                       # Table 1's baseline
    zoo.ssn()                             # SSN, λD = 0 (Table 1) — the base of everything below
    zoo.ssn(finetuned=True)               # λD = 0, fine-tuned as long as the variants below
    zoo.ssn(lambda_d=100)                 # Table 2 / Figures 5–7
    zoo.ssn(lambda_d=100, grid=(8, 8))    # Figure 8
    zoo.ssn(conditioning="spade")         # Figure 4
    zoo.ssn(pl_kind="low_distortion", pl_weight=20)   # Appendix B

At the `paper` preset every SSN starts from the StyleGAN2 checkpoint given as
`stylegan2_checkpoint` (§3.4) and the baseline *is* that checkpoint. At the other presets the
4×4 λD = 0 SSN is trained from scratch and every variant — other λD, eq. 15, other grids (the
weights do not depend on the grid) — is fine-tuned from it for the preset's `finetune_kimg`: the
same transfer protocol, with our own base model in StyleGAN2's place. SPADE conditioning has other
weights and is trained from scratch. `ssn(finetuned=True)` is the λD = 0 fine-tune of the same
length, the fair comparison row for every fine-tuned variant (Table 2, Appendix B).
Models come from the run registry (`ssnlib.runs`): shipped, already trained, or trained now.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .presets import get_preset
from .runs import config_key, default_runs_root, ensure_run, find_generator, run_directory
from .serialization import load_generator, save_generator
from .train import TrainConfig, build_networks

logger = logging.getLogger(__name__)

LAMBDAS = (0, 1, 10, 100, 1000, 10000)  # Table 2
EQ15_WEIGHTS = (2, 20, 200, 2000)  # Appendix B tried 2 … 200000; the cheaper end at our scale
RETRAIN_ENV = "SSNLIB_RETRAIN"
FIGURE_LAMBDA = 100.0  # the λD of the paper's qualitative figures (§4)


def default_lambdas(preset: str | None) -> list[float]:
    """The λD values of Table 2 (three of them at `ci`, for time)."""
    return [0, 100, 10000] if get_preset(preset).name == "ci" else list(LAMBDAS)


def default_eq15_weights(preset: str | None) -> list[float]:
    """The Appendix-B eq. 15 weights tried (two at `ci`)."""
    return [2, 2000] if get_preset(preset).name == "ci" else list(EQ15_WEIGHTS)


def zoo_plan(preset: str | None) -> tuple[list[tuple[str, str, dict]], list[tuple[str, str, dict]]]:
    """Every model the notebooks use at a procedural preset, as (dataset, "stylegan2" | "ssn",
    variant) in two stages: the models trained from scratch, then the fine-tunes of their bases."""
    scratch = [("faces", "stylegan2", {}), ("faces", "ssn", {}), ("churches", "stylegan2", {}),
               ("churches", "ssn", {}), ("faces", "ssn", {"conditioning": "spade"})]
    tuned = [("faces", "ssn", {"lambda_d": float(lam), "finetuned": True}) for lam in default_lambdas(preset)]
    tuned += [("faces", "ssn", {"pl_kind": "low_distortion", "pl_weight": float(w)})
              for w in default_eq15_weights(preset)]
    tuned += [("faces", "ssn", {"lambda_d": FIGURE_LAMBDA, "grid": (8, 8)}),
              ("churches", "ssn", {"lambda_d": FIGURE_LAMBDA})]
    return scratch, tuned


def _train_one(preset: str, dataset: str, model: str, variant: dict, use_shipped: bool, threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    zoo = ModelZoo(preset, dataset, use_shipped=use_shipped)
    path = zoo.stylegan2_file() if model == "stylegan2" else zoo.ssn_file(**variant)
    return str(path)


def train_zoo(preset: str | None, jobs: int = 1, use_shipped: bool = True) -> list[str]:
    """Train (or find) every model of `zoo_plan`, `jobs` at a time in worker processes of
    max(1, cores // jobs) threads each (small networks use two 1-thread jobs on 2 cores better
    than one 2-thread job). A fine-tune is queued as soon as its dataset's base SSN is ready."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    preset = get_preset(preset).name
    if preset == "paper":
        raise ValueError("the paper preset's models need dataset and StyleGAN2 checkpoint paths: train them "
                         "through the notebooks (or ModelZoo) instead")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    scratch, tuned = zoo_plan(preset)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {(d, m, repr(v)): pool.submit(_train_one, preset, d, m, v, use_shipped, threads)
                   for d, m, v in scratch}
        for d, m, v in tuned:
            futures[(d, "ssn", "{}")].result()  # the base: fine-tunes start from its checkpoints
            futures[(d, m, repr(v))] = pool.submit(_train_one, preset, d, m, v, use_shipped, threads)
        done = [future.result() for future in futures.values()]
    for path in done:
        logger.info("ready: %s", path)
    return done


def _number(value: float) -> str:
    return f"{value:g}".replace(".", "p")


@dataclass
class ModelZoo:
    preset: str | None = None
    dataset: str = "faces"
    stylegan2_checkpoint: str | None = None
    runs_root: str | None = None
    models_root: str | None = None
    device: str = "cpu"
    use_shipped: bool = field(default_factory=lambda: os.environ.get(RETRAIN_ENV, "") not in ("1", "true", "yes"))

    def __post_init__(self):
        self.preset = get_preset(self.preset).name
        if self.preset == "paper" and not self.stylegan2_checkpoint:
            raise ValueError("the paper preset transfers from a pretrained StyleGAN2 (§3.4): pass "
                             "stylegan2_checkpoint= (a rosinality .pt or NVlabs .pkl)")

    @property
    def dataset_name(self) -> str:
        return Path(self.dataset).stem if os.sep in self.dataset or "." in self.dataset else self.dataset

    def config(self, **overrides) -> TrainConfig:
        return TrainConfig.from_preset(self.preset, dataset=self.dataset, **overrides)

    def _generator_file(self, config: TrainConfig, name: str, base: tuple[TrainConfig, str] | None = None) -> Path:
        kwargs = dict(root=self.runs_root, models=self.models_root, use_shipped=self.use_shipped)
        found = find_generator(config, name, **kwargs)
        if found is not None:
            return found
        if base is not None:  # a fine-tune needs its base as a run with checkpoints, not a shipped file
            ensure_run(*base, root=self.runs_root, models=self.models_root, use_shipped=False)
        return ensure_run(config, name, **kwargs)

    def stylegan2_file(self) -> Path:
        """Table 1's baseline: the pretrained checkpoint at the paper preset, else trained here."""
        if self.preset == "paper":
            return Path(self.stylegan2_checkpoint)
        config = self.config(model="stylegan2", style_mixing=0.9)
        return self._generator_file(config, f"stylegan2-{self.dataset_name}")

    def load(self, path: str | Path):
        """The generator in a zoo file (a StyleGAN2 checkpoint at the paper preset), in eval mode."""
        if Path(path).suffix == ".safetensors":
            return load_generator(path, device=self.device)
        from .checkpoints import load_stylegan2

        return load_stylegan2(path, device=self.device).eval()

    def untrained_file(self) -> Path:
        """The 4×4 SSN as training starts it (same seed, no step taken), saved once under
        `<runs>/<preset>/untrained/`: the yardstick for "the models learned something"."""
        if self.preset == "paper":
            raise ValueError("the paper preset's models are transferred from a pretrained StyleGAN2: no untrained "
                             "reference")
        import torch

        config = self.config(model="ssn")
        root = Path(self.runs_root) if self.runs_root is not None else default_runs_root()
        path = root / self.preset / "untrained" / f"ssn4x4-{self.dataset_name}-{config_key(config)}.safetensors"
        if not path.is_file():
            with torch.random.fork_rng():
                torch.manual_seed(config.seed)  # as `Trainer`: the weights its step 0 starts from
                G, _ = build_networks(config)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_generator(path, G.eval())
        return path

    def stylegan2(self):
        """The StyleGAN2 baseline's generator (`stylegan2_file`)."""
        return self.load(self.stylegan2_file())

    def ssn_config(self, lambda_d: float = 0.0, grid: tuple[int, int] = (4, 4), conditioning: str = "smc",
                   pl_kind: str = "plain", pl_weight: float | None = None,
                   finetuned: bool = False) -> tuple[TrainConfig, str, tuple | None]:
        """(config, registry name, base (config, name) or None) of one SSN variant."""
        grid = tuple(grid)
        tag = f"ssn{grid[0]}x{grid[1]}" + ("-spade" if conditioning == "spade" else "")
        arch = dict(model="ssn", grid=grid, conditioning=conditioning)
        variant = dict(lambda_d=float(lambda_d), pl_kind=pl_kind)
        if pl_weight is not None:
            variant["pl_weight"] = float(pl_weight)
        suffix = (f"-ld{_number(lambda_d)}" if lambda_d else "") + (
            f"-eq15w{_number(pl_weight if pl_weight is not None else 2.0)}" if pl_kind == "low_distortion" else "")
        if self.preset == "paper":
            return (self.config(transfer=self.stylegan2_checkpoint, **arch, **variant),
                    f"{tag}-{self.dataset_name}{suffix}", None)
        base_arch = dict(arch, grid=(4, 4)) if conditioning == "smc" else arch
        base_name = ("ssn4x4" if conditioning == "smc" else tag) + f"-{self.dataset_name}"
        base = self.config(**base_arch)
        if not (suffix or finetuned or arch != base_arch):
            return base, base_name, None
        if not suffix and finetuned:
            suffix = "-ft"
        tuned = self.config(**arch, **variant, kimg=get_preset(self.preset).finetune_kimg,
                            init_from=str(run_directory(base, base_name, self.runs_root)))
        return tuned, f"{tag}-{self.dataset_name}{suffix}", (base, base_name)

    def ssn_file(self, lambda_d: float = 0.0, grid: tuple[int, int] = (4, 4), conditioning: str = "smc",
                 pl_kind: str = "plain", pl_weight: float | None = None, finetuned: bool = False) -> Path:
        """The SSN variant's EMA generator file (trained on first use)."""
        config, name, base = self.ssn_config(lambda_d, grid, conditioning, pl_kind, pl_weight, finetuned)
        return self._generator_file(config, name, base)

    def ssn(self, lambda_d: float = 0.0, grid: tuple[int, int] = (4, 4), conditioning: str = "smc",
            pl_kind: str = "plain", pl_weight: float | None = None, finetuned: bool = False):
        """The SSN variant's EMA generator (`ssn_file`)."""
        return self.load(self.ssn_file(lambda_d, grid, conditioning, pl_kind, pl_weight, finetuned))
