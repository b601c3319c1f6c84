"""Train the next `cpu` zoo (issue #14) while the preset still names the shipped one.

The `cpu` preset can only switch to the wide faces base once every model of its plan is trained
and shipped (`tests/test_runs.py` checks that none would be retrained). Until then this script
stages the switch in its own process — `NEXT` on top of `PRESETS["cpu"]` — so every run it trains
lands in `runs/cpu/<name>-<key>/` under exactly the key the switched preset will give it; the
switch itself is then the same change in `presets.py` followed by `make ship`. Models whose key
the switch leaves alone (churches) are the shipped ones and are not trained again.

    python benchmarks/next_zoo.py status        # each model of the staged plan: shipped / done / partial / to train
    python benchmarks/next_zoo.py adopt         # the finished long SSN transfers (ADOPTED) as the staged SSN bases
    python benchmarks/next_zoo.py train ssn4x4-faces-ft ssn4x4-faces-ld100 … [--quality-kimg 10]
    python benchmarks/next_zoo.py save          # a stopping session: the staged runs' state into
    git add -f models/cpu/training/next-zoo     #   models/cpu/training/next-zoo/ (replaced, not added)
    python benchmarks/next_zoo.py restore       # the next session: back into runs/cpu/, bases adopted
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil

from ssnlib.io.serialization import load_metadata
from ssnlib.paper import presets
from ssnlib.paper.runs import (
    config_key,
    default_models_root,
    default_runs_root,
    ensure_run,
    run_directory,
    shipped_generator,
)
from ssnlib.paper.zoo import planned_zoo, zoo_plan
from ssnlib.train import FINAL_GENERATOR, TrainConfig, latest_checkpoint

TRAINING = default_models_root() / "cpu" / "training"  # long runs' committed state
NEXT = dict(bases={"faces": "models/cpu/training/wide-faces-s0/stylegan2-faces-wide-690kimg.safetensors",
                   "churches": "models/cpu/bases/stylegan2-churches-810kimg.safetensors"},
            dataset_train={"faces": dict(channel_base=2048, channel_max=128)},
            # the wide SSN transfers' FD-proc still fell at 240 kimg (s0 126–158, s1 87–123 over
            # 200–240): resumed to 600, their length to be set to where they stop improving
            dataset_transfer_kimg={"faces": 600.0})
# (dataset, replicate seed) → the long SSN transfer trained by hand (`make long-runs`) that is the
# staged SSN base of that dataset and seed
ADOPTED = {("faces", None): TRAINING / "ssnwide-faces-s0", ("faces", 1): TRAINING / "ssnwide-faces-s1"}
STAGED = TRAINING / "next-zoo"  # what a stopping session commits of the staged runs
RUN_LOGS = ("config.json", "dataset.json", "metrics.csv", "quality.csv")


def stage() -> None:
    """`NEXT` on top of the `cpu` preset, in this process."""
    presets.PRESETS["cpu"] = dataclasses.replace(presets.PRESETS["cpu"], **NEXT)


def staged_models() -> dict[str, tuple[TrainConfig, str, tuple]]:
    """registry name → (config, name, bases) of every run the staged plan trains (replicates included)."""
    models = {}
    for dataset, model, variant, _, seed in zoo_plan("cpu"):
        zoo = planned_zoo("cpu", dataset, seed, use_shipped=False)
        if model == "stylegan2":
            if not zoo.stylegan2_checkpoint:  # a shipped base is not a run
                config, name = zoo.stylegan2_config()
                models[name] = (config, name, ())
            continue
        config, name, bases = zoo.ssn_config(**variant)
        models[name] = (config, name, bases)
    return models


def state(config: TrainConfig, name: str) -> str:
    if shipped_generator(config, name) is not None:
        return "shipped"
    run = run_directory(config, name)
    partial = latest_checkpoint(run)
    return "done" if (run / FINAL_GENERATOR).is_file() else f"partial ({partial.name})" if partial else "to train"


def status() -> None:
    for label, (config, name, _) in staged_models().items():
        print(f"{label:28s} {config.kimg:6g} kimg  {run_directory(config, name).name:40s} {state(config, name)}")


def staged_base(dataset: str, seed: int | None) -> tuple[TrainConfig, str]:
    """(config, name) of the staged SSN transfer of `dataset`, the base of its fine-tunes."""
    config, name, _ = planned_zoo("cpu", dataset, seed, use_shipped=False).ssn_config()
    return config, name


def adopt() -> None:
    """Copy each finished long run of `ADOPTED` in as its staged SSN base (its config must match)."""
    for (dataset, seed), run in ADOPTED.items():
        config, name = staged_base(dataset, seed)
        target = run_directory(config, name)
        if target.exists():
            continue
        stored = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
        if config_key(stored) != config_key(config):
            raise ValueError(f"{run} has key {config_key(stored)}, the staged {name} {config_key(config)}: "
                             "not the same run")
        final = run / FINAL_GENERATOR
        if not final.is_file() or config_key(TrainConfig.from_dict(load_metadata(final)["train_config"])) != \
                config_key(config):
            raise FileNotFoundError(f"{run} has not finished at {config.kimg:g} kimg (no {FINAL_GENERATOR} of that "
                                    "length): `make long-runs`")
        shutil.copytree(run, target, ignore=shutil.ignore_patterns("samples", "train.log"))
        print(target)


def save() -> None:
    """Each staged run's state into `STAGED/<run directory>/`, replacing what a previous session saved:
    its config and logs, its generator once finished, and its latest checkpoint while unfinished or
    while another staged run starts from it (a fine-tune needs its base's D). Adopted bases and
    shipped models are not copied."""
    models = staged_models()
    bases = {run_directory(*base[:2]) for _, _, run_bases in models.values() for base in run_bases}
    adopted = {run_directory(*staged_base(*key)) for key in ADOPTED}
    shutil.rmtree(STAGED, ignore_errors=True)
    for config, name, _ in models.values():
        run = run_directory(config, name)
        if not run.is_dir() or run in adopted or state(config, name) == "shipped":
            continue
        final, checkpoint = run / FINAL_GENERATOR, latest_checkpoint(run)
        if not final.is_file() and checkpoint is None:  # started since its last snapshot: nothing to resume
            continue
        files = [run / log for log in RUN_LOGS if (run / log).is_file()]
        if final.is_file():
            files.append(final)
        if checkpoint is not None and (not final.is_file() or run in bases):
            files.append(checkpoint)
        for file in files:
            target = STAGED / file.relative_to(run.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
        print(f"{run.name:40s} {'done' if final.is_file() else checkpoint.name}")


def restore() -> None:
    """The inverse of `save`, into a fresh checkout: adopt the hand-trained bases, copy the rest back."""
    adopt()
    for saved in sorted(STAGED.glob("*/")) if STAGED.is_dir() else []:
        target = default_runs_root() / "cpu" / saved.name
        if target.exists():
            raise FileExistsError(f"{target} exists: restore is for a fresh checkout")
        shutil.copytree(saved, target)
        print(target)


def train(names: list[str], quality_kimg: float | None) -> None:
    """Train (or resume) the named runs of the staged plan, their bases first, keeping one checkpoint
    each (the file a stopping session commits); `quality_kimg` logs quality.csv (not part of the key)."""
    models = staged_models()
    unknown = [n for n in names if n not in models]
    if unknown:
        raise ValueError(f"not in the staged plan: {', '.join(unknown)} (see `status`)")
    for label in names:
        config, name, bases = models[label]
        for base in bases:
            ensure_run(*base, use_shipped=False)
        config = dataclasses.replace(config, keep_checkpoints=1, quality_kimg=quality_kimg)
        print(ensure_run(config, name, use_shipped=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("status", "adopt", "save", "restore"):
        commands.add_parser(command)
    p = commands.add_parser("train")
    p.add_argument("names", nargs="+")
    p.add_argument("--quality-kimg", type=float, help="log FD-proc (and distortion) every this many kimg")
    args = parser.parse_args()
    stage()
    {"status": status, "adopt": adopt, "save": save, "restore": restore}.get(
        args.command, lambda: train(args.names, args.quality_kimg))()


if __name__ == "__main__":
    main()
