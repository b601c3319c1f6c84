"""The models of the paper's experiments, by name, for every preset (the notebooks' one entry point).

    zoo = ModelZoo("cpu", "faces")
    zoo.stylegan2()                       # Table 1's baseline
    zoo.ssn()                             # SSN, λD = 0 (Table 1) — the base of everything below
    zoo.ssn(from_scratch=True)            # SSN, λD = 0, trained from scratch like the baseline
    zoo.ssn(finetuned=True)               # λD = 0, fine-tuned as long as the variants below
    zoo.ssn(lambda_d=100)                 # Table 2 / Figures 5–7
    zoo.ssn(lambda_d=100, grid=(8, 8))    # Figure 8
    zoo.ssn(conditioning="spade")         # Figure 4
    zoo.ssn(pl_kind="low_distortion", pl_weight=20)   # Appendix B

"All of the experiments in this paper used transfer" (§3.4). At the `paper` preset every SSN
starts from the StyleGAN2 checkpoint given as `stylegan2_checkpoint` and the baseline *is* that
checkpoint. At the other presets the baseline StyleGAN2 is trained here from scratch — or, when
`stylegan2_checkpoint` names one, is a checkpoint of a longer ssnlib StyleGAN2 run of the preset's
architecture (`models/<preset>/training/<run>`: the file is pinned when the zoo is made), or the
preset's shipped base for the dataset (`Preset.bases`, written by `train.save_networks`) — the 4×4
λD = 0 SSN is transferred from its run and trained for the preset's `transfer_length`, and every
variant — other λD, eq. 15, other grids (the weights do not depend on the grid) — is fine-tuned
from that SSN for `finetune_kimg`. `ssn(finetuned=True)` is the λD = 0 fine-tune of the same
length, the fair comparison row for every fine-tuned variant (Table 2, Appendix B). Trained from
scratch: SPADE conditioning (its modulation has no StyleGAN2 counterpart to copy) and
`ssn(from_scratch=True)`, the SSN given exactly the baseline's schedule (Table 1's equal-budget
row, Figure 4's like-for-like SMC model).
Models come from the run registry (`ssnlib.paper.runs`): shipped, already trained, or trained now.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io.serialization import load_generator, load_metadata, save_generator
from ..train import CHECKPOINT_DIR, TrainConfig, build_networks, checkpoint_generator, checkpoint_of
from . import published
from .presets import Preset, get_preset
from .runs import config_key, default_runs_root, ensure_run, find_generator, project_root, run_directory

logger = logging.getLogger(__name__)

RETRAIN_ENV = "SSNLIB_RETRAIN"
FIGURE_LAMBDA = 100.0  # the λD of the paper's qualitative figures (§4)


REPLICATED_LAMBDAS = (0.0, float(published.CHOSEN_LAMBDA))  # the λD the central claim compares (Table 2, §4)

Needs = tuple[str, str, "int | None"]
PlannedModel = tuple[str, str, dict, "Needs | None", "int | None"]


def zoo_plan(preset: str | None) -> list[PlannedModel]:
    """Every model the notebooks use at a procedural preset, in training order, as (dataset,
    "stylegan2" | "ssn", variant, needs, seed): `needs` is the (dataset, model, seed) whose run this
    one starts from — the StyleGAN2 for the transferred SSN base, that base for its fine-tunes — or
    None; `seed` is None for the zoo itself and one of the preset's `replicate_seeds` for the
    replicates (`ModelZoo.replicate`) of Table 1 — each dataset's transferred SSN, and its StyleGAN2
    unless the preset ships a base — and of Table 2 — the faces SSN at λD in `REPLICATED_LAMBDAS`.
    The order keeps the longest chain (StyleGAN2 → SSN → fine-tunes) first in the queue."""
    spec = get_preset(preset)
    plan: list[PlannedModel] = [("faces", "stylegan2", {}, None, None), ("churches", "stylegan2", {}, None, None),
                                ("faces", "ssn", {}, ("faces", "stylegan2", None), None),
                                ("churches", "ssn", {}, ("churches", "stylegan2", None), None)]
    faces_base = ("faces", "ssn", None)
    plan += [("faces", "ssn", {"lambda_d": float(lam), "finetuned": True}, faces_base, None) for lam in spec.lambdas]
    plan += [("faces", "ssn", {"pl_kind": "low_distortion", "pl_weight": float(w)}, faces_base, None)
             for w in spec.eq15_weights]
    plan += [("faces", "ssn", {"lambda_d": FIGURE_LAMBDA, "grid": (8, 8)}, faces_base, None),
             ("churches", "ssn", {"lambda_d": FIGURE_LAMBDA}, ("churches", "ssn", None), None),
             ("faces", "ssn", {"conditioning": "spade"}, None, None),
             ("faces", "ssn", {"from_scratch": True}, None, None),
             ("churches", "ssn", {"from_scratch": True}, None, None)]
    for seed in spec.replicate_seeds:
        for dataset in ("faces", "churches"):
            shipped_base = dataset in spec.bases
            if not shipped_base:
                plan.append((dataset, "stylegan2", {}, None, seed))
            plan.append((dataset, "ssn", {}, (dataset, "stylegan2", None if shipped_base else seed), seed))
        plan += [("faces", "ssn", {"lambda_d": lam, "finetuned": True}, ("faces", "ssn", seed), seed)
                 for lam in REPLICATED_LAMBDAS]
    return plan


def planned_zoo(preset: str, dataset: str, seed: int | None, use_shipped: bool = True) -> "ModelZoo":
    """The ModelZoo that trains a `zoo_plan` entry of this dataset and seed."""
    zoo = ModelZoo(preset, dataset, use_shipped=use_shipped)
    return zoo if seed is None else zoo.replicate(seed)


def _train_one(preset: str, dataset: str, model: str, variant: dict, seed: int | None, use_shipped: bool,
               threads: int) -> str:
    import torch

    torch.set_num_threads(threads)
    zoo = planned_zoo(preset, dataset, seed, use_shipped)
    path = zoo.stylegan2_file() if model == "stylegan2" else zoo.ssn_file(**variant)
    return str(path)


def train_zoo(preset: str | None, jobs: int = 1, use_shipped: bool = True) -> list[str]:
    """Train (or find) every model of `zoo_plan`, `jobs` at a time in worker processes of
    max(1, cores // jobs) threads each (small networks use two 1-thread jobs on 2 cores better
    than one 2-thread job). A model is queued in `zoo_plan`'s order once the run it needs is ready."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    spec = get_preset(preset)
    preset = spec.name
    if spec.pretrained:
        raise ValueError("the paper preset's models need dataset and StyleGAN2 checkpoint paths: train them "
                         "through the notebooks (or ModelZoo) instead")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        futures = {}
        for dataset, model, variant, needs, seed in zoo_plan(preset):
            if needs is not None:
                futures[(needs[0], needs[1], "{}", needs[2])].result()  # this model starts from that run
            futures[(dataset, model, repr(variant), seed)] = pool.submit(_train_one, preset, dataset, model, variant,
                                                                         seed, use_shipped, threads)
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
    seed: int | None = None  # an independent replicate: every run of this zoo trained with this seed

    def __post_init__(self):
        self.preset = get_preset(self.preset).name
        if not self.stylegan2_checkpoint and self.dataset in self.spec.bases:
            self.stylegan2_checkpoint = str(project_root() / self.spec.bases[self.dataset])
        if self.spec.pretrained and not self.stylegan2_checkpoint:
            raise ValueError("the paper preset transfers from a pretrained StyleGAN2 (§3.4): pass "
                             "stylegan2_checkpoint= (a rosinality .pt or NVlabs .pkl)")
        if self.stylegan2_checkpoint and not self.spec.pretrained:
            self.stylegan2_checkpoint = str(checkpoint_of(self.stylegan2_checkpoint, "stylegan2_checkpoint"))
            self._check_base_run(TrainConfig.from_dict(load_metadata(self.stylegan2_checkpoint)["config"]))

    def _check_base_run(self, run: TrainConfig) -> None:
        own = self.stylegan2_config()[0]
        fields = ("model", "resolution", "z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max")
        differ = [f"{f} {getattr(run, f)} (preset: {getattr(own, f)})" for f in fields
                  if getattr(run, f) != getattr(own, f)]
        if differ or run.dataset != own.dataset:
            raise ValueError(f"stylegan2_checkpoint {self.stylegan2_checkpoint} is not a {self.preset}-preset "
                             f"StyleGAN2 run on {own.dataset}: " + ", ".join(differ or [f"dataset {run.dataset}"]))

    def replicate(self, seed: int) -> "ModelZoo":
        """The same zoo with every run it trains seeded `seed`: an independent replicate (a given
        StyleGAN2 base, `stylegan2_checkpoint`, stays the one base)."""
        return dataclasses.replace(self, seed=seed)

    @property
    def spec(self) -> Preset:
        """The preset's table entry (its knobs: `pretrained`, `lambdas`, `caveat`, …)."""
        return get_preset(self.preset)

    @property
    def dataset_name(self) -> str:
        return Path(self.dataset).stem if os.sep in self.dataset or "." in self.dataset else self.dataset

    @property
    def _seed_suffix(self) -> str:
        """"-s<seed>" in the names of a replicate's runs: they ship beside seed 0's, not over them."""
        return "" if self.seed is None else f"-s{self.seed}"

    def config(self, **overrides) -> TrainConfig:
        seed = {} if self.seed is None else {"seed": self.seed}
        return get_preset(self.preset).train_config(dataset=self.dataset, **seed, **overrides)

    def _generator_file(self, config: TrainConfig, name: str, bases: tuple[tuple[TrainConfig, str], ...] = ()) -> Path:
        kwargs = dict(root=self.runs_root, models=self.models_root, use_shipped=self.use_shipped)
        found = find_generator(config, name, **kwargs)
        if found is not None:
            return found
        for base in bases:  # a run starts from its base's checkpoints, not from a shipped file
            ensure_run(*base, root=self.runs_root, models=self.models_root, use_shipped=False)
        return ensure_run(config, name, **kwargs)

    def stylegan2_config(self) -> tuple[TrainConfig, str]:
        """(config, registry name) of the StyleGAN2 baseline trained here (not at `paper`)."""
        return self.config(model="stylegan2", style_mixing=0.9), f"stylegan2-{self.dataset_name}{self._seed_suffix}"

    def stylegan2_file(self) -> Path:
        """Table 1's baseline: the pretrained checkpoint at the paper preset; the EMA generator of
        the given run checkpoint (exported once under `<runs>/<preset>/bases/`); else trained here."""
        if self.spec.pretrained:
            return Path(self.stylegan2_checkpoint)
        if self.stylegan2_checkpoint:
            checkpoint = Path(self.stylegan2_checkpoint)
            root = Path(self.runs_root) if self.runs_root is not None else default_runs_root()
            name = (f"{checkpoint.parents[1].name}-{checkpoint.stem}" if checkpoint.parent.name == CHECKPOINT_DIR
                    else checkpoint.stem)
            path = root / self.preset / "bases" / f"{name}.safetensors"
            if not path.is_file():
                generator, nimg = checkpoint_generator(checkpoint, "stylegan2_checkpoint")
                path.parent.mkdir(parents=True, exist_ok=True)
                save_generator(path, generator, extra={"exported_from": str(checkpoint), "nimg": nimg})
            return path
        return self._generator_file(*self.stylegan2_config())

    def stylegan2_kimg(self) -> float:
        """Thousands of images the baseline StyleGAN2 saw (NaN for a pretrained one)."""
        if self.spec.pretrained:
            return math.nan
        if self.stylegan2_checkpoint:
            return load_metadata(self.stylegan2_checkpoint)["nimg"] / 1000
        return float(self.stylegan2_config()[0].kimg)

    def load(self, path: str | Path):
        """The generator in a zoo file (a StyleGAN2 checkpoint at the paper preset), in eval mode."""
        if Path(path).suffix == ".safetensors":
            return load_generator(path, device=self.device)
        from ..io.stylegan2_import import load_stylegan2

        return load_stylegan2(path, device=self.device).eval()

    def untrained_file(self) -> Path:
        """The 4×4 SSN as training starts it (same seed, no step taken), saved once under
        `<runs>/<preset>/untrained/`: the yardstick for "the models learned something"."""
        if self.spec.pretrained:
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
                   pl_kind: str = "plain", pl_weight: float | None = None, finetuned: bool = False,
                   from_scratch: bool = False) -> tuple[TrainConfig, str, tuple[tuple[TrainConfig, str], ...]]:
        """(config, registry name, bases) of one SSN variant; `bases` are the (config, name) of the
        runs it starts from, in training order (empty for a model trained from scratch)."""
        grid = tuple(grid)
        tag = f"ssn{grid[0]}x{grid[1]}" + ("-spade" if conditioning == "spade" else "")
        arch = dict(model="ssn", grid=grid, conditioning=conditioning)
        variant = dict(lambda_d=float(lambda_d), pl_kind=pl_kind)
        if pl_weight is not None:
            variant["pl_weight"] = float(pl_weight)
        suffix = (f"-ld{_number(lambda_d)}" if lambda_d else "") + (
            f"-eq15w{_number(pl_weight if pl_weight is not None else 2.0)}" if pl_kind == "low_distortion" else "")
        seed = self._seed_suffix
        if from_scratch and (suffix or finetuned or grid != (4, 4) or conditioning != "smc" or self.spec.pretrained):
            raise ValueError("from_scratch names the 4×4 λD = 0 SMC SSN trained like the StyleGAN2 baseline, "
                             "below the paper preset only")
        if self.spec.pretrained:
            return (self.config(transfer=self.stylegan2_checkpoint, **arch, **variant),
                    f"{tag}-{self.dataset_name}{suffix}{seed}", ())
        if from_scratch:
            return self.config(**arch), f"{tag}-{self.dataset_name}-scratch{seed}", ()
        if conditioning == "spade":  # no StyleGAN2 counterpart of its modulation: from scratch
            base_arch, bases = arch, ()
            base = self.config(**base_arch)
        else:
            base_arch = dict(arch, grid=(4, 4))
            if self.stylegan2_checkpoint:  # a given run's checkpoint: nothing to train before the SSN
                bases, source = (), self.stylegan2_checkpoint
            else:
                stylegan2 = self.stylegan2_config()
                bases, source = (stylegan2,), str(run_directory(*stylegan2, self.runs_root))
            base = self.config(**base_arch, kimg=self.spec.transfer_length(self.dataset), init_from=source)
        base_name = ("ssn4x4" if conditioning == "smc" else tag) + f"-{self.dataset_name}{seed}"
        if not (suffix or finetuned or arch != base_arch):
            return base, base_name, bases
        if not suffix and finetuned:
            suffix = "-ft"
        tuned = self.config(**arch, **variant, kimg=get_preset(self.preset).finetune_kimg,
                            init_from=str(run_directory(base, base_name, self.runs_root)))
        return tuned, f"{tag}-{self.dataset_name}{suffix}{seed}", (*bases, (base, base_name))

    def ssn_file(self, lambda_d: float = 0.0, grid: tuple[int, int] = (4, 4), conditioning: str = "smc",
                 pl_kind: str = "plain", pl_weight: float | None = None, finetuned: bool = False,
                 from_scratch: bool = False) -> Path:
        """The SSN variant's EMA generator file (trained on first use, its bases first)."""
        return self._generator_file(*self.ssn_config(lambda_d, grid, conditioning, pl_kind, pl_weight, finetuned,
                                                     from_scratch))

    def ssn(self, lambda_d: float = 0.0, grid: tuple[int, int] = (4, 4), conditioning: str = "smc",
            pl_kind: str = "plain", pl_weight: float | None = None, finetuned: bool = False,
            from_scratch: bool = False):
        """The SSN variant's EMA generator (`ssn_file`)."""
        return self.load(self.ssn_file(lambda_d, grid, conditioning, pl_kind, pl_weight, finetuned, from_scratch))

    def table1_models(self) -> dict[str, object]:
        """Table 1's generators by display name: the StyleGAN2 baseline, the transferred λD = 0 SSN and,
        below a pretrained preset, the SSN trained from scratch with the baseline's schedule."""
        models = {"StyleGAN2": self.stylegan2(), "SSN, λD = 0": self.ssn()}
        if not self.spec.pretrained:
            models["SSN from scratch"] = self.ssn(from_scratch=True)
        return models

    def droplet_models(self) -> dict[str, object]:
        """Figure 4's pair: the SPADE SSN (trained from scratch) and an SMC SSN trained like it (from
        scratch; at a pretrained preset the transferred one, the only SMC model there)."""
        smc = self.ssn() if self.spec.pretrained else self.ssn(from_scratch=True)
        return {"SPADE (eq. 3)": self.ssn(conditioning="spade"), "SMC (eq. 1)": smc}

