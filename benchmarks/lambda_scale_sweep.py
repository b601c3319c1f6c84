"""Experiment (issue #19): where do the paper's λD values land on our regularizer's scale?

Transfers a 4×4 SSN from a checkpoint of a long StyleGAN2 run (`models/cpu/training/<run>`),
trains it for the preset's `transfer_kimg`, fine-tunes it at every λD of a dense sweep on today's
`per_pixel` scale (λD × the mean squared change outside the resampled block) for the preset's
`finetune_kimg`, and measures Table 2's columns for each. The literal eq. 2 reading (`eq2`: Σ over
the n − 1 blocks b ≠ a of their mean squared change) is (n − 1) × `per_pixel` exactly, so the
paper's λD on that scale are the `per_pixel` values 15 × (1, 10, 100, 1000, 10000) on a 4×4
grid; they are in the sweep. Likewise eq. 15 as written sums over the n blocks a (our `mean_a`
averages), so the paper's Appendix-B weights w are our 16·w.

    python benchmarks/lambda_scale_sweep.py --base models/cpu/training/stylegan2-faces-s0 \\
        [--dataset faces] [--lambdas 0 1 10 15 30 …] [--eq15-weights 32 320 3200 32000]

The base checkpoint is copied to `runs/lambda-sweep/<run>/checkpoints/` first (a long run keeps
only its latest checkpoint), so the sweep can be resumed and re-measured. Writes, under
`results/<preset>/`: lambda_sweep.csv/.md (one row per λD, our scale and the paper's eq. 2
reading), lambda_sweep_appendix_b.csv/.md, lambda_scale_fit.md (the fitted factor beside n − 1 and
n(n − 1)), and the Table 2 / Appendix B claims at the paper's λD on both readings in
lambda_sweep_claims.md (and claims-lambda_sweep.json, for summary.md); under `figures/<preset>/`:
lambda_sweep_figure5.png, Figure 5 with each point's λD on both scales. `--replicate-seeds` trains
independent replicates (the transfer and the fine-tunes, from the same base) at a few λD:
lambda_sweep_seeds.csv holds each seed's numbers, the run-to-run spread beside the sweep's.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from ssnlib.paper import plots, published, tables, verdicts
from ssnlib.paper.reporting import Outputs
from ssnlib.paper.runs import project_root
from ssnlib.paper.zoo import ModelZoo
from ssnlib.train import checkpoint_of

SWEEP = (0, 1, 10, 15, 30, 100, 150, 300, 1000, 1500, 3000, 10000, 15000, 150000)
EQ15_WEIGHTS = (32, 320, 3200, 32000)  # the paper's 2 … 2000 on the literal eq. 15 scale (× 16)


def pinned_copy(base: str, root: Path) -> Path:
    """The base run's checkpoint, copied once to `root/<run>/checkpoints/` (the run replaces its own)."""
    source = checkpoint_of(base, "--base")
    copy = root / source.parent.parent.name / "checkpoints" / source.name
    if not copy.is_file():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy.with_suffix(".partial"))
        copy.with_suffix(".partial").rename(copy)
    return copy


def with_zero(lambdas) -> list[float]:
    """The λD list, sorted, with the λD = 0 row every ratio is taken against."""
    return sorted(set(lambdas) | {0.0})


