"""Train the next `cpu` zoo (issue #14) while the preset still names the shipped one.

The `cpu` preset can only switch to the long-trained bases once every model of its plan is trained
and shipped (`tests/test_runs.py` checks that none would be retrained). Until then this script
stages the switch in its own process — `NEXT` on top of `PRESETS["cpu"]` — so every run it trains
lands in `runs/cpu/<name>-<key>/` under exactly the key the switched preset will give it; the
switch itself is then a one-line change of `presets.py` followed by `make ship`.

    python benchmarks/next_zoo.py status                  # each model of the staged plan: done / to train
    python benchmarks/next_zoo.py adopt faces models/cpu/training/ssn-faces-s0
                                                          # a long run trained by hand as the staged SSN base
    python benchmarks/next_zoo.py curve 100 --kimg 80     # the λD = 100 fine-tune, measured every 5 kimg
    python benchmarks/next_zoo.py finish 100 --at 40      # the zoo's fine-tune from the curve's 40-kimg checkpoint
    python benchmarks/next_zoo.py train ssn4x4-faces-ld10 ssn4x4-faces-eq15w2 … [--quality-kimg 10]
    python benchmarks/next_zoo.py save                    # a stopping session: the staged runs' state into
    git add -f models/cpu/training/staged                 #   models/cpu/training/staged/ (replaced, not added)
    python benchmarks/next_zoo.py restore                 # the next session: back into runs/cpu/, bases adopted

A fine-tune's length only bounds the loop (no schedule depends on it), so the curve run's
checkpoint at L kimg *is* the L-kimg fine-tune: `finish` resumes the zoo's run from it, which
ends at once and writes the generator with the zoo's own config.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil
from pathlib import Path

from ssnlib.paper import presets
from ssnlib.paper.runs import (
    config_key,
    default_models_root,
    default_runs_root,
    ensure_run,
    find_generator,
    run_directory,
)
from ssnlib.paper.zoo import ModelZoo, planned_zoo, zoo_plan
from ssnlib.train import CHECKPOINT_DIR, FINAL_GENERATOR, TrainConfig, latest_checkpoint

NEXT = dict(bases={"faces": "models/cpu/bases/stylegan2-faces-915kimg.safetensors",
                   "churches": "models/cpu/bases/stylegan2-churches-810kimg.safetensors"},
            transfer_kimg=300.0, finetune_kimg=40.0, replicate_seeds=(1,))
CURVE_EVERY_KIMG = 5.0
TRAINING = default_models_root() / "cpu" / "training"  # long runs' committed state
ADOPTED = {"faces": TRAINING / "ssn-faces-s0"}  # staged bases trained by hand (`adopt`)
STAGED = TRAINING / "staged"  # what a stopping session commits of the staged runs
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


def status() -> None:
    for label, (config, name, _) in staged_models().items():
        final = run_directory(config, name) / FINAL_GENERATOR
        partial = latest_checkpoint(final.parent)
        state = "done" if final.is_file() else f"partial ({partial.name})" if partial else "to train"
        print(f"{label:32s} {config.kimg:6g} kimg  {final.parent.name:40s} {state}")


def staged_base(dataset: str) -> tuple[TrainConfig, str]:
    """(config, name) of the staged SSN transfer of `dataset`, the base of its fine-tunes."""
    config, name, _ = ModelZoo("cpu", dataset, use_shipped=False).ssn_config()
    return config, name


def adopt(dataset: str, run: Path) -> None:
    """Copy a finished long run in as the staged SSN base of `dataset` (its config must match)."""
    config, name = staged_base(dataset)
    stored = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    if config_key(stored) != config_key(config):
        raise ValueError(f"{run} has key {config_key(stored)}, the staged {name} {config_key(config)}: "
                         "not the same run")
    target = run_directory(config, name)
    if target.exists():
        raise FileExistsError(f"{target} exists")
    shutil.copytree(run, target)
    print(target)


def save() -> None:
    """Each staged run's state into `STAGED/<run directory>/`, replacing what a previous session saved:
    its config and logs, its generator once finished, and its latest checkpoint while unfinished or
    while another staged run starts from it (a fine-tune needs its base's D). Adopted bases are not
    copied: `restore` adopts them again."""
    models = staged_models()
    bases = {run_directory(*base[:2]) for _, _, run_bases in models.values() for base in run_bases}
    adopted = {run_directory(*staged_base(dataset)) for dataset in ADOPTED}
    shutil.rmtree(STAGED, ignore_errors=True)
    for config, name, _ in models.values():
        run = run_directory(config, name)
        if not run.is_dir() or run in adopted:
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
    for dataset, source in ADOPTED.items():
        if not run_directory(*staged_base(dataset)).exists():
            adopt(dataset, source)
    for saved in sorted(STAGED.glob("*/")) if STAGED.is_dir() else []:
        target = default_runs_root() / "cpu" / saved.name
        if target.exists():
            raise FileExistsError(f"{target} exists: restore is for a fresh checkout")
        shutil.copytree(saved, target)
        print(target)


def fine_tune(lambda_d: float, dataset: str) -> tuple[TrainConfig, str]:
    config, name, _ = ModelZoo("cpu", dataset, use_shipped=False).ssn_config(lambda_d=lambda_d, finetuned=True)
    return config, name


def curve_directory(lambda_d: float, dataset: str, kimg: float) -> tuple[TrainConfig, str, Path]:
    config, name = fine_tune(lambda_d, dataset)
    config = dataclasses.replace(config, kimg=float(kimg), quality_kimg=CURVE_EVERY_KIMG,
                                 snapshot_kimg=CURVE_EVERY_KIMG, keep_checkpoints=1000)
    name = f"{name}-curve"
    return config, name, run_directory(config, name, default_runs_root() / "experiments")


def curve(lambda_d: float, dataset: str, kimg: float) -> None:
    config, name, _ = curve_directory(lambda_d, dataset, kimg)
    print(ensure_run(config, name, root=default_runs_root() / "experiments", use_shipped=False))


def finish(lambda_d: float, dataset: str, kimg: float, at: float) -> None:
    config, name = fine_tune(lambda_d, dataset)
    if float(at) != config.kimg:
        raise ValueError(f"NEXT['finetune_kimg'] is {config.kimg}: set it to {at} first")
    _, _, source = curve_directory(lambda_d, dataset, kimg)
    steps = int(round(at * 1000)) // config.batch_size
    checkpoint = source / CHECKPOINT_DIR / f"ckpt-{steps:08d}.safetensors"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} does not exist (the curve run keeps one every "
                                f"{CURVE_EVERY_KIMG:g} kimg)")
    target = run_directory(config, name)
    if find_generator(config, name, use_shipped=False) is None:
        (target / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy2(checkpoint, target / CHECKPOINT_DIR / checkpoint.name)
        for log in ("metrics.csv", "quality.csv"):  # the curve's rows up to the fine-tune's length
            with open(source / log) as f:
                rows = list(csv.reader(f))
            with open(target / log, "w", newline="") as f:
                csv.writer(f).writerows(rows[:1] + [r for r in rows[1:] if int(float(r[0])) <= steps])
    print(ensure_run(config, name, use_shipped=False))


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
    for command in ("status", "save", "restore"):
        commands.add_parser(command)
    p = commands.add_parser("adopt")
    p.add_argument("dataset")
    p.add_argument("run", type=Path)
    for command in ("curve", "finish"):
        p = commands.add_parser(command)
        p.add_argument("lambda_d", type=float)
        p.add_argument("--dataset", default="faces")
        p.add_argument("--kimg", type=float, default=80.0, help="the curve run's length")
        if command == "finish":
            p.add_argument("--at", type=float, required=True, help="the fine-tune length read off the curves")
    p = commands.add_parser("train")
    p.add_argument("names", nargs="+")
    p.add_argument("--quality-kimg", type=float, help="log FD-proc (and distortion) every this many kimg")
    args = parser.parse_args()
    stage()
    if args.command == "status":
        status()
    elif args.command == "save":
        save()
    elif args.command == "restore":
        restore()
    elif args.command == "adopt":
        adopt(args.dataset, args.run)
    elif args.command == "curve":
        curve(args.lambda_d, args.dataset, args.kimg)
    elif args.command == "finish":
        finish(args.lambda_d, args.dataset, args.kimg, args.at)
    else:
        train(args.names, args.quality_kimg)


if __name__ == "__main__":
    main()
