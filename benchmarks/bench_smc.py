"""Benchmark: fast (window-sum) vs naive (second convolution) eq. 14 normalizer, and SSN vs
StyleGAN2 generator forward+backward. Prints figures for the machine it runs on.

    python benchmarks/bench_smc.py [--device cuda] [--batch 4] [--resolution 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from ssnlib import SSNGenerator, StyleGAN2Generator
from ssnlib.layers import expected_sigma_sq


def naive_sigma_sq(weight: torch.Tensor, style_map: torch.Tensor) -> torch.Tensor:
    k = weight.shape[-1]
    return F.conv2d(style_map.square(), weight.square(), padding=k // 2).mean((2, 3))


def timed(fn, device: str, repeats: int, warmup: bool = True) -> float:
    """Median wall time of `fn()` over `repeats` runs (after one warm-up run if `warmup`)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def bench_normalizer(device: str, batch: int, repeats: int) -> None:
    print(f"\n## eq. 14 normalizer, 512 → 512 channels, 3×3, batch {batch}")
    print("| resolution | naive (ms) | fast (ms) | speed-up | max rel. diff |")
    print("|---|---|---|---|---|")
    weight = torch.randn(512, 512, 3, 3, device=device) / 48
    for res in (64, 256):
        style = torch.randn(batch, 512, res, res, device=device) + 1
        with torch.no_grad():
            t_naive = timed(lambda: naive_sigma_sq(weight, style), device, repeats)
            t_fast = timed(lambda: expected_sigma_sq(weight, style, "zero_padded"), device, repeats)
            ref, fast = naive_sigma_sq(weight, style), expected_sigma_sq(weight, style, "zero_padded")
        rel = ((fast - ref).abs() / ref.abs()).max().item()
        print(f"| {res} | {t_naive * 1e3:.1f} | {t_fast * 1e3:.2f} | {t_naive / t_fast:.0f}× | {rel:.1e} |")


def bench_generators(device: str, batch: int, resolution: int, repeats: int) -> None:
    """Forward + backward of each generator; repeats interleave the models so that a busy machine
    slows them alike, and the median is reported."""
    print(f"\n## generator forward + backward, {resolution}×{resolution}, batch {batch}, channel_base 16384")
    print("| generator | median time (s) | ratio to StyleGAN2 |")
    print("|---|---|---|")
    models = {"StyleGAN2": StyleGAN2Generator(resolution),
              "SSN 4×4 (smc, interior)": SSNGenerator(resolution, grid=(4, 4)),
              "SSN 8×8 (smc, zero_padded border)": SSNGenerator(resolution, grid=(8, 8), border="zero_padded")}
    steps = {}
    for name, G in models.items():
        G = G.to(device)
        z = G.sample_z(batch, torch.Generator().manual_seed(0), device=device)

        def step(G=G, z=z):
            G.zero_grad(set_to_none=True)
            G(z, noise_mode="random").square().mean().backward()

        step()  # warm-up
        steps[name] = step
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(timed(step, device, 1, warmup=False))
    base = sorted(times["StyleGAN2"])[repeats // 2]
    for name, values in times.items():
        median = sorted(values)[repeats // 2]
        print(f"| {name} | {median:.3f} | {median / base:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--normalizer-batch", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-normalizer", action="store_true")
    args = parser.parse_args()
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    print(f"# ssnlib benchmark — torch {torch.__version__}, {args.device} ({device_name}), "
          f"{torch.get_num_threads()} threads")
    if not args.skip_normalizer:
        bench_normalizer(args.device, args.normalizer_batch, args.repeats)
    bench_generators(args.device, args.batch, args.resolution, args.repeats)


if __name__ == "__main__":
    main()