def seed_spread(zoo: ModelZoo, table, args):
    """Replicates of the transfer and the fine-tunes at other seeds (the same base, the same
    reference images): per λD, each seed's FD-proc, distortion and cut (distortion(0) / distortion(λD),
    within its own seed), the spread being the difference between seeds."""
    if not args.replicate_seeds:
        return None
    settings = tables.eval_settings(zoo)  # seed 0's reference set for every replicate
    lambdas = with_zero(args.replicate_lambdas)
    measured = {zoo.config().seed: table[table["model"] == "ssn"]}
    for seed in args.replicate_seeds:
        replicate = ModelZoo(zoo.preset, zoo.dataset, stylegan2_checkpoint=zoo.stylegan2_checkpoint,
                             runs_root=zoo.runs_root, seed=seed)
        measured[seed] = tables.table2(replicate, lambdas, settings, baseline=False, grid=tuple(args.grid))
    rows = []
    for seed, t in measured.items():
        cut = tables.relative_to_unregularized(t).set_index("lambda_d")["distortion_cut"]
        for _, r in t[t["lambda_d"].isin(lambdas)].iterrows():
            rows.append({"seed": seed, "lambda_d": r["lambda_d"], "distortion_cut": cut[r["lambda_d"]],
                         **{c: r[c] for c in ("fd_proc", "fd_proc_se", "distortion", "distortion_se")}})
    return pd.DataFrame(rows).sort_values(["lambda_d", "seed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="a StyleGAN2 run directory or checkpoint of the preset "
                        "(relative to the repository root)")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--dataset", default="faces")
    parser.add_argument("--lambdas", type=float, nargs="+", default=list(SWEEP), help="λD on the per_pixel scale")
    parser.add_argument("--eq15-weights", type=float, nargs="+", default=list(EQ15_WEIGHTS),
                        help="eq. 15 weights on the mean_a scale")
    parser.add_argument("--replicate-seeds", type=int, nargs="*", default=[1],
                        help="seeds of independent replicates (transfer and fine-tunes) of ...")
    parser.add_argument("--replicate-lambdas", type=float, nargs="+", default=[0.0, 100.0, 1500.0],
                        help="... these λD (per_pixel scale)")
    parser.add_argument("--grid", type=int, nargs=2, default=[4, 4], metavar=("GH", "GW"),
                        help="the SSNs' blocks (fine-tuned from the 4×4 transfer, as the zoo's 8×8 model); outputs "
                        "of another grid than 4×4 get a _GHxGW suffix")
    parser.add_argument("--runs", type=Path, default=Path("runs/lambda-sweep"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    os.chdir(project_root())  # paths in run configs stay relative to the repository

    base = pinned_copy(args.base, args.runs)
    zoo = ModelZoo(args.preset, args.dataset, stylegan2_checkpoint=str(base), runs_root=str(args.runs))
    grid = tuple(args.grid)
    n = grid[0] * grid[1]
    tag = "" if grid == (4, 4) else f"_{grid[0]}x{grid[1]}"
    table = tables.table2(zoo, with_zero(args.lambdas), grid=grid)
    table.insert(2, "lambda_d_eq2", table["lambda_d"] / (n - 1))
    out = Outputs.for_preset(zoo.preset)
    title = (f"λD sweep from {base} ({zoo.stylegan2_kimg():g} kimg StyleGAN2), {zoo.dataset} — lambda_d on the "
             f"per_pixel scale, lambda_d_eq2 = lambda_d / {n - 1} (the literal eq. 2 reading)")
    out.write_table(table, f"lambda_sweep{tag}")
    out.save_figure(plots.figure5(table, paper_scale=n - 1), f"lambda_sweep_figure5{tag}")
    seeds = seed_spread(zoo, table, args)
    if seeds is not None:
        out.write_table(seeds, f"lambda_sweep_seeds{tag}")

    cut = tables.relative_to_unregularized(table).set_index("lambda_d")["distortion_cut"]
    paper_cut = {lam: published.TABLE2[0]["distortion"] / published.TABLE2[lam]["distortion"]
                 for lam in published.TABLE2_LAMBDAS if lam}
    scale, rms, points = tables.fit_lambda_scale(cut.to_dict(), paper_cut)
    fit = (f"# λD scale fit ({zoo.dataset}, {zoo.preset} preset, {grid[0]}×{grid[1]} = {n} blocks)\n\n"
           f"Our distortion cut at λD = s·λ_paper best matches the paper's at λ_paper for s = {scale:.3g} "
           f"(RMS {rms:.3f} in log10 cut over {points} of the paper's λD). The literal readings of eq. 2: "
           f"s = n − 1 = {n - 1} (one a per sample, the sum over b ≠ a: our `eq2`) or n(n − 1) = {n * (n - 1)} "
           f"(the double sum).\n")
    (out.results / f"lambda_scale_fit{tag}.md").write_text(f"{fit}\n{title}.\n")

    if grid != (4, 4):  # the paper's λD are a 4×4 model's: only the factor is compared on other grids
        print(fit)
        return
    paper_scale = table[(table["model"] == "stylegan2")
                        | table["lambda_d_eq2"].isin([float(lam) for lam in published.TABLE2_LAMBDAS])].copy()
    paper_scale["lambda_d"] = paper_scale.pop("lambda_d_eq2")
    paper_scale["lambda_d_scale"] = "eq2"
    for lam in published.TABLE2_LAMBDAS:  # the paper's row for each λD, now on its own scale
        ref = published.table2_paper(float(lam))
        mask = paper_scale["lambda_d"] == float(lam)
        paper_scale.loc[mask, ["paper_fid", "paper_ppl", "paper_distortion"]] = [ref["fid"], ref["ppl"],
                                                                                 ref["distortion"]]
    ours = table[(table["model"] == "stylegan2") | table["lambda_d"].isin(
        [float(lam) for lam in published.TABLE2_LAMBDAS])].drop(columns="lambda_d_eq2")
    appendix = tables.appendix_b(zoo, args.eq15_weights, lambdas=with_zero(args.lambdas))
    eq15 = appendix["regularizer"] == "eq15"
    appendix.loc[eq15, "weight"] = appendix.loc[eq15, "weight"] / n  # the paper's weights, eq. 15 as written
    appendix["eq15_scale"] = "eq15"
    out.write_table(appendix, f"lambda_sweep_appendix_b{tag}")
    lines = [f"# Table 2 and Appendix B claims from the λD sweep ({zoo.dataset}, fitted s = {scale:.3g})\n", title]
    claims = []
    fit_note = f" (eq2 = per_pixel / {n - 1}; the fitted factor is {scale:.3g}, lambda_scale_fit.md)"
    for label, reading in (("today's reading: λD on the per_pixel scale", ours),
                           (f"the paper's λD on the literal eq. 2 scale (ours = {n - 1} × the paper's)", paper_scale)):
        lines.append(f"\n## {label}\n")
        claims += [dataclasses.replace(c, reason=c.reason.replace(" scale: ", f" scale{fit_note}: ", 1))
                   for c in verdicts.table2_claims(reading)]
        lines += [f"- **{c.claim}** — {c.verdict}: {c.reason}" for c in claims[-5:]]
    b = verdicts.appendix_b_claim(appendix)
    b_note = f" scale (our mean_a weights = {n} × these): "
    claims.append(dataclasses.replace(b, reason=b.reason.replace(" scale: ", b_note, 1)))
    lines.append("\n## Appendix B, the paper's eq. 15 weights as written\n")
    lines.append(f"- **{claims[-1].claim}** — {claims[-1].verdict}: {claims[-1].reason}")
    (out.results / f"lambda_sweep_claims{tag}.md").write_text("\n".join(lines) + "\n")
    out.write_claims(f"lambda_sweep{tag}", claims)
    print(fit)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
