"""Benchmark: img/s of whole training iterations at the `cpu` preset, every speed setting side by side.

One iteration is what `python -m ssnlib train` runs: G main, path length every 4 steps, D main,
R1 every 16 steps, the EMA update and the next real batch. Each measurement runs in a fresh
subprocess (its own allocator, its own thread count); the settings are interleaved repeat by
repeat so that a machine whose speed drifts slows them alike, and the median is printed with the
range. The achieved GFLOP/s (FLOPs of one iteration counted by `torch.utils.flop_counter`) is set
against the peak of a 3×3 convolution forward + backward measured in the same run.

    python benchmarks/bench_train.py [--threads 1] [--repeats 3] [--steps 48]
                                     [--models ssn stylegan2 ssn-ld100 stylegan2-wide …]
                                     [--baseline PATH]  # also time another checkout (e.g. a git worktree
                                                        # of an older commit) with its own default settings
                                     [--profile]  # then where the time goes: torch.profiler's self
                                                  # CPU time by kind of op, per setting and model
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Each setting: TrainConfig overrides on top of the `cpu` preset (which already holds its default).
SETTINGS = {
    "fp32 eager (NCHW)": dict(amp="none", channels_last=False),
    "fp32, channels-last": dict(amp="none", channels_last=True),
    "bf16 autocast (NCHW)": dict(amp="bf16", channels_last=False),
    "bf16 autocast, channels-last": dict(amp="bf16", channels_last=True),
}
BASELINE = "baseline checkout (its cpu preset)"
# Each model: TrainConfig overrides naming what is trained — the λD = 0 SSN and StyleGAN2 of Table 1,
# and the λD = 100 fine-tune of Table 2 (one distortion pass per step: eq. 2's extra generator pass).
# `stylegan2-<arm>` are `benchmarks/recipe_study.py`'s arms, whose cost per kimg decides what
# "equal wall time" means there.
MODELS = {"ssn": dict(model="ssn"), "stylegan2": dict(model="stylegan2"),
          "ssn-ld100": dict(model="ssn", lambda_d=100.0),
          "stylegan2-wide": dict(model="stylegan2", channel_base=2048, channel_max=128),
          "ssn-wide": dict(model="ssn", channel_base=2048, channel_max=128),
          "ssn-wide-ld100": dict(model="ssn", lambda_d=100.0, channel_base=2048, channel_max=128),
          "stylegan2-narrow": dict(model="stylegan2", channel_base=512, channel_max=32),
          "stylegan2-batch32": dict(model="stylegan2", batch_size=32),
          "stylegan2-batch64": dict(model="stylegan2", batch_size=64),
          "stylegan2-cifar": dict(model="stylegan2", batch_size=64, lr=0.0025, mapping_layers=2, pl_weight=0.0,
                                  style_mixing=0.0, ema_kimg=500.0, ema_rampup=0.05, mbstd_group=32,
                                  r1_gamma=0.01)}


def FlopCounter():
    """A dispatch mode summing `torch.utils.flop_counter`'s per-op formulas (convolutions, matmuls and
    their backward passes), without FlopCounterMode's module tracking (which double backward trips)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Counter.total += formula(*args, **(kwargs or {}), out_val=out)
            return out

    return Counter()


# Where the profile's self CPU time goes: the first kind whose pattern an op name contains.
OP_KINDS = [
    ("convolution", ("conv",)),
    ("matrix products (mapping, styles)", ("addmm", "::mm", "bmm", "linear", "matmul")),
    ("casts and copies", ("_to_copy", "copy_", "::to", "contiguous", "clone", "empty_like", "cat", "stack")),
    ("reductions", ("sum", "mean", "norm", "rsqrt", "var", "std")),
    ("elementwise", ("mul", "add", "sub", "div", "leaky_relu", "relu", "pow", "sqrt", "exp", "neg", "where",
                     "lerp", "fill", "zero", "softplus", "sigmoid", "threshold")),
]


