"""Figures of the quantitative experiments: Figure 5's Pareto curve and the Appendix-B comparison.

Both take the DataFrames of `ssnlib.paper.tables` (column names tell which metric was measured: FD-proc
/ PPL-proc offline, FID / PPL at the paper preset) and return a matplotlib Figure; saving is
`Outputs.save_figure`'s job.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..evaluate import LABELS
from . import published
from .tables import metric_columns


def _xerr(values: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Asymmetric error bars that stay positive on a log axis (lower bar clipped at 90 % of the value)."""
    se = np.nan_to_num(se, nan=0.0)
    return np.stack([np.minimum(se, 0.9 * values), se])


def _short(value: float) -> str:
    """Three significant figures, never an exponent (6.67, 66.7, 1000, 10000)."""
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _pareto(ax, distortion, quality, labels, color: str, marker: str = "o", xerr=None, label: str | None = None):
    """One curve, points joined in order of their label and annotated with it (labels alternately
    above-left and below-right, so that close neighbours stay readable), on a log-x axis."""
    ax.errorbar(distortion, quality, xerr=xerr, color=color, marker=marker, capsize=2, label=label)
    for i, (x, y, text) in enumerate(zip(distortion, quality, labels)):
        above = i % 2 == 0
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(-5, 5) if above else (5, -12),
                    ha="right" if above else "left", fontsize=8, color=color)
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)
    ax.grid(True, which="both", alpha=0.3)


def figure5(table: pd.DataFrame, paper_scale: float | None = None) -> plt.Figure:
    """Figure 5: quality vs distortion over λD (log-x, points labelled with λD), ours (left, with the
    distortion's standard error) beside the paper's FID curve (right); the StyleGAN2 baseline's
    quality, where present, as a dashed line. Panels are separate because the scales differ.
    `paper_scale` (our λD per unit of the paper's, e.g. 15 for the literal eq. 2 on 4×4 blocks) adds
    each point's λD on the paper's scale to its label."""
    quality, _ = metric_columns(table)
    ssn = table[table["model"] == "ssn"].sort_values("lambda_d").dropna(subset=[quality, "distortion"])
    if ssn.empty:
        raise ValueError("figure5: the table has no SSN row with both a quality metric and a distortion")
    fig, (ours, theirs) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    d, q = ssn["distortion"].to_numpy(), ssn[quality].to_numpy()
    if paper_scale is None:
        labels, legend = [f"{lam:g}" for lam in ssn["lambda_d"]], "SSN (labels: λD)"
    else:
        labels = [f"{lam:g} ({_short(lam / paper_scale)})" for lam in ssn["lambda_d"]]
        legend = f"SSN (labels: our λD (the paper's: ours / {paper_scale:g}))"
    _pareto(ours, d, q, labels, "C0", xerr=_xerr(d, ssn["distortion_se"].to_numpy()), label=legend)
    baseline = table[table["model"] == "stylegan2"][quality].dropna()
    if not baseline.empty:
        ours.axhline(baseline.iloc[0], color="C3", ls="--", label="StyleGAN2 baseline")
    ours.set(xlabel="distortion (mean sq. change outside the block)", ylabel=f"{LABELS[quality]} (lower is better)",
             title=f"ours ({LABELS[quality]})")
    ours.legend(fontsize=8)
    lams = published.TABLE2_LAMBDAS
    paper_rows = [published.TABLE2[lam] for lam in lams]
    _pareto(theirs, [r["distortion"] for r in paper_rows], [r["fid"] for r in paper_rows], [f"{lam:g}" for lam in lams],
            "C1", marker="s", label="SSN, paper (labels: λD)")
    theirs.axhline(published.TABLE2[None]["fid"], color="C3", ls="--", label="StyleGAN2 baseline (paper)")
    theirs.set(xlabel="distortion", ylabel="FID (lower is better)", title="paper, FFHQ 256² (Table 2)")
    theirs.legend(fontsize=8)
    fig.suptitle("Figure 5 — quality vs distortion as λD grows")
    return fig


def appendix_b_figure(table: pd.DataFrame) -> plt.Figure:
    """Appendix B: eq. 15 models (labelled by weight) over the λD curve (labelled by λD). Left:
    quality vs distortion (below and left of the curve would be a gain); right: in-block change vs
    distortion (a low distortion that comes from changing nothing shows up here)."""
    quality, _ = metric_columns(table)
    curve = table[table["regularizer"] == "lambda_d"].sort_values("weight")
    eq15 = table[table["regularizer"] == "eq15"].sort_values("weight")
    if curve.empty and eq15.empty:
        raise ValueError("appendix_b_figure: the table has neither λD nor eq. 15 rows")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, column, ylabel in ((axes[0], quality, f"{LABELS[quality]} (lower is better)"),
                               (axes[1], "in_block", "in-block change (mean sq., inside the block)")):
        for rows, color, marker, name in ((curve, "C0", "o", "λD, eq. 2 (labels: λD)"),
                                          (eq15, "C2", "^", "eq. 15 (labels: weight)")):
            rows = rows.dropna(subset=[column, "distortion"])
            if rows.empty:
                continue
            d = rows["distortion"].to_numpy()
            _pareto(ax, d, rows[column].to_numpy(), [f"{w:g}" for w in rows["weight"]], color, marker,
                    xerr=_xerr(d, rows["distortion_se"].to_numpy()), label=name)
        ax.set(xlabel="distortion (mean sq. change outside the block)", ylabel=ylabel)
        ax.legend(fontsize=8)
    axes[0].set_title(f"quality vs distortion ({LABELS[quality]})")
    axes[1].set_title("how much the resampled block changes")
    gammas = eq15[["gamma_plus", "gamma_minus"]].drop_duplicates()
    if len(gammas) == 1 and not any(math.isnan(v) for v in gammas.iloc[0]):
        plus, minus = gammas.iloc[0]
        fig.suptitle(f"Appendix B — eq. 15 (γ+ = {plus:g}, γ− = {minus:g}) vs the λD curve")
    else:
        fig.suptitle("Appendix B — eq. 15 vs the λD curve")
    return fig
