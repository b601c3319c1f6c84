"""Recipe study (issue #14): train one arm of the `cpu`-preset StyleGAN2 recipe comparison, or
resume it where it stopped, logging FD-proc and precision / recall every 10 kimg (`quality.csv`).

    OMP_NUM_THREADS=1 python benchmarks/recipe_study.py ARM --kimg 300 [--dataset faces] [--seed 0]

Arms (each differs from `today` only in the flags listed):
  today    the `cpu` preset's StyleGAN2 schedule (batch 16, lr 0.002, 4-layer mapping, path length,
           style mixing 0.9, EMA half-life 2.5 kimg)
  cifar    StyleGAN2-ADA's 32² "cifar" settings: batch 64, lr 0.0025, 2-layer mapping, no path
           length, no style mixing, EMA half-life 500 kimg ramped at 0.05 × kimg seen, minibatch-std
           group 32, R1 γ 0.01
  wide     `today` with twice the channels at every resolution (channel_base 2048, channel_max
           128): 3.9× the FLOPs per image, compare at equal wall time
  narrow   `today` with half the channels at every resolution (channel_base 512, channel_max 32)
  batch32  `today` at batch 32
  batch64  `today` at batch 64

The run folder is models/cpu/training/<arm>-<dataset>-s<seed>; an existing one is resumed (exact
resume), so a session can stop the study anywhere and the next one continues it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ARMS: dict[str, list[str]] = {
    "today": [],
    "cifar": ["--batch-size", "64", "--lr", "0.0025", "--mapping-layers", "2", "--pl-weight", "0",
              "--style-mixing", "0", "--ema-kimg", "500", "--ema-rampup", "0.05", "--mbstd-group", "32",
              "--r1-gamma", "0.01"],
    "wide": ["--channel-base", "2048", "--channel-max", "128"],
    "narrow": ["--channel-base", "512", "--channel-max", "32"],
    "batch32": ["--batch-size", "32"],
    "batch64": ["--batch-size", "64"],
}
RUN_NAMES = {"today": "stylegan2"}  # the `today` arm's runs predate the study and keep their names


def run_dir(arm: str, dataset: str, seed: int) -> Path:
    return Path("models/cpu/training") / f"{RUN_NAMES.get(arm, arm)}-{dataset}-s{seed}"


def command(arm: str, dataset: str, seed: int, kimg: float) -> list[str]:
    out = run_dir(arm, dataset, seed)
    common = ["--out", str(out), "--kimg", str(kimg), "--keep-checkpoints", "1"]
    if (out / "checkpoints").is_dir():
        return [sys.executable, "-m", "ssnlib", "train", "--resume", str(out), *common]
    return [sys.executable, "-m", "ssnlib", "train", "--preset", "cpu", "--model", "stylegan2",
            "--dataset", dataset, "--seed", str(seed), "--quality-kimg", "10", *ARMS[arm], *common]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arm", choices=sorted(ARMS))
    parser.add_argument("--kimg", type=float, required=True, help="train until this many kimg in total")
    parser.add_argument("--dataset", default="faces", choices=["faces", "churches"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cmd = command(args.arm, args.dataset, args.seed, args.kimg)
    out = run_dir(args.arm, args.dataset, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    print(" ".join(cmd), flush=True)
    with open(out / "train.log", "a") as log:
        raise SystemExit(subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}))


if __name__ == "__main__":
    main()
