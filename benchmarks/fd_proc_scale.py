"""What an FD-proc value means: the metrics of held-out *real* images after a degradation of known
size, against the same reference set a generator is measured on (issue #14: "is 100 bad, what does
≤ 56 demand?").

    OMP_NUM_THREADS=1 python benchmarks/fd_proc_scale.py [--datasets faces churches] [--n 2000]

Each row degrades the held-out images n … 2n − 1 of the dataset's seed-0 stream (`evaluate_real`)
and prints FD-proc (± its bootstrap SE) and ProcNet precision / recall beside the untouched floor.
`--out results/cpu/fd_proc_scale.md` writes the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ssnlib.evaluate import EvalSettings, evaluate_real

BINOMIAL = torch.tensor([1.0, 2.0, 1.0])


def binomial_blur(x: torch.Tensor) -> torch.Tensor:
    """The separable [1, 2, 1] / 4 filter, centred (edge pixels replicated): the mildest blur."""
    kernel = (BINOMIAL[:, None] * BINOMIAL[None]) / BINOMIAL.sum() ** 2
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, kernel.expand(x.shape[1], 1, 3, 3).to(x), groups=x.shape[1])


def half_resolution(x: torch.Tensor) -> torch.Tensor:
    """2×2 average pooling, then bilinear upsampling back: the detail of a half-resolution image."""
    return F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="bilinear", align_corners=False)


def gaussian_noise(sigma: float, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """i.i.d. N(0, σ²) per pixel and channel (images in [-1, 1]: σ = 0.05 is 2.5 % of the range)."""
    generator = torch.Generator().manual_seed(seed)
    return lambda x: x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def shift_one_pixel(x: torch.Tensor) -> torch.Tensor:
    """Every image moved one pixel right (the column that leaves enters on the left)."""
    return torch.roll(x, 1, dims=-1)


def quarter_variety(x: torch.Tensor) -> torch.Tensor:
    """Each batch's first quarter repeated four times: the same images, a quarter of the variety."""
    keep = -(-x.shape[0] // 4)
    return x[:keep].repeat(4, 1, 1, 1)[: x.shape[0]]


def degradations() -> dict[str, Callable[[torch.Tensor], torch.Tensor] | None]:
    """The rows, by name (fresh noise streams: a row does not depend on the rows before it)."""
    return {
        "none (real vs real)": None,
        "noise σ = 0.05": gaussian_noise(0.05),
        "noise σ = 0.1": gaussian_noise(0.1),
        "shift 1 px": shift_one_pixel,
        "[1,2,1] blur": binomial_blur,
        "half resolution": half_resolution,
        "¼ variety": quarter_variety,
    }


def measure(dataset: str, n: int) -> list[dict]:
    settings = EvalSettings(dataset=dataset, resolution=32, n_fd=n)
    rows = []
    for name, transform in degradations().items():
        r = evaluate_real(["fd_proc", "prc_proc"], settings, transform=transform)
        rows.append(dict(dataset=dataset, degradation=name, fd_proc=r["fd_proc"], fd_proc_se=r["fd_proc_se"],
                         precision=r["prc_proc_precision"], recall=r["prc_proc_recall"]))
        print(f"{dataset:9s} {name:22s} FD-proc {r['fd_proc']:7.1f} ± {r['fd_proc_se']:4.1f}  "
              f"precision {r['prc_proc_precision']:.3f}  recall {r['prc_proc_recall']:.3f}", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| dataset | held-out real images, degraded by | FD-proc (± SE) | precision | recall |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['degradation']} | {r['fd_proc']:.1f} (± {r['fd_proc_se']:.1f}) | "
              f"{r['precision']:.2f} | {r['recall']:.2f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["faces", "churches"], choices=["faces", "churches"])
    parser.add_argument("--n", type=int, default=2000, help="images per side (quality.csv's and Table 1's 2000)")
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    args = parser.parse_args()
    rows = [row for dataset in args.datasets for row in measure(dataset, args.n)]
    table = markdown(rows)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()
