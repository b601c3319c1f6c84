"""Experiment: does the λD fine-tune's effect grow with its length?

Table 2 at the `cpu` preset compares fine-tunes of `finetune_kimg` (40 kimg at `cpu`) from the transferred
SSN base. This trains the same fine-tunes for other lengths (λD = 0 beside each λD, so every
comparison is between equally long runs), then prints FD-proc, distortion, in-block change and
locality for each — the question being whether a weak result is the method or the budget.

    python benchmarks/finetune_length.py [--preset cpu] [--dataset faces] [--lambdas 0 100]
                                         [--kimg 8 24] [--jobs 2] [--curve-kimg 5]

The preset's own length is the zoo's fine-tune (shipped or trained); other lengths go to
`runs/experiments/<preset>/` (not `runs/<preset>/`, so `make ship` never ships them) and need the
zoo's base SSN run (`python -m ssnlib zoo`). Evaluations go through the cache. `--curve-kimg N`
trains every fine-tune as a curve instead — FD-proc, precision / recall and distortion logged to
its `quality.csv` every N kimg, for `training_curves.py` — which is how the preset's 40-kimg
fine-tune length was read off (README, "The fine-tune length").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from ssnlib.evaluate import evaluate_cached
from ssnlib.paper.runs import default_runs_root, ensure_run, run_directory
from ssnlib.paper.tables import eval_settings
from ssnlib.paper.zoo import ModelZoo
from ssnlib.train import latest_checkpoint


def finetune(preset: str, dataset: str, lambda_d: float, kimg: float, threads: int,
             curve_kimg: float | None = None) -> str:
    """The λD fine-tune of the zoo's base SSN, `kimg` long (trained once, then found); with
    `curve_kimg`, a run of its own that logs quality.csv every `curve_kimg` kimg."""
    import torch

    torch.set_num_threads(threads)
    zoo = ModelZoo(preset, dataset)
    config, name, bases = zoo.ssn_config(lambda_d=lambda_d, finetuned=True)
    if float(kimg) == config.kimg and curve_kimg is None:  # the zoo's own fine-tune: the file Table 2 measures
        return str(zoo.ssn_file(lambda_d=lambda_d, finetuned=True))
    base_config, base_name = bases[-1]
    if latest_checkpoint(run_directory(base_config, base_name, zoo.runs_root)) is None:
        raise FileNotFoundError(f"the base run {base_name} is missing under {zoo.runs_root}: "
                                f"run `python -m ssnlib zoo --preset {preset}` first")
    config = dataclasses.replace(config, kimg=float(kimg))
    name = f"{name}-{kimg:g}kimg"
    if curve_kimg is not None:  # quality.csv is bookkeeping, not part of the key: a name of its own
        config = dataclasses.replace(config, quality_kimg=float(curve_kimg))
        name = f"{name}-curve"
    return str(ensure_run(config, name, root=default_runs_root() / "experiments", use_shipped=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--dataset", default="faces")
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 100.0])
    parser.add_argument("--kimg", type=float, nargs="+", default=[40.0, 80.0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--curve-kimg", type=float, default=None,
                        help="train each fine-tune as a curve, measured every this many kimg")
    args = parser.parse_args()

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    runs = [(lam, kimg) for kimg in args.kimg for lam in args.lambdas]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(finetune, args.preset, args.dataset, lam, kimg, threads, args.curve_kimg)
                   for lam, kimg in runs]
        paths = [future.result() for future in futures]

    zoo = ModelZoo(args.preset, args.dataset)
    settings = eval_settings(zoo)
    print(f"preset {args.preset}, {args.dataset}: fine-tunes of the transferred SSN base; "
          f"FD-proc on {settings.n_fd} samples, block metrics on {settings.n_distortion}")
    print(f"{'kimg':>6} {'λD':>6} {'FD-proc':>14} {'distortion':>18} {'in-block':>18} {'locality':>14}")
    for (lam, kimg), path in zip(runs, paths):
        r = evaluate_cached(path, lambda p=path: zoo.load(p), ["fd_proc", "distortion"], settings)
        print(f"{kimg:6g} {lam:6g} {r['fd_proc']:8.1f} ± {r['fd_proc_se']:3.1f} "
              f"{r['distortion']:9.5f} ± {r['distortion_se']:.5f} {r['in_block']:9.5f} ± {r['in_block_se']:.5f} "
              f"{r['locality']:6.3f} ± {r['locality_se']:.3f}")


if __name__ == "__main__":
    main()
