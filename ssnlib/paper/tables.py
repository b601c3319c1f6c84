"""Tables 1 and 2 and the Appendix-B comparison, measured from a `ModelZoo`, and their claim verdicts.

    zoo = ModelZoo("cpu", "faces")
    t2 = table2(zoo, published.TABLE2_LAMBDAS)    # columns: model, lambda_d, train_kimg, fd_proc, ppl_proc, …
    claims = table2_claims(t2)                # [Claim(...), ...] with verdicts by the rules below

Column names are the metrics actually computed: `fd_proc` / `ppl_proc` (the offline proxies) at the
`ci` / `cpu` / `gpu` presets, `fid` / `ppl` (the canonical metrics) at `paper` — never relabelled.
The paper's numbers are always FID / PPL and always sit in `paper_*` columns.

Verdict rules (each claim function's docstring gives its own; "not measured" when a needed row or
number is missing):

- Table 1 — SSN's quality metric within 1.5× of StyleGAN2's on every dataset → reproduced; within
  3× (the paper's own churches ratio is 8.68 / 3.65 = 2.4) → partly; else not reproduced. A dataset
  whose trained models are not below half the untrained generator's metric is not counted (and
  caps the verdict at partly): there the ratio says nothing.
- λD = 100 — distortion cut ≥ 5× relative to λD = 0 at ≤ 1.5× the quality metric → reproduced;
  ≥ 2× at ≤ 3× → partly; else not reproduced. The cut must exceed two standard errors.
- λD = 100 vs the StyleGAN2 baseline — lower in both the quality metric and PPL → reproduced;
  in one → partly; in neither → not reproduced.
- λD ≥ 1000 destroys quality — the quality metric at λD = 1000 and 10000 at least 2× λD = 0's →
  reproduced (the paper: ×5.5, ×10.5); at least 1.25× → partly; rises beyond 2 SE.
- PPL falls as λD grows — Spearman ρ(λD, PPL) ≤ −0.8 → reproduced; ρ < 0 → partly; else not
  reproduced; either way PPL at the largest λD must be lower than at the smallest (needs ≥ 3 λD).
- Figure 5 trade-off — distortion falls (ρ(λD, distortion) ≤ −0.8) and quality worsens
  (ρ(λD, quality) ≥ 0.8) → reproduced; one of the two → partly; neither → not reproduced
  (needs ≥ 3 values of λD); each also needs its end points to differ.
- Appendix B — an eq. 15 model "beats" the λD curve when its quality metric is more than 10 %
  better than the best λD model with no more distortion (or, below the curve's distortion range,
  than the lowest-distortion λD model). No eq. 15 model beats it → reproduced (the paper's
  negative result); any does → not reproduced.

"Better", "lower" and "differ" mean by more than two combined standard errors: every measured
number carries one (bootstrap over the generated samples for FD-proc / FID and the PPLs, the
sample standard error for distortion); a table without them falls back to a 5 % margin
(`NOISE_MARGIN`). At the `ci` preset the models are barely trained and every verdict is about the
code path, not the paper.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable, Mapping, Sequence

import pandas as pd

from ..evaluate import LABELS, EvalSettings, evaluate_cached
from . import published
from .presets import get_preset
from .reporting import Claim

logger = logging.getLogger(__name__)

BLOCK_COLUMNS = ("distortion", "distortion_se", "in_block", "in_block_se", "locality", "locality_se")
QUALITY_METRICS = ("fid", "fd_proc")
PATH_LENGTH_METRICS = ("ppl", "ppl_proc")
RATIO_REPRODUCED, RATIO_PARTLY = 1.5, 3.0  # Table 1 quality ratio SSN / StyleGAN2
LEARNED_FRACTION = 0.5  # a trained model's quality metric at most this × the untrained generator's
CUT_REPRODUCED, COST_REPRODUCED = 5.0, 1.5  # λD = 100 vs 0: distortion cut, quality-metric cost
CUT_PARTLY, COST_PARTLY = 2.0, 3.0
DESTROYED, DAMAGED = 2.0, 1.25  # quality-metric ratio vs λD = 0 for "λD ≥ 1000 destroys quality"
RHO_STRONG = 0.8  # |Spearman ρ| for a monotone trend over λD
APPENDIX_B_TOLERANCE = 0.1  # relative quality margin for an eq. 15 model to "beat" the λD curve
NOISE_MARGIN = 0.05  # relative difference below which numbers without a standard error count as equal


# ------------------------------------------------------------------ measuring


def default_metrics(preset: str) -> tuple[str, str]:
    """(quality, path-length) metric names: canonical (`fid`, `ppl`) at `paper`, else the proxies."""
    return ("fid", "ppl") if preset == "paper" else ("fd_proc", "ppl_proc")


def _check_metrics(metrics: Sequence[str]) -> tuple[str, str]:
    if len(metrics) != 2 or metrics[0] not in QUALITY_METRICS or metrics[1] not in PATH_LENGTH_METRICS:
        raise ValueError(f"metrics must be (quality, path length) from {QUALITY_METRICS} × {PATH_LENGTH_METRICS}, "
                         f"got {tuple(metrics)}")
    return metrics[0], metrics[1]


def eval_settings(zoo, **overrides) -> EvalSettings:
    """The evaluation settings for `zoo`'s models: its preset's sample counts, its training data
    (dataset, resolution, seed) as the reference set, its device; `overrides` win."""
    config = zoo.config()
    base = dict(dataset=config.dataset, resolution=config.resolution, dataset_seed=config.seed, device=zoo.device)
    return get_preset(zoo.preset).eval_settings(**{**base, **overrides})


def train_kimg(zoo, model: str = "ssn", **variant) -> float:
    """Thousands of images a zoo model was trained on, counting the training of the runs it
    started from (NaN for the pretrained StyleGAN2 of the paper preset; at `paper` an SSN counts
    only its own training). Shown beside the λD rows so that
    equal training is visible: every compared SSN row is a fine-tune of the same length."""
    if model == "stylegan2":
        return math.nan if zoo.preset == "paper" else float(zoo.config(model="stylegan2").kimg)
    config, _, bases = zoo.ssn_config(**variant)
    return float(config.kimg + sum(base.kimg for base, _ in bases))


def _measure(zoo, path, metrics: tuple[str, str], settings: EvalSettings, block_metrics: bool) -> dict[str, float]:
    """The metrics (value and standard error) of the zoo file `path`, through the evaluation cache."""
    names = list(metrics) + (["distortion"] if block_metrics else [])
    results = evaluate_cached(path, lambda: zoo.load(path), names, settings)
    row = {}
    for m in metrics:
        row.update({m: float(results[m]), f"{m}_se": float(results.get(f"{m}_se", math.nan))})
    if block_metrics:
        row.update({c: float(results.get(c, math.nan)) for c in BLOCK_COLUMNS})
    return row


def table1(zoos: Mapping[str, object], settings: Mapping[str, EvalSettings] | None = None,
           metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Table 1: StyleGAN2 vs SSN (λD = 0, transferred from that StyleGAN2 as in §3.4) per dataset.
    `zoos` maps a dataset label ("faces", "churches") to its `ModelZoo`; `settings` per label
    (default `eval_settings(zoo)`). Below the paper preset each dataset also gets an
    `ssn_from_scratch` row (the SSN trained exactly like the baseline: the equal-budget comparison
    the paper did not make) and an `untrained` row (the SSN before its first step): the yardstick
    of whether the trained models learned anything.
    Columns: dataset, model, train_kimg, <quality>(_se), <path length>(_se), resampling (✓/✗/—),
    paper_fid, paper_ppl."""
    rows = []
    for dataset, zoo in zoos.items():
        quality, path_length = _check_metrics(metrics or default_metrics(zoo.preset))
        s = (settings or {}).get(dataset) or eval_settings(zoo)
        models = [("stylegan2", zoo.stylegan2_file()), ("ssn", zoo.ssn_file())]
        if zoo.preset != "paper":
            models += [("ssn_from_scratch", zoo.ssn_file(from_scratch=True)), ("untrained", zoo.untrained_file())]
        can_resample = "✓" if math.prod(zoo.config().grid) > 1 else "✗"
        kimg = {"stylegan2": train_kimg(zoo, "stylegan2"), "ssn": train_kimg(zoo), "untrained": 0.0,
                "ssn_from_scratch": train_kimg(zoo, from_scratch=True) if zoo.preset != "paper" else math.nan}
        for model, path in models:
            logger.info("Table 1: %s %s", dataset, model)
            resampling = {"stylegan2": "✗", "ssn": can_resample, "ssn_from_scratch": can_resample}.get(model, "—")
            row = {"dataset": dataset, "model": model, "train_kimg": kimg[model],
                   **_measure(zoo, path, (quality, path_length), s, block_metrics=False), "resampling": resampling}
            ref = published.TABLE1.get(dataset, {}).get(model, {})
            row.update(paper_fid=ref.get("fid", math.nan), paper_ppl=ref.get("ppl", math.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def _lambda_rows(zoo, lambdas: Iterable[float], metrics: tuple[str, str], settings: EvalSettings,
                 label: str) -> list[dict]:
    """One row per λD: the fine-tuned SSNs — λD = 0 included (`finetuned=True`), so every row
    has trained equally long."""
    rows = []
    for lam in lambdas:
        logger.info("%s: λD=%s", label, lam)
        variant = dict(lambda_d=float(lam), finetuned=True)
        rows.append({"lambda_d": float(lam), "train_kimg": train_kimg(zoo, **variant),
                     **_measure(zoo, zoo.ssn_file(**variant), metrics, settings, block_metrics=True)})
    return rows


def table2(zoo, lambdas: Iterable[float] = published.TABLE2_LAMBDAS, settings: EvalSettings | None = None,
           metrics: Sequence[str] | None = None, baseline: bool = True) -> pd.DataFrame:
    """Table 2: the λD ablation (plus the StyleGAN2 baseline row, λD = NaN, if `baseline`).
    Columns: model, lambda_d, train_kimg, <quality>(_se), <path length>(_se), distortion(_se),
    in_block(_se), locality(_se), paper_fid, paper_ppl, paper_distortion."""
    quality, path_length = _check_metrics(metrics or default_metrics(zoo.preset))
    settings = settings or eval_settings(zoo)
    rows = []
    if baseline:
        logger.info("Table 2: StyleGAN2 baseline")
        rows.append({"model": "stylegan2", "lambda_d": math.nan, "train_kimg": train_kimg(zoo, "stylegan2"),
                     **_measure(zoo, zoo.stylegan2_file(), (quality, path_length), settings, block_metrics=True)})
    rows += [{"model": "ssn", **r} for r in _lambda_rows(zoo, lambdas, (quality, path_length), settings, "Table 2")]
    for row in rows:
        ref = published.table2_paper(None if row["model"] == "stylegan2" else row["lambda_d"])
        row.update(paper_fid=ref["fid"], paper_ppl=ref["ppl"], paper_distortion=ref["distortion"])
    return pd.DataFrame(rows)


def appendix_b(zoo, weights: Iterable[float], settings: EvalSettings | None = None,
               metrics: Sequence[str] | None = None,
               lambdas: Iterable[float] = published.TABLE2_LAMBDAS) -> pd.DataFrame:
    """Appendix B: SSNs fine-tuned with eq. 15 (γ± as the zoo's config, the paper's 1 and 0.1 by
    default) in place of StyleGAN2's path-length term, at each weight, beside the λD curve.
    Columns: regularizer ("lambda_d" / "eq15"), weight (λD or the eq. 15 weight), train_kimg,
    gamma_plus, gamma_minus, <quality>(_se), <path length>(_se), distortion(_se), in_block(_se),
    locality(_se)."""
    metrics = _check_metrics(metrics or default_metrics(zoo.preset))
    settings = settings or eval_settings(zoo)
    rows = [{"regularizer": "lambda_d", "weight": r.pop("lambda_d"), "train_kimg": r.pop("train_kimg"),
             "gamma_plus": math.nan, "gamma_minus": math.nan, **r}
            for r in _lambda_rows(zoo, lambdas, metrics, settings, "Appendix B")]
    for weight in weights:
        logger.info("Appendix B: eq. 15 weight %s", weight)
        variant = dict(pl_kind="low_distortion", pl_weight=weight)
        config = zoo.ssn_config(**variant)[0]
        rows.append({"regularizer": "eq15", "weight": float(weight), "train_kimg": train_kimg(zoo, **variant),
                     "gamma_plus": config.gamma_plus, "gamma_minus": config.gamma_minus,
                     **_measure(zoo, zoo.ssn_file(**variant), metrics, settings, block_metrics=True)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ reading a table


def metric_columns(table: pd.DataFrame) -> tuple[str, str]:
    """The (quality, path length) columns a measured table carries."""
    quality = [c for c in QUALITY_METRICS if c in table.columns]
    path_length = [c for c in PATH_LENGTH_METRICS if c in table.columns]
    if len(quality) != 1 or len(path_length) != 1:
        raise ValueError(f"expected one quality column of {QUALITY_METRICS} and one path-length column of "
                         f"{PATH_LENGTH_METRICS}, got columns {list(table.columns)}")
    return quality[0], path_length[0]


def _fmt(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3g}"


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either side is constant."""
    return float(pd.Series(list(x), dtype=float).corr(pd.Series(list(y), dtype=float), method="spearman"))


def _clearly_lower(a: float, b: float, a_se: float = math.nan, b_se: float = math.nan,
                   margin: float = NOISE_MARGIN) -> bool:
    """a < b beyond noise: by more than two combined standard errors when both are known, else by
    more than `margin` relative to b."""
    if math.isfinite(a_se) and math.isfinite(b_se):
        return b - a > 2 * math.hypot(a_se, b_se)
    return a < (1 - margin) * b


def _se(row: pd.Series, column: str) -> float:
    """The standard error stored beside `column` in a table row (NaN if the table has none)."""
    return float(row.get(f"{column}_se", math.nan))


def _ssn_rows(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["model"] == "ssn"] if "model" in table.columns else table
    return rows.sort_values("lambda_d")


def _row(table: pd.DataFrame, lambda_d: float) -> pd.Series | None:
    rows = _ssn_rows(table)
    found = rows[rows["lambda_d"] == lambda_d]
    return None if found.empty else found.iloc[0]


def _not_measured(claim: str, paper_text: str, reason: str, source: str) -> Claim:
    return Claim(claim, paper_text, "—", "not measured", reason, source)


def relative_to_unregularized(table: pd.DataFrame) -> pd.DataFrame:
    """Each SSN row against λD = 0 (§4's reasoning for λD = 100): distortion_cut = distortion(0) /
    distortion(λD), quality_cost = quality(λD) / quality(0), path_length_ratio = PPL(λD) / PPL(0),
    and the paper's same three ratios (paper_distortion_cut, paper_fid_cost, paper_ppl_ratio)."""
    quality, path_length = metric_columns(table)
    rows = _ssn_rows(table)
    r0 = _row(table, 0.0)
    if r0 is None:
        raise ValueError("relative_to_unregularized: the table has no λD = 0 row")
    p0 = published.TABLE2[0]
    out = []
    for _, r in rows.iterrows():
        ref = published.table2_paper(r["lambda_d"])
        out.append({"lambda_d": r["lambda_d"], "distortion_cut": r0["distortion"] / r["distortion"],
                    "quality_cost": r[quality] / r0[quality], "path_length_ratio": r[path_length] / r0[path_length],
                    "paper_distortion_cut": p0["distortion"] / ref["distortion"],
                    "paper_fid_cost": ref["fid"] / p0["fid"], "paper_ppl_ratio": ref["ppl"] / p0["ppl"]})
    return pd.DataFrame(out)


def choose_lambda(table: pd.DataFrame, min_cut: float = CUT_REPRODUCED,
                  max_cost: float = COST_REPRODUCED) -> float | None:
    """The paper's choice (§4: "a reduction in distortion of an entire order of magnitude while only
    incurring a minor loss in FID") applied to a measured table: of the λD > 0 that cut the
    distortion ≥ `min_cut`× at ≤ `max_cost`× λD = 0's quality metric, the one with the largest
    cut; None if none does."""
    rel = relative_to_unregularized(table)
    ok = rel[(rel["lambda_d"] > 0) & (rel["distortion_cut"] >= min_cut) & (rel["quality_cost"] <= max_cost)]
    return None if ok.empty else float(ok.loc[ok["distortion_cut"].idxmax(), "lambda_d"])


# ------------------------------------------------------------------ claims


def table1_claim(table: pd.DataFrame) -> Claim:
    """Table 1: SSN keeps StyleGAN2's quality. Ratio r = quality(SSN) / quality(StyleGAN2) per
    dataset (lower is better): every r ≤ 1.5 → reproduced; every r ≤ 3 → partly (the paper's
    own churches ratio is 2.4 and it calls that comparable); else not reproduced. SSN rows must
    resample (✓) and StyleGAN2 rows must not (✗). The SSN is the transferred one, the paper's
    protocol; an `ssn_from_scratch` row's ratio is quoted beside it. Where the table has an
    `untrained` row, a dataset only counts if both trained models reach at most half its quality
    metric (`LEARNED_FRACTION`); a dataset that does not is reported, and caps the verdict at
    partly (not measured if no dataset counts)."""
    quality, _ = metric_columns(table)
    label = LABELS[quality]
    claim, source = published.CLAIMS["table1_quality"], "Table 1"
    paper_text = "; ".join(
        f"{published.TABLE1_DATASETS[d]}: FID {m['ssn']['fid']} vs {m['stylegan2']['fid']} "
        f"(×{m['ssn']['fid'] / m['stylegan2']['fid']:.2f})" for d, m in published.TABLE1.items())
    ratios, parts, unlearned = {}, [], []
    for dataset, rows in table.groupby("dataset", sort=False):
        by_model = rows.set_index("model")
        if not {"ssn", "stylegan2"} <= set(by_model.index):
            continue
        q_ssn, q_sg2 = by_model.loc["ssn", quality], by_model.loc["stylegan2", quality]
        if math.isnan(q_ssn) or math.isnan(q_sg2):
            continue
        text = f"{dataset}: {label} {_fmt(q_ssn)} vs {_fmt(q_sg2)} (×{q_ssn / q_sg2:.2f})"
        if "ssn_from_scratch" in by_model.index:
            q_scratch = by_model.loc["ssn_from_scratch", quality]
            text += f", SSN from scratch {_fmt(q_scratch)} (×{q_scratch / q_sg2:.2f})"
        if "untrained" in by_model.index:
            q_init = by_model.loc["untrained", quality]
            text += f", untrained {_fmt(q_init)}"
            if max(q_ssn, q_sg2) > LEARNED_FRACTION * q_init:
                unlearned.append(dataset)
                parts.append(text + " — not trained far enough to compare")
                continue
        ratios[dataset] = q_ssn / q_sg2
        parts.append(text)
    if not ratios:
        reason = ("no dataset has both models measured" if not unlearned else
                  f"on {', '.join(unlearned)} the trained models are not below {LEARNED_FRACTION:g}× the untrained "
                  f"generator's {label}: no comparison possible at this training length")
        return Claim(claim, paper_text, "; ".join(parts) or "—", "not measured", reason, source)
    resample_ok = (table.loc[table["model"].isin(["ssn", "ssn_from_scratch"]), "resampling"].eq("✓").all()
                   and table.loc[table["model"] == "stylegan2", "resampling"].eq("✗").all())
    worst_dataset = max(ratios, key=ratios.get)
    worst = ratios[worst_dataset]
    rule = f"rule: SSN / StyleGAN2 {label} ≤ ×{RATIO_REPRODUCED} on every dataset, partly ≤ ×{RATIO_PARTLY}"
    if not resample_ok:
        verdict, reason = "not reproduced", "SSN cannot resample blocks (or StyleGAN2 can)"
    else:
        verdict = ("reproduced" if worst <= RATIO_REPRODUCED else "partly" if worst <= RATIO_PARTLY
                   else "not reproduced")
        reason = f"worst ratio ×{worst:.2f} ({worst_dataset}); {rule} (the paper's churches: ×2.38)"
        if unlearned and verdict == "reproduced":
            verdict = "partly"
        if unlearned:
            reason += (f"; {', '.join(unlearned)} not counted: a trained model is above {LEARNED_FRACTION:g}× the "
                       f"untrained generator's {label}")
    return Claim(claim, paper_text, "; ".join(parts), verdict, reason, source)


def lambda100_claim(table: pd.DataFrame, chosen: float = published.CHOSEN_LAMBDA) -> Claim:
    """λD = 100 vs λD = 0: cut = distortion(0) / distortion(100), cost = quality(100) / quality(0).
    cut ≥ 5 and cost ≤ 1.5 → reproduced; cut ≥ 2 and cost ≤ 3 → partly; else not reproduced.
    Either way the drop distortion(0) − distortion(100) must exceed two combined standard errors.
    The reason also quotes the in-block change's ratio: a cut that comes with an equal fall of
    the in-block change is a damped resample rather than a more local one."""
    quality, _ = metric_columns(table)
    label = LABELS[quality]
    claim, source = published.CLAIMS["table2_lambda100"], "Table 2, §4"
    p0, pc = published.TABLE2[0], published.TABLE2[chosen]
    paper_cut, paper_cost = p0["distortion"] / pc["distortion"], pc["fid"] / p0["fid"]
    paper_text = (f"distortion {p0['distortion']} → {pc['distortion']} (÷{paper_cut:.1f}); "
                  f"FID {p0['fid']} → {pc['fid']} (×{paper_cost:.2f})")
    r0, rc = _row(table, 0.0), _row(table, float(chosen))
    if r0 is None or rc is None:
        return _not_measured(claim, paper_text, f"needs the λD = 0 and λD = {chosen:g} rows", source)
    if any(math.isnan(v) for v in (r0["distortion"], rc["distortion"], r0[quality], rc[quality])):
        return _not_measured(claim, paper_text, "a needed number is NaN", source)
    cut = r0["distortion"] / rc["distortion"] if rc["distortion"] > 0 else math.inf
    cost = rc[quality] / r0[quality]
    two_se = 2 * math.sqrt(r0["distortion_se"] ** 2 + rc["distortion_se"] ** 2)
    drop = r0["distortion"] - rc["distortion"]
    significant = drop > two_se
    ours = (f"distortion {_fmt(r0['distortion'])} → {_fmt(rc['distortion'])} (÷{cut:.2g}); "
            f"{label} {_fmt(r0[quality])} → {_fmt(rc[quality])} (×{cost:.2f}); "
            f"in-block change {_fmt(r0['in_block'])} → {_fmt(rc['in_block'])}")
    if significant and cut >= CUT_REPRODUCED and cost <= COST_REPRODUCED:
        verdict = "reproduced"
    elif significant and cut >= CUT_PARTLY and cost <= COST_PARTLY:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    in_block_ratio = r0["in_block"] / rc["in_block"] if rc["in_block"] > 0 else math.inf
    reason = (f"cut ÷{cut:.2g} at ×{cost:.2f} the {label} (drop {_fmt(drop)} vs 2 SE {_fmt(two_se)}); rule: "
              f"÷{CUT_REPRODUCED:g} at ≤ ×{COST_REPRODUCED}, partly ÷{CUT_PARTLY:g} at ≤ ×{COST_PARTLY}, "
              f"beyond 2 SE; the in-block change fell ÷{in_block_ratio:.2g} (the paper: distortion ÷{paper_cut:.1f} "
              f"at ×{paper_cost:.2f} FID)")
    return Claim(claim, paper_text, ours, verdict, reason + _spread_text(table), source)


def _spread_text(table: pd.DataFrame) -> str:
    """'; the equal-length runs at λD ∈ {…} span …' from `quality_spread`, or '' without one."""
    spread = quality_spread(table)
    if spread is None:
        return ""
    lo, hi, lams = spread
    return (f"; the equal-length runs at λD ∈ {{{', '.join(f'{lam:g}' for lam in lams)}}} span "
            f"{LABELS[metric_columns(table)[0]]} {_fmt(lo)}–{_fmt(hi)} (×{hi / lo:.2f}): one run each, training "
            "noise the standard errors leave out")


def quality_spread(table: pd.DataFrame, max_lambda: float = 10.0) -> tuple[float, float, list[float]] | None:
    """(lowest, highest quality metric, their λDs) over the SSN rows with 0 ≤ λD ≤ `max_lambda`,
    where the paper's distortion barely moves (Table 2: 0.028, 0.028, 0.017). These runs differ in
    little but a weak regularizer, so their spread is a rough measure of the run-to-run noise of
    one fine-tune. None with fewer than two rows."""
    quality, _ = metric_columns(table)
    rows = _ssn_rows(table)
    rows = rows[(rows["lambda_d"] <= max_lambda) & rows[quality].notna()]
    if len(rows) < 2:
        return None
    return float(rows[quality].min()), float(rows[quality].max()), [float(v) for v in rows["lambda_d"]]


def baseline_claim(table: pd.DataFrame, chosen: float = published.CHOSEN_LAMBDA) -> Claim:
    """λD = 100 vs the StyleGAN2 baseline: quality metric and PPL both lower beyond noise
    (`_clearly_lower`) → reproduced; one of the two → partly; neither → not reproduced."""
    quality, path_length = metric_columns(table)
    claim, source = published.CLAIMS["table2_vs_baseline"], "Table 2"
    pb, pc = published.TABLE2[None], published.TABLE2[chosen]
    paper_text = f"FID {pc['fid']} vs {pb['fid']}; PPL {pc['ppl']} vs {pb['ppl']}"
    base = table[table["model"] == "stylegan2"] if "model" in table.columns else table.iloc[:0]
    rc = _row(table, float(chosen))
    if base.empty or rc is None:
        return _not_measured(claim, paper_text, f"needs the baseline and λD = {chosen:g} rows", source)
    b = base.iloc[0]
    if any(math.isnan(v) for v in (b[quality], b[path_length], rc[quality], rc[path_length])):
        return _not_measured(claim, paper_text, "a needed number is NaN", source)
    comparisons = [f"{LABELS[m]} {_fmt(rc[m])} vs {_fmt(b[m])} ({rc[m] / b[m] - 1:+.0%})"
                   for m in (quality, path_length)]
    better = sum(int(_clearly_lower(rc[m], b[m], _se(rc, m), _se(b, m))) for m in (quality, path_length))
    verdict = {2: "reproduced", 1: "partly", 0: "not reproduced"}[better]
    reason = (f"λD = {chosen:g} vs StyleGAN2: {'; '.join(comparisons)} — better in {better} of 2; rule: lower by "
              f"more than 2 SE in both → reproduced, in one → partly")
    return Claim(claim, paper_text, "; ".join(comparisons), verdict, reason, source)


def ppl_trend_claim(table: pd.DataFrame) -> Claim:
    """PPL falls as λD grows: Spearman ρ(λD, PPL) over the SSN rows ≤ −0.8 → reproduced; ρ < 0 →
    partly; else not reproduced. Both need PPL at the largest λD lower than at the smallest beyond
    noise (`_clearly_lower`); ≥ 3 values of λD are needed."""
    _, path_length = metric_columns(table)
    label = LABELS[path_length]
    claim, source = published.CLAIMS["table2_ppl"], "Table 2"
    lams = published.TABLE2_LAMBDAS
    rho_paper = _spearman(lams, [published.TABLE2[lam]["ppl"] for lam in lams])
    paper_text = f"PPL {' → '.join(str(published.TABLE2[lam]['ppl']) for lam in lams)} (ρ = {rho_paper:.2f})"
    rows = _ssn_rows(table).dropna(subset=[path_length])
    if len(rows) < 3:
        return _not_measured(claim, paper_text, f"needs ≥ 3 values of λD, got {len(rows)}", source)
    rho = _spearman(rows["lambda_d"], rows[path_length])
    lo, hi = rows.iloc[0], rows.iloc[-1]
    first, last = lo[path_length], hi[path_length]
    steps = " → ".join(f"{_fmt(v)} (λD {lam:g})" for lam, v in zip(rows["lambda_d"], rows[path_length]))
    ours = f"{label} {steps} (ρ = {rho:.2f})"
    falls = _clearly_lower(last, first, _se(hi, path_length), _se(lo, path_length))
    if falls and rho <= -RHO_STRONG:
        verdict = "reproduced"
    elif falls and rho < 0:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    reason = (f"ρ(λD, {label}) = {rho:.2f}, {label} {_fmt(first)} at λD {rows['lambda_d'].iloc[0]:g} → "
              f"{_fmt(last)} at λD {rows['lambda_d'].iloc[-1]:g} ({last / first - 1:+.0%}); rule: a fall of "
              f"more than 2 SE with ρ ≤ −{RHO_STRONG}, partly with ρ < 0 (the paper: ρ = {rho_paper:.2f}, "
              f"{published.TABLE2[lams[-1]]['ppl'] / published.TABLE2[lams[0]]['ppl'] - 1:+.0%})")
    return Claim(claim, paper_text, ours, verdict, reason, source)


def tradeoff_claim(table: pd.DataFrame) -> Claim:
    """Figure 5: distortion falls — ρ(λD, distortion) ≤ −0.8 and distortion at the largest λD below
    that at the smallest by more than two standard errors — and quality worsens — ρ(λD, quality)
    ≥ 0.8 and the largest λD's quality metric above the smallest's beyond noise → reproduced;
    one of the two → partly; neither → not reproduced (≥ 3 values of λD needed)."""
    quality, _ = metric_columns(table)
    label = LABELS[quality]
    claim, source = published.CLAIMS["figure5_tradeoff"], "Figure 5, Table 2"
    lams = published.TABLE2_LAMBDAS
    rho_d_paper = _spearman(lams, [published.TABLE2[lam]["distortion"] for lam in lams])
    rho_q_paper = _spearman(lams, [published.TABLE2[lam]["fid"] for lam in lams])
    paper_text = f"ρ(λD, distortion) = {rho_d_paper:.2f}, ρ(λD, FID) = {rho_q_paper:.2f}"
    rows = _ssn_rows(table).dropna(subset=[quality, "distortion"])
    if len(rows) < 3:
        return _not_measured(claim, paper_text, f"needs ≥ 3 values of λD, got {len(rows)}", source)
    rho_d = _spearman(rows["lambda_d"], rows["distortion"])
    rho_q = _spearman(rows["lambda_d"], rows[quality])
    lam_list = ", ".join(f"{lam:g}" for lam in rows["lambda_d"])
    ours = f"ρ(λD, distortion) = {rho_d:.2f}, ρ(λD, {label}) = {rho_q:.2f} over λD = {lam_list}"
    lo, hi = rows.iloc[0], rows.iloc[-1]
    d_drop, two_se = lo["distortion"] - hi["distortion"], 2 * math.hypot(lo["distortion_se"], hi["distortion_se"])
    falls = rho_d <= -RHO_STRONG and d_drop > two_se
    worsens = rho_q >= RHO_STRONG and _clearly_lower(lo[quality], hi[quality], _se(lo, quality), _se(hi, quality))
    verdict = {2: "reproduced", 1: "partly", 0: "not reproduced"}[int(falls) + int(worsens)]
    reason = (f"distortion {'falls' if falls else 'does not fall'} (ρ = {rho_d:.2f}, drop {_fmt(d_drop)} vs 2 SE "
              f"{_fmt(two_se)}); {label} {'worsens' if worsens else 'does not worsen'} (ρ = {rho_q:.2f}, "
              f"{hi[quality] / lo[quality] - 1:+.0%}); rule: ρ ≤ −{RHO_STRONG} with a drop beyond 2 SE, "
              f"ρ ≥ {RHO_STRONG} with a rise beyond 2 SE; both → reproduced, one → partly")
    return Claim(claim, paper_text, ours, verdict, reason, source)


def large_lambda_claim(table: pd.DataFrame, lambdas: Sequence[float] = (1000.0, 10000.0)) -> Claim:
    """λD ≥ 1000 destroys quality: ratio r = quality(λD) / quality(0) for each of `lambdas`. Every
    r ≥ 2 → reproduced (the paper: ×5.5 and ×10.5 in FID); every r ≥ 1.25 → partly; else not
    reproduced. Each rise must exceed two combined standard errors (`_clearly_lower`)."""
    quality, _ = metric_columns(table)
    label = LABELS[quality]
    claim, source = published.CLAIMS["table2_large_lambda"], "Table 2"
    p0 = published.TABLE2[0]
    paper_text = "; ".join(f"λD = {lam:g}: FID {fid} (×{fid / p0['fid']:.1f})"
                           for lam in lambdas if lam in published.TABLE2 for fid in [published.TABLE2[lam]["fid"]])
    r0 = _row(table, 0.0)
    rows = [(lam, _row(table, float(lam))) for lam in lambdas]
    if r0 is None or any(r is None for _, r in rows):
        return _not_measured(claim, paper_text, f"needs the λD = 0 and λD = {', '.join(f'{x:g}' for x in lambdas)} "
                             "rows", source)
    ratios = {lam: r[quality] / r0[quality] for lam, r in rows}
    rises = {lam: _clearly_lower(r0[quality], r[quality], _se(r0, quality), _se(r, quality)) for lam, r in rows}
    ours = "; ".join(f"λD = {lam:g}: {label} {_fmt(r[quality])} vs {_fmt(r0[quality])} (×{ratios[lam]:.2f})"
                     for lam, r in rows)
    worst = min(ratios.values())
    if all(rises.values()) and worst >= DESTROYED:
        verdict = "reproduced"
    elif all(rises.values()) and worst >= DAMAGED:
        verdict = "partly"
    else:
        verdict = "not reproduced"
    reason = (f"smallest ratio ×{worst:.2f}; rule: every λD ≥ 1000 at ≥ ×{DESTROYED:g} the λD = 0 {label} → "
              f"reproduced, ≥ ×{DAMAGED:g} → partly, rises beyond 2 SE")
    return Claim(claim, paper_text, ours, verdict, reason, source)


def table2_claims(table: pd.DataFrame) -> list[Claim]:
    """The claims of Table 2 and Figure 5, in the paper's order."""
    return [lambda100_claim(table), baseline_claim(table), large_lambda_claim(table), ppl_trend_claim(table),
            tradeoff_claim(table)]


def frontier_quality(curve: pd.DataFrame, quality: str, distortion: float) -> float:
    """The λD curve's best quality metric at no more than `distortion` (below the curve's range:
    the quality of its lowest-distortion model)."""
    ok = curve[curve["distortion"] <= distortion]
    if ok.empty:
        return float(curve.loc[curve["distortion"].idxmin(), quality])
    return float(ok[quality].min())


def appendix_b_claim(table: pd.DataFrame, tolerance: float = APPENDIX_B_TOLERANCE) -> Claim:
    """Appendix B: an eq. 15 model beats the λD curve if quality < (1 − tolerance) ×
    `frontier_quality(curve, its distortion)`. None beats it → reproduced (the paper's negative
    result); any does → not reproduced."""
    quality, _ = metric_columns(table)
    label = LABELS[quality]
    claim, source = published.CLAIMS["appendix_b"], "Appendix B.1"
    paper_text = (f"γ+ = {published.APPENDIX_B_GAMMA_PLUS:g}, γ− = {published.APPENDIX_B_GAMMA_MINUS:g}, weights "
                  f"{', '.join(str(w) for w in published.APPENDIX_B_WEIGHTS)}: no quality gain at any distortion")
    curve = table[table["regularizer"] == "lambda_d"].dropna(subset=[quality, "distortion"])
    eq15 = table[table["regularizer"] == "eq15"].dropna(subset=[quality, "distortion"])
    if curve.empty or eq15.empty:
        return _not_measured(claim, paper_text, "needs λD rows and eq. 15 rows", source)
    parts, margins = [], {}
    for _, r in eq15.iterrows():
        front = frontier_quality(curve, quality, r["distortion"])
        margins[f"{r['weight']:g}"] = 1 - r[quality] / front  # > 0: better than the curve
        parts.append(f"w {r['weight']:g}: distortion {_fmt(r['distortion'])}, {label} {_fmt(r[quality])} "
                     f"(λD curve {_fmt(front)})")
    beats = [w for w, m in margins.items() if m > tolerance]
    best = max(margins, key=margins.get)
    verdict = "not reproduced" if beats else "reproduced"
    reason = (f"largest gain over the λD curve {margins[best]:+.0%} (w {best}); rule: an eq. 15 model beats the "
              f"curve if > {tolerance:.0%} better in {label} than the best λD model with no more distortion — "
              + (f"beaten at weight(s) {', '.join(beats)}" if beats else "none does")
              + _spread_text(curve.rename(columns={"weight": "lambda_d"})))
    return Claim(claim, paper_text, "; ".join(parts), verdict, reason, source)


def locality_claim(measured: pd.DataFrame, area: float, claim: str, source: str, note: str = "") -> Claim:
    """Figures 6 and 7, "the resamples change mostly locally", from a `figures.change_table` of
    resamples of blocks that cover the fraction `area` of the image: mean locality above ½ by two
    standard errors → reproduced; above `area` by two → partly (more change inside than the
    blocks' size explains); else not reproduced. `note` is appended to the reason."""
    share, share_se = measured.locality.mean(), measured.locality.sem()
    if share - 2 * share_se > 0.5:
        verdict, reason = "reproduced", "most of the change energy lies inside the resampled blocks"
    elif share - 2 * share_se > area:
        verdict = "partly"
        reason = f"more change inside the blocks than their area ({area:.0%}) explains, but not most of it"
    else:
        verdict = "not reproduced"
        reason = f"the change is not concentrated in the blocks (they cover {area:.0%} of the image)"
    ours = (f"locality {share:.3f} ± {share_se:.3f}; distortion {_fmt(measured.distortion.mean())} vs in-block "
            f"{_fmt(measured.in_block.mean())} (blocks {area:.0%} of the image; {len(measured)} resamples)")
    return Claim(claim, "mostly local changes (pictures)", ours, verdict, reason + note, source)