def op_kind(name: str) -> str:
    return next((kind for kind, patterns in OP_KINDS if any(p in name for p in patterns)), "other ops")


def worker(spec: dict) -> dict:
    """Runs inside the subprocess: build the cpu-preset trainer, warm up, time `steps` iterations."""
    import torch

    torch.set_num_threads(spec["threads"])
    from ssnlib.train import Dist, Trainer, open_training_data, real_batches

    settings = dict(**MODELS[spec["model"]], out=os.devnull, dataset_length=512, **spec["overrides"])
    try:
        from ssnlib.paper.presets import PRESETS
        config = PRESETS["cpu"].train_config(**settings)
    except ImportError:  # a --baseline checkout from before the library / paper split
        from ssnlib.train import TrainConfig
        config = TrainConfig.from_preset("cpu", **settings)
    trainer = Trainer(config, Dist())
    reals = real_batches(open_training_data(config), config, 0, trainer.batch, 0)
    result = {}
    if spec.get("count_flops"):
        counter = FlopCounter()
        with counter:  # 16 steps: the lazy regularizers at their natural rate
            for _ in range(16):
                trainer.train_step(next(reals))
        result["flop_per_image"] = counter.total / (16 * config.batch_size)
    for _ in range(spec["warmup"]):
        trainer.train_step(next(reals))
    profiler = None
    if spec.get("profile"):  # the timed iterations run under torch.profiler (which slows them ~10 %)
        from torch.profiler import ProfilerActivity, profile

        profiler = profile(activities=[ProfilerActivity.CPU])
    with profiler or contextlib.nullcontext():
        start = time.perf_counter()
        for _ in range(spec["steps"]):
            trainer.train_step(next(reals))
        seconds = time.perf_counter() - start
    result["img_per_s"] = spec["steps"] * config.batch_size / seconds
    if profiler is not None:  # self CPU ms per iteration, by op
        result["profile_ms"] = {e.key: e.self_cpu_time_total / 1000 / spec["steps"] for e in profiler.key_averages()}
        result["profiled_ms"] = 1000 * seconds / spec["steps"]
    return result


