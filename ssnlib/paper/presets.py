"""The four scales everything runs at: `ci`, `cpu` (default), `gpu`, `paper`.

A preset is a set of overrides for `ssnlib.train.TrainConfig` (model, data, schedule) plus the
sample counts the evaluation and the notebooks use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..evaluate import EvalSettings
from ..train import TrainConfig

DEFAULT_PRESET = "cpu"
PRESET_ENV = "SSNLIB_PRESET"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    train: dict[str, Any]
    eval: dict[str, Any] = field(default_factory=dict)
    # dataset → the `train` values it trains with instead (a dataset that needs a wider network to
    # learn at this preset's budget); every model of that dataset, its bases included, uses them
    dataset_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfer_kimg: float = 0.0  # SSN base: training after transfer from the preset's StyleGAN2 (§3.4)
    # dataset → its own transfer length, where its base takes another to regain (read off its curves)
    dataset_transfer_kimg: dict[str, float] = field(default_factory=dict)
    finetune_kimg: float = 0.0  # length of the λD / Appendix-B fine-tunes from the λD = 0 base
    pretrained: bool = False  # models start from a pretrained StyleGAN2 checkpoint (nothing trained from scratch)
    # dataset → a shipped base (G, G_ema, D: `train.save_networks`), relative to the project root: the
    # preset's StyleGAN2 baseline, trained once for hours (its curves beside it), that the SSNs are
    # transferred from as the paper's are from pretrained StyleGAN2s (§3.4). A dataset without one
    # trains its baseline from scratch for `kimg`.
    bases: dict[str, str] = field(default_factory=dict)
    replicate_seeds: tuple[int, ...] = ()  # Table 2: extra seeds replicating λD = 0 and 100 (`tables.table2`)
    metrics: tuple[str, str] = ("fd_proc", "ppl_proc")  # (quality, path length) the tables measure
    lambdas: tuple[float, ...] = (0, 1, 10, 100, 1000, 10000)  # Table 2's λD
    eq15_weights: tuple[float, ...] = (2, 20, 200, 2000)  # Appendix B tried 2 … 200000; the cheaper end here
    inpaint_steps: int = 300  # Figure 8's latent-inpainting optimisation steps per image
    projection_steps: int = 1000  # notebook 10: projector steps (NVlabs' default 1000)
    projection_images: int = 64  # notebook 10: held-out images projected
    caveat: str = ""  # what every verdict at this preset must say (appended to each reason)

    @property
    def note(self) -> str:
        """The caveat as the verdicts append it: " (…)", or "" for none."""
        return f" ({self.caveat})" if self.caveat else ""

    def transfer_length(self, dataset: str) -> float:
        """kimg of the SSN transfer (§3.4) on `dataset`: its `dataset_transfer_kimg`, else `transfer_kimg`."""
        return float(self.dataset_transfer_kimg.get(dataset, self.transfer_kimg))

    def train_config(self, **overrides) -> TrainConfig:
        """A TrainConfig of this preset's values (its `dataset_train` for the dataset), `overrides` on top."""
        dataset = overrides.get("dataset", self.train.get("dataset", TrainConfig.dataset))
        return TrainConfig(preset=self.name, **{**self.train, **self.dataset_train.get(dataset, {}), **overrides})

    def eval_settings(self, **overrides) -> EvalSettings:
        """EvalSettings of this preset's sample counts, `overrides` on top (dataset, resolution, …)."""
        return EvalSettings(**{**self.eval, **overrides})


PRESETS: dict[str, Preset] = {
    "ci": Preset(
        "ci", "seconds per model, every code path exercised (tests)",
        train=dict(resolution=16, grid=(4, 4), z_dim=32, w_dim=32, mapping_layers=2, channel_base=256,
                   channel_max=32, spade_hidden=16, batch_size=8, kimg=0.2, dataset_length=512, snapshot_kimg=0.1,
                   sample_kimg=0.1, sample_count=16, ema_kimg=0.05, pl_batch_shrink=2),
        eval=dict(n_fd=256, n_ppl=64, n_distortion=64, batch_size=32),
        transfer_kimg=0.1, finetune_kimg=0.1, lambdas=(0, 100, 10000), eq15_weights=(2, 2000), inpaint_steps=40,
        projection_steps=20, projection_images=2, replicate_seeds=(1,),
        caveat="ci models are barely trained: the code path is what this preset checks",
    ),
    "cpu": Preset(
        "cpu", "the offline reproduction: procedural data, hours-long bases on 2 CPU cores",
        train=dict(resolution=32, grid=(4, 4), z_dim=128, w_dim=128, mapping_layers=4, channel_base=1024,
                   channel_max=64, spade_hidden=32, batch_size=16, kimg=50, dataset_length=20000,
                   snapshot_kimg=5, sample_kimg=5, ema_kimg=2.5, r1_gamma=0.01,  # γ ≈ 0.0002·res²/batch (ADA)
                   amp="auto", channels_last=True),  # bf16 where the CPU has it: README, "Training speed"
        eval=dict(n_fd=2000, n_ppl=1000, n_distortion=1000, batch_size=64),  # `make reproduce` < 20 min
        # the StyleGAN2 bases trained for hours (README, "Longer training"); transfer and fine-tune
        # lengths read off measured curves: an SSN needs ~200 kimg to regain its base's FD-proc, a
        # fine-tune's FD-proc and distortion plateau by ~30 kimg
        bases={"faces": "models/cpu/bases/stylegan2-faces-915kimg.safetensors",
               "churches": "models/cpu/bases/stylegan2-churches-810kimg.safetensors"},
        transfer_kimg=300.0, finetune_kimg=40.0, replicate_seeds=(1,),
        inpaint_steps=150, projection_steps=200, projection_images=16,
    ),
    "gpu": Preset(
        "gpu", "one GPU, bigger procedural runs (or any image folder)",
        train=dict(resolution=64, grid=(4, 4), z_dim=256, w_dim=256, mapping_layers=8, channel_base=8192,
                   channel_max=256, batch_size=32, kimg=3000, dataset_length=50000, snapshot_kimg=250,
                   sample_kimg=100, ema_kimg=10),
        eval=dict(n_fd=10000, n_ppl=10000, n_distortion=10000, batch_size=128),
        transfer_kimg=1000, finetune_kimg=1000,
    ),
    "paper": Preset(
        "paper", "256×256 FFHQ / LSUN churches, transfer from StyleGAN2 (§3.4, §4)",
        train=dict(resolution=256, grid=(4, 4), z_dim=512, w_dim=512, mapping_layers=8, channel_base=16384,
                   channel_max=512, batch_size=32, kimg=1000, snapshot_kimg=50, sample_kimg=50, ema_kimg=10,
                   lambda_d_scale="eq2", eq15_scale="eq15"),  # the paper's λD and eq. 15 weights, as written
        eval=dict(n_fd=50000, n_ppl=100000, n_distortion=10000, batch_size=64),
        finetune_kimg=1000, pretrained=True, metrics=("fid", "ppl"),
    ),
}


def get_preset(name: str | None = None) -> Preset:
    """The named preset; with no name, `$SSNLIB_PRESET` or the default `cpu`."""
    name = name or os.environ.get(PRESET_ENV) or DEFAULT_PRESET
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
