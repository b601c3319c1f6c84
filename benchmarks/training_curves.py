"""Training curves: FD-proc and precision / recall (ProcNet features) against kimg and against
training wall time, for every run that logged `quality.csv` (`--quality-kimg`).

    python benchmarks/training_curves.py RUN [RUN ...] [--csv results/cpu/training_curves.csv]
                                         [--png figures/cpu/training_curves.png] [--floor 5.6]
                                         [--img-per-s RUN=RATE ...]

Writes one CSV of every measurement (a `run` column added) and a figure of three panels: FD-proc
vs kimg (log-log, the real-vs-real floor dashed), FD-proc vs training hours (log-log), precision and
recall vs kimg — and a fourth, distortion vs kimg (log scale), when an SSN run logged it (the
λD fine-tunes' curves: `benchmarks/finetune_length.py --curve-kimg 5`). A fine-tune's kimg counts from its start.

Runs trained on different machines or beside different work have incomparable `train_hours`; with
`--img-per-s` (one RUN=RATE per run, the rates `bench_train.py` measured side by side in one run)
the second panel's x axis is the hours each run would take at its benchmarked rate instead
(`bench_hours` in the CSV): the equal-wall-time comparison on one machine. `--reference RUN` then
prints a table: each run's FD-proc at its end (the mean and range of its measurements over the last
`--window` kimg, since one measurement moves by tens) beside the reference run's at the same hours.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_quality(run: Path) -> list[dict[str, float]]:
    path = run / "quality.csv"
    if not path.is_file():
        raise SystemExit(f"error: {path} does not exist (train with --quality-kimg to log it)")
    with open(path) as f:
        return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(f)]


def parse_rates(items: list[str], runs: list[str]) -> dict[str, float]:
    """{run: img/s} from RUN=RATE items: none, or one positive rate for every run."""
    rates = {}
    for item in items:
        name, _, rate = item.partition("=")
        try:
            rates[name] = float(rate)
        except ValueError:
            rates[name] = math.nan
        if not rates[name] > 0:
            raise SystemExit(f"error: --img-per-s {item!r} is not RUN=RATE with a positive rate")
    unknown, missing = sorted(set(rates) - set(runs)), sorted(set(runs) - set(rates))
    if rates and (unknown or missing):
        raise SystemExit(f"error: --img-per-s needs one rate per run: unknown {unknown}, missing {missing}")
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories holding quality.csv")
    parser.add_argument("--csv", type=Path, default=Path("results/cpu/training_curves.csv"))
    parser.add_argument("--png", type=Path, default=Path("figures/cpu/training_curves.png"))
    parser.add_argument("--floor", type=float, default=None, help="real-vs-real FD-proc, drawn dashed")
    parser.add_argument("--img-per-s", nargs="+", default=[], metavar="RUN=RATE",
                        help="every run's benchmarked training rate (img/s): hours at that rate on the time axis")
    parser.add_argument("--reference", help="with --img-per-s: the run the others are set against at equal hours")
    parser.add_argument("--window", type=float, default=30.0, help="kimg of measurements averaged (default 30)")
    args = parser.parse_args()

    curves = {run.name: read_quality(run) for run in args.runs}
    rates = parse_rates(args.img_per_s, list(curves))
    if args.reference is not None and (not rates or args.reference not in curves):
        raise SystemExit(f"error: --reference {args.reference!r} needs --img-per-s and to be one of the runs")
    for name, rows in curves.items():
        for row in rows:
            row["bench_hours"] = row["kimg"] * 1000 / rates[name] / 3600 if rates else float("nan")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    columns = ["run", "step", "kimg", "train_hours", "bench_hours", "fd_proc", "fd_proc_se", "precision_proc",
               "recall_proc", "distortion", "distortion_se", "in_block", "locality"]
    with open(args.csv, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for name, rows in curves.items():
            for row in rows:
                writer.writerow([name] + [row.get(c, float("nan")) for c in columns[1:]])

    with_distortion = any(not math.isnan(r.get("distortion", math.nan)) for rows in curves.values() for r in rows)
    fig, axes = plt.subplots(1, 4 if with_distortion else 3, figsize=(20 if with_distortion else 15, 4.2))
    for name, rows in curves.items():
        kimg = [r["kimg"] for r in rows]
        if with_distortion:
            axes[3].errorbar(kimg, [r.get("distortion", math.nan) for r in rows],
                             yerr=[r.get("distortion_se", math.nan) for r in rows], label=name, marker="o",
                             markersize=3, capsize=2)
        axes[0].errorbar(kimg, [r["fd_proc"] for r in rows], yerr=[r["fd_proc_se"] for r in rows], label=name,
                         marker="o", markersize=3, capsize=2)
        axes[1].plot([r["bench_hours" if rates else "train_hours"] for r in rows], [r["fd_proc"] for r in rows],
                     marker="o", markersize=3, label=name)
        line, = axes[2].plot(kimg, [r.get("precision_proc", float("nan")) for r in rows], marker="o", markersize=3,
                             label=f"{name} precision")
        axes[2].plot(kimg, [r.get("recall_proc", float("nan")) for r in rows], marker="s", markersize=3,
                     linestyle="--", color=line.get_color(), label=f"{name} recall")
    for ax in axes[:2]:
        ax.set_xscale("log")  # the early stretch, where the arms part, is as wide as the long tail
        ax.set_yscale("log")
        ax.set_ylabel("FD-proc (2000 samples)")
        if args.floor:
            ax.axhline(args.floor, color="grey", linestyle=":", label="real vs real")
    axes[0].set_xlabel("kimg")
    axes[1].set_xlabel("hours at the benchmarked rate (1 thread)" if rates else "training hours (1 thread)")
    axes[2].set_xlabel("kimg")
    axes[2].set_ylabel("ProcNet precision (solid) / recall (dashed)")
    axes[2].set_ylim(0, 1)
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=6, ncol=2)
    if with_distortion:
        axes[3].set_yscale("log")
        axes[3].set_xlabel("kimg")
        axes[3].set_ylabel("distortion (MSE outside the resampled block)")
        axes[3].legend(fontsize=7)
    fig.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print(f"wrote {args.csv} and {args.png}")
    if args.reference is not None:
        print_equal_time_table(curves, rates, args.reference, args.window)


def window_fd(rows: list[dict[str, float]], end_kimg: float, window: float) -> tuple[float, float, float]:
    """Mean, min and max FD-proc of the measurements in (end_kimg − window, end_kimg]."""
    values = [r["fd_proc"] for r in rows if end_kimg - window < r["kimg"] <= end_kimg + 1e-9]
    return (sum(values) / len(values), min(values), max(values)) if values else (math.nan,) * 3


def print_equal_time_table(curves: dict, rates: dict[str, float], reference: str, window: float) -> None:
    """Each run at its end beside the reference run at the same benchmarked hours."""
    ref_rows = curves[reference]
    print(f"\n| run | img/s | kimg | hours at that rate | FD-proc, last {window:g} kimg (range) | precision, recall "
          f"| {reference} at the same hours: kimg, FD-proc (range) |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in curves.items():
        last = rows[-1]
        mean, low, high = window_fd(rows, last["kimg"], window)
        ref_kimg = last["bench_hours"] * 3600 * rates[reference] / 1000
        if ref_kimg > ref_rows[-1]["kimg"] + window / 2:
            ref_cell = f"beyond its {ref_rows[-1]['kimg']:.0f} kimg"
        else:
            ref_mean, ref_low, ref_high = window_fd(ref_rows, ref_kimg + window / 2, window)
            ref_cell = f"{ref_kimg:.0f}, {ref_mean:.0f} ({ref_low:.0f}–{ref_high:.0f})"
        print(f"| {name} | {rates[name]:g} | {last['kimg']:.0f} | {last['bench_hours']:.2f} | {mean:.0f} "
              f"({low:.0f}–{high:.0f}) | {last['precision_proc']:.2f}, {last['recall_proc']:.2f} | {ref_cell} |")


if __name__ == "__main__":
    main()