def conv_peak(threads: int, repeats: int = 20) -> dict[str, float]:
    """GFLOP/s of a 3×3 conv forward + backward (batch 16, 64 → 64 channels, 16×16), the cpu
    preset's commonest layer, in float32 and in bfloat16, channels-last."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    flop = 3 * 2 * 16 * 64 * 64 * 9 * 16 * 16  # forward, grad input, grad weight
    peaks = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(16, 64, 16, 16, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
        w = torch.randn(64, 64, 3, 3, dtype=dtype).contiguous(memory_format=torch.channels_last).requires_grad_()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            F.conv2d(x, w, padding=1).sum().backward()
            best = min(best, time.perf_counter() - start)
        peaks[str(dtype).removeprefix("torch.")] = flop / best / 1e9
    return peaks


def run_worker(spec: dict, source: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source), "OMP_NUM_THREADS": str(spec["threads"])}
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env, cwd=source,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker failed ({spec}):\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per setting (default 3)")
    parser.add_argument("--steps", type=int, default=48, help="timed iterations per run (default 48)")
    parser.add_argument("--warmup", type=int, default=16, help="untimed iterations first (default 16)")
    parser.add_argument("--models", nargs="+", default=["ssn", "stylegan2"], choices=list(MODELS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS),
                        metavar="SETTING", help=f"which of: {'; '.join(SETTINGS)}")
    parser.add_argument("--baseline", type=Path, help="another checkout of ssnlib to time beside this one")
    parser.add_argument("--profile", action="store_true",
                        help="after the timings, profile each setting and model once: self CPU time by kind of op")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.baseline is not None and not (args.baseline / "ssnlib" / "train.py").is_file():
        parser.error(f"--baseline {args.baseline}: not an ssnlib checkout (no ssnlib/train.py)")

    runs = [(name, REPO, SETTINGS[name]) for name in args.settings]
    if args.baseline is not None:
        runs.insert(0, (BASELINE, args.baseline.resolve(), {}))
    import torch

    from ssnlib.train import resolve_amp

    fast_bf16 = resolve_amp("auto", torch.device("cpu")) == "bf16"
    print(f"# bench_train: {platform.processor() or platform.machine()}, {args.threads} thread(s), "
          f"fast bf16 (AVX512-BF16/AMX): {'yes' if fast_bf16 else 'no'}, "
          f"cpu preset, {args.steps} timed iterations × {args.repeats} interleaved repeats")
    flops = {m: run_worker(dict(model=m, overrides=dict(amp="none"), threads=args.threads, warmup=0, steps=1,
                                count_flops=True), REPO)["flop_per_image"] for m in args.models}
    peaks = conv_peak(args.threads)
    rates: dict[tuple[str, str], list[float]] = {}
    for repeat in range(args.repeats):
        for name, source, overrides in runs:
            for model in args.models:
                spec = dict(model=model, overrides=overrides, threads=args.threads, warmup=args.warmup,
                            steps=args.steps)
                rate = run_worker(spec, source)["img_per_s"]
                rates.setdefault((name, model), []).append(rate)
                print(f"  repeat {repeat + 1}: {name:32s} {model:10s} {rate:6.1f} img/s", file=sys.stderr)

    print(f"\n3×3 conv fwd+bwd peak (batch 16, 64 ch, 16²): float32 {peaks['float32']:.0f} GFLOP/s, "
          f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
    print("FLOPs per training image (G and D, all phases): "
          + ", ".join(f"{m} {flops[m] / 1e9:.2f} GFLOP" for m in args.models))
    reference = runs[0][0]
    fast_dtype = max(peaks, key=peaks.get)  # bfloat16 only where the CPU has it (AVX512-BF16, AMX)
    print(f"\n| setting | model | img/s (median, range) | × {reference} | GFLOP/s | % of {fast_dtype} conv peak |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in runs:
        for model in args.models:
            values = rates[(name, model)]
            median = statistics.median(values)
            speedup = median / statistics.median(rates[(reference, model)])
            achieved = median * flops[model] / 1e9
            print(f"| {name} | {model} | {median:.1f} ({min(values):.1f}–{max(values):.1f}) | {speedup:.2f} | "
                  f"{achieved:.0f} | {100 * achieved / peaks[fast_dtype]:.0f}% |")
    if args.profile:
        print_profiles(runs, args)


def print_profiles(runs: list, args: argparse.Namespace) -> None:
    """Self CPU time per iteration by kind of op (`OP_KINDS`), one column per setting and model,
    then the ops that take the most time in the last of them."""
    columns = []
    for name, source, overrides in runs:
        for model in args.models:
            spec = dict(model=model, overrides=overrides, threads=args.threads, warmup=args.warmup,
                        steps=args.steps, profile=True)
            columns.append((f"{name} · {model}", run_worker(spec, source)))
    kinds = [kind for kind, _ in OP_KINDS] + ["other ops"]
    print(f"\nProfile (torch.profiler, {args.steps} iterations after {args.warmup} of warm-up): self CPU ms per "
          "iteration, and its share of the profiled iteration")
    print("| kind of op | " + " | ".join(title for title, _ in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for kind in kinds:
        cells = []
        for _, result in columns:
            ms = sum(v for k, v in result["profile_ms"].items() if op_kind(k) == kind)
            cells.append(f"{ms:.1f} ({100 * ms / result['profiled_ms']:.0f}%)")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print("| iteration, profiled (wall) | " + " | ".join(f"{r['profiled_ms']:.1f}" for _, r in columns) + " |")
    title, result = columns[-1]
    top = sorted(result["profile_ms"].items(), key=lambda item: -item[1])[:12]
    print(f"\nTop ops, {title}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in top))


if __name__ == "__main__":
    main()
