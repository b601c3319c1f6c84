"""Quality guard for the fast training default: does bf16 autocast + channels-last train as well as
float32 eager? Trains the cpu preset's StyleGAN2 on faces for `--kimg` at both settings and two
seeds (four runs, `--jobs` at a time, one thread each), measures FD-proc of G_ema along the way
(quality.csv) and prints FD-proc at the end beside the seed-to-seed spread.

    python benchmarks/speed_quality_guard.py [--kimg 50] [--jobs 2] [--out runs/speed-guard]

Runs that exist are resumed, so an interrupted guard picks up where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SETTINGS = {"fp32-eager": ["--amp", "none", "--no-channels-last"],
            "bf16-channels-last": ["--amp", "bf16", "--channels-last"]}
SEEDS = (0, 1)


def train(out: Path, setting: str, seed: int, kimg: float, quality_kimg: float) -> float:
    run = out / f"{setting}-s{seed}"
    if (run / "checkpoints").is_dir() and any((run / "checkpoints").iterdir()):
        args = ["--resume", str(run), "--kimg", str(kimg)]
    else:
        args = ["--preset", "cpu", "--model", "stylegan2", "--dataset", "faces", "--seed", str(seed),
                "--kimg", str(kimg), "--quality-kimg", str(quality_kimg), "--out", str(run), *SETTINGS[setting]]
    start = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(out / f"{setting}-s{seed}.log", "a") as log:
        subprocess.run([sys.executable, "-m", "ssnlib", "train", *args], env=env, stdout=log, stderr=log,
                       check=True)
    return time.perf_counter() - start


def last_quality(run: Path) -> dict[str, float]:
    with open(run / "quality.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for k, v in rows[-1].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kimg", type=float, default=50.0)
    parser.add_argument("--quality-kimg", type=float, default=10.0, help="FD-proc every this many kimg")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/speed-guard"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(setting, seed) for seed in SEEDS for setting in SETTINGS]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda job: train(args.out, *job, args.kimg, args.quality_kimg), jobs))

    print(f"| setting | seed | FD-proc at {args.kimg:g} kimg | training hours (1 thread) |")
    print("|---|---|---|---|")
    means = {}
    for setting in SETTINGS:
        values = []
        for seed in SEEDS:
            q = last_quality(args.out / f"{setting}-s{seed}")
            values.append(q["fd_proc"])
            print(f"| {setting} | {seed} | {q['fd_proc']:.1f} ± {q['fd_proc_se']:.1f} | {q['train_hours']:.2f} |")
        means[setting] = values
    spread = max(abs(v[0] - v[1]) for v in means.values())
    fast, slow = (sum(means[s]) / 2 for s in ("bf16-channels-last", "fp32-eager"))
    print(f"\nmean FD-proc: bf16-channels-last {fast:.1f}, fp32-eager {slow:.1f}; difference {fast - slow:+.1f}; "
          f"largest seed-to-seed difference {spread:.1f} → "
          f"{'inside' if abs(fast - slow) <= spread else 'OUTSIDE'} the seed spread")


if __name__ == "__main__":
    main()
