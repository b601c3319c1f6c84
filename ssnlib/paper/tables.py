"""Tables 1 and 2 and the Appendix-B comparison, measured from a `ModelZoo`.

    zoo = ModelZoo("cpu", "faces")
    t2 = table2(zoo, published.TABLE2_LAMBDAS)    # columns: model, lambda_d, train_kimg, fd_proc, ppl_proc, …
    claims = verdicts.table2_claims(t2)       # [Claim(...), ...]

Column names are the metrics actually computed: `fd_proc` / `ppl_proc` (the offline proxies) at the
`ci` / `cpu` / `gpu` presets, `fid` / `ppl` (the canonical metrics) at `paper` — never relabelled.
The paper's numbers are always FID / PPL and always sit in `paper_*` columns.

The verdict rules live in `ssnlib.paper.verdicts`.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable, Mapping, Sequence

import pandas as pd

from ..evaluate import SAMPLE_METRICS, EvalSettings, evaluate_cached, evaluate_real
from . import published
from .presets import get_preset
from .zoo import REPLICATED_LAMBDAS

logger = logging.getLogger(__name__)

BLOCK_COLUMNS = ("distortion", "distortion_se", "in_block", "in_block_se", "locality", "locality_se")
QUALITY_METRICS = ("fid", "fd_proc")
PATH_LENGTH_METRICS = ("ppl", "ppl_proc")


# ------------------------------------------------------------------ measuring


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
        return zoo.stylegan2_kimg()
    config, _, bases = zoo.ssn_config(**variant)
    chain = [config, *(base for base, _ in bases)]
    given = 0.0  # a given StyleGAN2 run's images, when the chain starts from its checkpoint
    checkpoint = None if zoo.spec.pretrained else zoo.stylegan2_checkpoint
    if checkpoint and checkpoint in [c.init_from for c in chain]:
        given = zoo.stylegan2_kimg()
    return float(sum(c.kimg for c in chain) + given)


def _measure(zoo, path, metrics: tuple[str, str], settings: EvalSettings, block_metrics: bool,
             precision_recall: bool = False) -> dict[str, float]:
    """The metrics (value and standard error) of the zoo file `path`, through the evaluation cache
    (`path` None: held-out real images against the reference set, `evaluate_real`)."""
    names = list(metrics) + (["distortion"] if block_metrics else []) + (["prc_proc"] if precision_recall else [])
    if path is None:  # real images: no value for the metrics that need a latent code
        results = {m: math.nan for m in names if m not in SAMPLE_METRICS}
        results.update(evaluate_real([m for m in names if m in SAMPLE_METRICS], settings))
    else:
        results = evaluate_cached(path, lambda: zoo.load(path), names, settings)
    row = {}
    for m in metrics:
        row.update({m: float(results[m]), f"{m}_se": float(results.get(f"{m}_se", math.nan))})
    if block_metrics:
        row.update({c: float(results.get(c, math.nan)) for c in BLOCK_COLUMNS})
    if precision_recall:
        row.update(precision_proc=float(results["prc_proc_precision"]), recall_proc=float(results["prc_proc_recall"]))
    return row


def _table1_kimg(zoo, model: str) -> float:
    if model in ("untrained", "real"):
        return 0.0 if model == "untrained" else math.nan
    return train_kimg(zoo, from_scratch=True) if model == "ssn_from_scratch" else train_kimg(zoo, model)


def table1(zoos: Mapping[str, object], settings: Mapping[str, EvalSettings] | None = None,
           metrics: Sequence[str] | None = None, seeds: Iterable[int] = ()) -> pd.DataFrame:
    """Table 1: StyleGAN2 vs SSN (λD = 0, transferred from that StyleGAN2 as in §3.4) per dataset.
    `zoos` maps a dataset label ("faces", "churches") to its `ModelZoo`; `settings` per label
    (default `eval_settings(zoo)`). Below the paper preset each dataset also gets an
    `ssn_from_scratch` row (the SSN trained exactly like the baseline: the equal-budget comparison
    the paper did not make), an `untrained` row (the SSN before its first step) and a `real` row
    (n_fd held-out real images against the reference set): the yardsticks of how much the trained
    models learned, from nothing to the floor. For each extra seed in `seeds`, an independent
    replicate (`ModelZoo.replicate`) of the transferred SSN — and of the StyleGAN2 unless it is a
    given base — adds its rows, measured against the same reference (`over_seeds` averages them).
    Columns: dataset, model, seed, train_kimg, <quality>(_se), <path length>(_se), precision_proc and
    recall_proc (ProcNet features, Kynkäänniemi et al., k = 3; where the quality metric is FD-proc),
    resampling (✓/✗/—), paper_fid, paper_ppl."""
    rows = []
    for dataset, zoo in zoos.items():
        quality, path_length = _check_metrics(metrics or zoo.spec.metrics)
        s = (settings or {}).get(dataset) or eval_settings(zoo)
        models = [(zoo, "stylegan2", zoo.stylegan2_file()), (zoo, "ssn", zoo.ssn_file())]
        if not zoo.spec.pretrained:
            models += [(zoo, "ssn_from_scratch", zoo.ssn_file(from_scratch=True)),
                       (zoo, "untrained", zoo.untrained_file()), (zoo, "real", None)]
        for replicate in (zoo.replicate(seed) for seed in seeds):
            if not replicate.stylegan2_checkpoint:
                models.append((replicate, "stylegan2", replicate.stylegan2_file()))
            models.append((replicate, "ssn", replicate.ssn_file()))
        can_resample = "✓" if math.prod(zoo.config().grid) > 1 else "✗"
        for trained, model, path in models:
            seed = trained.config().seed
            logger.info("Table 1: %s %s (seed %d)", dataset, model, seed)
            resampling = {"stylegan2": "✗", "ssn": can_resample, "ssn_from_scratch": can_resample}.get(model, "—")
            measured = _measure(trained, path, (quality, path_length), s, block_metrics=False,
                                precision_recall=quality == "fd_proc")
            row = {"dataset": dataset, "model": model, "seed": seed, "train_kimg": _table1_kimg(trained, model),
                   **measured, "resampling": resampling}
            ref = published.TABLE1.get(dataset, {}).get(model, {})
            row.update(paper_fid=ref.get("fid", math.nan), paper_ppl=ref.get("ppl", math.nan))
            rows.append(row)
    return pd.DataFrame(rows)


def _lambda_rows(zoo, lambdas: Iterable[float], metrics: tuple[str, str], settings: EvalSettings,
                 label: str, grid: tuple[int, int] = (4, 4)) -> list[dict]:
    """One row per λD: the fine-tuned SSNs — λD = 0 included (`finetuned=True`), so every row
    has trained equally long."""
    rows, seed = [], zoo.config().seed
    for lam in lambdas:
        logger.info("%s: λD=%s (seed %d)", label, lam, seed)
        variant = dict(lambda_d=float(lam), finetuned=True, grid=tuple(grid))
        rows.append({"lambda_d": float(lam), "seed": seed, "train_kimg": train_kimg(zoo, **variant),
                     **_measure(zoo, zoo.ssn_file(**variant), metrics, settings, block_metrics=True)})
    return rows


def table2(zoo, lambdas: Iterable[float] = published.TABLE2_LAMBDAS, settings: EvalSettings | None = None,
           metrics: Sequence[str] | None = None, baseline: bool = True, grid: tuple[int, int] = (4, 4),
           seeds: Iterable[int] = (), replicate_lambdas: Iterable[float] = REPLICATED_LAMBDAS
           ) -> pd.DataFrame:
    """Table 2: the λD ablation (plus the StyleGAN2 baseline row, λD = NaN, if `baseline`), of the
    SSNs with `grid` blocks (the paper's 4×4 by default), one row per λD and seed: the zoo's own
    and, for the λD in `replicate_lambdas`, one independent replicate per extra seed in `seeds`
    (`ModelZoo.replicate`: the SSN's transfer and fine-tunes again; the StyleGAN2 baseline too
    unless it is a given base). Every row is measured against the zoo's own reference images
    (`settings`). `over_seeds` makes one row per λD of it, with the spread between the seeds.
    Columns: model, lambda_d, lambda_d_scale (the regularizer's scale, `losses.DISTORTION_SCALES`),
    seed, train_kimg, <quality>(_se), <path length>(_se), distortion(_se), in_block(_se),
    locality(_se), paper_fid, paper_ppl, paper_distortion."""
    quality, path_length = _check_metrics(metrics or zoo.spec.metrics)
    settings = settings or eval_settings(zoo)
    lambdas = [float(lam) for lam in lambdas]
    replicated = [lam for lam in lambdas if lam in {float(r) for r in replicate_lambdas}]
    rows = []
    for replicate in [zoo, *(zoo.replicate(seed) for seed in seeds)]:
        if baseline and (replicate is zoo or not replicate.stylegan2_checkpoint):
            logger.info("Table 2: StyleGAN2 baseline (seed %d)", replicate.config().seed)
            rows.append({"model": "stylegan2", "lambda_d": math.nan, "seed": replicate.config().seed,
                         "train_kimg": train_kimg(replicate, "stylegan2"),
                         **_measure(replicate, replicate.stylegan2_file(), (quality, path_length), settings,
                                    block_metrics=True)})
        rows += [{"model": "ssn", **r} for r in _lambda_rows(replicate, lambdas if replicate is zoo else replicated,
                                                              (quality, path_length), settings, "Table 2", grid)]
    for row in rows:
        ref = published.table2_paper(None if row["model"] == "stylegan2" else row["lambda_d"])
        row.update(paper_fid=ref["fid"], paper_ppl=ref["ppl"], paper_distortion=ref["distortion"])
    table = pd.DataFrame(rows)
    table.insert(2, "lambda_d_scale", zoo.config(model="ssn").lambda_d_scale)  # which of eq. 2's sums λD weighs
    return table


def appendix_b(zoo, weights: Iterable[float], settings: EvalSettings | None = None,
               metrics: Sequence[str] | None = None,
               lambdas: Iterable[float] = published.TABLE2_LAMBDAS) -> pd.DataFrame:
    """Appendix B: SSNs fine-tuned with eq. 15 (γ± as the zoo's config, the paper's 1 and 0.1 by
    default) in place of StyleGAN2's path-length term, at each weight, beside the λD curve.
    Columns: regularizer ("lambda_d" / "eq15"), weight (λD or the eq. 15 weight), eq15_scale
    (`losses.EQ15_SCALES`), seed, train_kimg,
    gamma_plus, gamma_minus, <quality>(_se), <path length>(_se), distortion(_se), in_block(_se),
    locality(_se)."""
    metrics = _check_metrics(metrics or zoo.spec.metrics)
    settings = settings or eval_settings(zoo)
    rows = [{"regularizer": "lambda_d", "weight": r.pop("lambda_d"), "seed": r.pop("seed"),
             "train_kimg": r.pop("train_kimg"), "gamma_plus": math.nan, "gamma_minus": math.nan, **r}
            for r in _lambda_rows(zoo, lambdas, metrics, settings, "Appendix B")]
    for weight in weights:
        logger.info("Appendix B: eq. 15 weight %s", weight)
        variant = dict(pl_kind="low_distortion", pl_weight=weight)
        config = zoo.ssn_config(**variant)[0]
        rows.append({"regularizer": "eq15", "weight": float(weight), "seed": config.seed,
                     "train_kimg": train_kimg(zoo, **variant),
                     "gamma_plus": config.gamma_plus, "gamma_minus": config.gamma_minus,
                     **_measure(zoo, zoo.ssn_file(**variant), metrics, settings, block_metrics=True)})
    table = pd.DataFrame(rows)
    table.insert(2, "eq15_scale", zoo.config(model="ssn").eq15_scale)  # which of eq. 15's sums the weights weigh
    return table


# ------------------------------------------------------------------ reading a table

SEED_SPREAD = ("fid", "fd_proc", "ppl", "ppl_proc", "distortion")  # metrics whose spread over seeds gets a column
GROUP_KEYS = ("dataset", "model", "regularizer", "lambda_d", "weight")
MEASURED = (*QUALITY_METRICS, *PATH_LENGTH_METRICS, "distortion", "in_block", "locality", "precision_proc",
            "recall_proc")  # the columns `over_seeds` averages


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model and λD (per dataset / regularizer and weight where the table has them) of
    a table with a `seed` column: each metric averaged over the seeds, its standard error that of
    the mean (√Σse² / n: sampling noise only), `n_seeds`, and `<metric>_seed_spread` — the highest
    minus the lowest seed's value (NaN for one seed): the training noise the standard errors leave
    out. Other columns keep the first seed's value. A table without `seed` is returned as it is."""
    if "seed" not in table.columns:
        return table
    keys = [c for c in GROUP_KEYS if c in table.columns]
    measured = [c for c in MEASURED if c in table.columns]
    errors = [f"{m}_se" for m in measured if f"{m}_se" in table.columns]
    rows = []
    for _, group in table.groupby(keys, dropna=False, sort=False):
        row = group.iloc[0].drop("seed").to_dict()
        n = len(group)
        row.update({m: group[m].mean(skipna=False) for m in measured})
        row.update({e: math.sqrt((group[e] ** 2).sum(min_count=n)) / n for e in errors})  # NaN if one is
        row["n_seeds"] = n
        for m in SEED_SPREAD:
            if m in group.columns:
                row[f"{m}_seed_spread"] = group[m].max() - group[m].min() if n > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def metric_columns(table: pd.DataFrame) -> tuple[str, str]:
    """The (quality, path length) columns a measured table carries."""
    quality = [c for c in QUALITY_METRICS if c in table.columns]
    path_length = [c for c in PATH_LENGTH_METRICS if c in table.columns]
    if len(quality) != 1 or len(path_length) != 1:
        raise ValueError(f"expected one quality column of {QUALITY_METRICS} and one path-length column of "
                         f"{PATH_LENGTH_METRICS}, got columns {list(table.columns)}")
    return quality[0], path_length[0]


def ssn_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The SSN rows by λD, averaged over the seeds of a table with replicates (`over_seeds`)."""
    table = over_seeds(table)
    rows = table[table["model"] == "ssn"] if "model" in table.columns else table
    return rows.sort_values("lambda_d")


def lambda_row(table: pd.DataFrame, lambda_d: float) -> pd.Series | None:
    rows = ssn_rows(table)
    found = rows[rows["lambda_d"] == lambda_d]
    return None if found.empty else found.iloc[0]


def relative_to_unregularized(table: pd.DataFrame) -> pd.DataFrame:
    """Each SSN row against λD = 0 (§4's reasoning for λD = 100): distortion_cut = distortion(0) /
    distortion(λD), quality_cost = quality(λD) / quality(0), path_length_ratio = PPL(λD) / PPL(0),
    and the paper's same three ratios (paper_distortion_cut, paper_fid_cost, paper_ppl_ratio)."""
    quality, path_length = metric_columns(table)
    rows = ssn_rows(table)
    r0 = lambda_row(table, 0.0)
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


def fit_lambda_scale(ours: Mapping[float, float], paper: Mapping[float, float],
                     factors: Sequence[float] | None = None) -> tuple[float, float, int]:
    """Where the paper's λD land on our scale: the factor s for which our distortion cut at
    λD = s·λ_paper best matches the paper's cut at λ_paper (cut = distortion(0) / distortion(λD)).
    Our curve is interpolated linearly in (log λD, log cut); only the paper's λD that s maps inside
    our measured range count, at least two. `factors`: the candidates (default 10^-2 … 10^4, 601
    log-spaced). Returns (s, RMS of the log10 cut difference, points compared); with eq. 2 read as
    a sum over the 16 blocks b ≠ a, s would be 15 (one a per sample) or 240 (the double sum)."""
    import numpy as np

    ours = {float(k): float(v) for k, v in ours.items() if k > 0 and v > 0}
    paper = {float(k): float(v) for k, v in paper.items() if k > 0 and v > 0}
    if len(ours) < 2 or len(paper) < 2:
        raise ValueError(f"need at least two λD > 0 on each curve, got {len(ours)} ours and {len(paper)} the paper's")
    x, y = np.log10(sorted(ours)), np.log10([ours[k] for k in sorted(ours)])
    grid = np.logspace(-2, 4, 601) if factors is None else np.asarray(factors, dtype=float)
    best = (math.nan, math.inf, 0)
    for s in grid:
        at = np.log10([s * k for k in paper])
        inside = (at >= x[0]) & (at <= x[-1])
        if inside.sum() < 2:
            continue
        diff = np.interp(at[inside], x, y) - np.log10(list(paper.values()))[inside]
        rms = float(np.sqrt(np.mean(diff ** 2)))
        if rms < best[1]:
            best = (float(s), rms, int(inside.sum()))
    if math.isnan(best[0]):
        raise ValueError("no candidate factor maps two of the paper's λD into our measured range")
    return best
