"""Table builders (columns, paper numbers), claim verdict rules and plots, on stand-in models and
fixed metric values: no training and no feature network."""

import math

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from ssnlib.paper import plots, published, tables, verdicts  # noqa: E402
from ssnlib.paper.presets import get_preset  # noqa: E402
from ssnlib.paper.zoo import ModelZoo  # noqa: E402

SETTINGS = get_preset("ci").eval_settings(dataset="faces", resolution=16)


class Stub:
    """A stand-in generator: the numbers a monkeypatched evaluation returns for it."""

    def __init__(self, grid, **numbers):
        if grid is not None:
            self.grid = grid
        self.numbers = numbers


def fake_evaluate(G, metrics, settings):
    out = {}
    for name in metrics:
        if name == "distortion":
            for c in tables.BLOCK_COLUMNS:
                out[c] = G.numbers.get(c, math.nan)
        elif name == "prc_proc":
            out.update(prc_proc_precision=G.numbers.get("precision", 0.5), prc_proc_recall=G.numbers.get("recall", 0.4))
        else:
            out[name] = G.numbers[name]
    return out


def numbers(quality, path_length, distortion=math.nan, **extra):
    both = {"fd_proc": quality, "fid": quality, "ppl_proc": path_length, "ppl": path_length}
    block = {"distortion": distortion, "distortion_se": 0.1 * distortion, "in_block": 0.5, "in_block_se": 0.01,
             "locality": 0.6, "locality_se": 0.01}
    return {**both, **block, **extra}


@pytest.fixture()
def zoo(monkeypatch):
    """A real ci ModelZoo whose model files are stubs: distortion 0.03 / (1 + λD), quality 10 (1 + λD / 100).
    `zoo.requested` records every SSN variant asked for."""
    monkeypatch.setattr(tables, "evaluate_cached", lambda path, load, metrics, settings: fake_evaluate(
        load(), metrics, settings))
    monkeypatch.setattr(tables, "evaluate_real", lambda metrics, settings: fake_evaluate(
        Stub(None, fd_proc=1.5, fd_proc_se=0.1, fid=1.5, precision=0.95, recall=0.96), metrics, settings))
    zoo = ModelZoo("ci", "faces")
    zoo.requested = []

    def ssn_file(lambda_d=0.0, pl_kind="plain", pl_weight=None, finetuned=False, from_scratch=False, grid=(4, 4)):
        zoo.requested.append(dict(lambda_d=lambda_d, pl_kind=pl_kind, finetuned=finetuned))
        if from_scratch:
            return Stub((4, 4), **numbers(16.0, 11.0))
        if pl_kind == "low_distortion":
            return Stub((4, 4), **numbers(30.0, 5.0, 0.001 * pl_weight))
        return Stub((4, 4), **numbers(10 * (1 + lambda_d / 100), 10 / (1 + lambda_d), 0.03 / (1 + lambda_d)))

    monkeypatch.setattr(zoo, "ssn_file", ssn_file)
    monkeypatch.setattr(zoo, "stylegan2_file", lambda: Stub(None, **numbers(14.0, 12.0)))
    monkeypatch.setattr(zoo, "untrained_file", lambda: Stub((4, 4), **numbers(100.0, 50.0)))
    monkeypatch.setattr(zoo, "load", lambda stub: stub)
    return zoo


def test_paper_numbers_are_the_papers():
    assert published.TABLE1["faces"]["stylegan2"] == {"fid": 19.76, "ppl": 137.33, "resampling": False}
    assert published.TABLE1["churches"]["ssn"]["fid"] == 8.68 and published.TABLE1["churches"]["ssn"]["ppl"] == 282.75
    assert published.TABLE2[100] == {"fid": 15.24, "ppl": 83, "distortion": 0.0043}
    assert published.TABLE2[10000]["fid"] == 128.99 and published.TABLE2[1000]["distortion"] == 0.0004
    assert math.isnan(published.table2_paper(None)["distortion"]) and published.table2_paper(None)["fid"] == 19.76
    assert published.table2_paper(100.0)["ppl"] == 83 and math.isnan(published.table2_paper(5)["fid"])
    assert (published.APPENDIX_B_GAMMA_PLUS, published.APPENDIX_B_GAMMA_MINUS) == (1.0, 0.1)
    assert published.APPENDIX_B_WEIGHTS == (200000, 20000, 2000, 200, 20, 2)


def test_table1_columns_and_resampling(zoo):
    t1 = tables.table1({"faces": zoo}, {"faces": SETTINGS})
    assert list(t1.columns) == ["dataset", "model", "seed", "train_kimg", "fd_proc", "fd_proc_se", "ppl_proc",
                                "ppl_proc_se", "precision_proc", "recall_proc", "resampling", "paper_fid", "paper_ppl"]
    assert list(t1["model"]) == ["stylegan2", "ssn", "ssn_from_scratch", "untrained", "real"]
    assert list(t1["resampling"]) == ["✗", "✓", "✓", "—", "—"]
    assert list(t1["paper_fid"])[:2] == [19.76, 12.24] and t1["paper_fid"][2:].isna().all()
    # ci: StyleGAN2 0.2 kimg; the SSN is transferred from it and trained 0.1 more; from scratch 0.2
    assert list(t1["fd_proc"]) == [14.0, 10.0, 16.0, 100.0, 1.5]
    assert list(t1["train_kimg"])[:4] == pytest.approx([0.2, 0.3, 0.2, 0.0]) and math.isnan(t1["train_kimg"][4])
    assert list(t1["precision_proc"]) == [0.5] * 4 + [0.95] and t1["recall_proc"][4] == 0.96
    assert math.isnan(t1["ppl_proc"][4])  # real images have no latent: no path length
    claim = verdicts.table1_claim(t1)
    assert "FD-proc 10 vs 14 (×0.71), SSN from scratch 16 (×1.14), untrained 100, real vs real 1.5" in claim.ours


def test_proxy_columns_are_never_named_fid_or_ppl(zoo):
    t2 = tables.table2(zoo, [0, 100], SETTINGS)
    assert {"fid", "ppl"}.isdisjoint(t2.columns)
    assert {"fd_proc", "ppl_proc", "paper_fid", "paper_ppl"} <= set(t2.columns)
    canonical = tables.table2(zoo, [0, 100], SETTINGS, metrics=("fid", "ppl"))
    assert {"fid", "ppl"} <= set(canonical.columns) and "fd_proc" not in canonical.columns
    assert get_preset("paper").metrics == ("fid", "ppl") and get_preset("ci").metrics == ("fd_proc", "ppl_proc")
    with pytest.raises(ValueError, match="quality, path length"):
        tables.table2(zoo, [0], SETTINGS, metrics=("ppl", "fid"))


def test_table2_columns_rows_and_paper_numbers(zoo):
    t2 = tables.table2(zoo, [0, 100, 10000], SETTINGS)
    assert list(t2.columns) == ["model", "lambda_d", "lambda_d_scale", "seed", "train_kimg", "fd_proc", "fd_proc_se",
                                "ppl_proc", "ppl_proc_se",
                                *tables.BLOCK_COLUMNS, "paper_fid", "paper_ppl", "paper_distortion"]
    # ci: 0.2 kimg StyleGAN2 + 0.1 kimg transferred SSN + 0.1 kimg fine-tunes; the λD = 0 row is the
    # equal-length fine-tune, not the base
    assert list(t2["train_kimg"]) == pytest.approx([0.2, 0.4, 0.4, 0.4])
    assert [r["finetuned"] for r in zoo.requested] == [True, True, True]
    assert list(t2["model"]) == ["stylegan2", "ssn", "ssn", "ssn"] and math.isnan(t2["lambda_d"][0])
    assert t2["paper_distortion"].iloc[2] == 0.0043 and t2["paper_fid"].iloc[0] == 19.76
    assert t2["distortion"].iloc[2] == pytest.approx(0.03 / 101)


def test_appendix_b_table_records_gammas(zoo):
    tb = tables.appendix_b(zoo, [2, 20], SETTINGS, lambdas=[0, 100])
    assert list(tb["regularizer"]) == ["lambda_d", "lambda_d", "eq15", "eq15"]
    assert list(tb["weight"]) == [0, 100, 2, 20]
    gammas = tb.loc[tb.regularizer == "eq15", ["gamma_plus", "gamma_minus"]].drop_duplicates()
    assert gammas.values.tolist() == [[1.0, 0.1]]


def t2_table(rows, baseline=(14.0, 12.0)):
    """A Table 2 from (λD, quality, ppl, distortion) tuples, plus a baseline row."""
    data = [{"model": "stylegan2", "lambda_d": math.nan, "fd_proc": baseline[0], "ppl_proc": baseline[1],
             **{c: math.nan for c in tables.BLOCK_COLUMNS}}]
    for lam, q, p, d in rows:
        data.append({"model": "ssn", "lambda_d": float(lam), "fd_proc": q, "ppl_proc": p, "distortion": d,
                     "distortion_se": 0.01 * d, "in_block": 0.5, "in_block_se": 0.01, "locality": 0.6,
                     "locality_se": 0.01})
    return pd.DataFrame(data)


def test_lambda100_rule():
    meets = verdicts.lambda100_claim(t2_table([(0, 10.0, 9, 0.03), (100, 14.0, 5, 0.005)]))  # ÷6 at ×1.4
    assert meets.verdict == "reproduced" and "÷6" in meets.reason and "×1.40" in meets.reason
    weaker = verdicts.lambda100_claim(t2_table([(0, 10.0, 9, 0.03), (100, 25.0, 5, 0.01)]))  # ÷3 at ×2.5
    assert weaker.verdict == "partly"
    fails = verdicts.lambda100_claim(t2_table([(0, 10.0, 9, 0.03), (100, 40.0, 5, 0.005)]))  # ÷6 at ×4
    assert fails.verdict == "not reproduced" and "×4.00" in fails.reason
    noisy = t2_table([(0, 10.0, 9, 0.03), (100, 11.0, 5, 0.003)])
    noisy.loc[noisy.lambda_d == 0, "distortion_se"] = 0.02  # a ÷10 cut inside two standard errors
    assert verdicts.lambda100_claim(noisy).verdict == "not reproduced"
    assert verdicts.lambda100_claim(t2_table([(0, 10.0, 9, 0.03)])).verdict == "not measured"
    assert "span" not in meets.reason  # one run at λD ≤ 10: no spread to quote


def test_lambda100_claim_quotes_the_spread_of_the_small_lambda_runs():
    table = t2_table([(0, 10.0, 9, 0.03), (1, 14.5, 9, 0.03), (10, 10.5, 8, 0.02), (100, 14.0, 5, 0.005)])
    assert verdicts.quality_spread(table) == (10.0, 14.5, [0.0, 1.0, 10.0])
    claim = verdicts.lambda100_claim(table)
    assert claim.verdict == "reproduced"  # the spread is context, not a change of rule
    assert "λD ∈ {0, 1, 10} span FD-proc 10–14.5 (×1.45)" in claim.reason


def seeded(*tables_by_seed):
    """One long Table 2 of per-seed tables (`t2_table`), each row tagged with its seed."""
    return pd.concat([t.assign(seed=seed) for seed, t in enumerate(tables_by_seed)], ignore_index=True)


def test_over_seeds_averages_replicates_and_reports_their_spread():
    table = seeded(t2_table([(0, 10.0, 9, 0.03), (100, 14.0, 5, 0.005)]),
                   t2_table([(0, 12.0, 7, 0.04), (100, 16.0, 6, 0.010)]))
    table["fd_proc_se"] = [0.0, 0.3, 0.4, 0.0, 0.4, 0.3]
    table.loc[(table.seed == 1) & (table.model == "stylegan2"), "fd_proc"] = 20.0
    mean = tables.over_seeds(table).set_index("lambda_d", drop=False)
    assert list(mean["model"]) == ["stylegan2", "ssn", "ssn"] and "seed" not in mean.columns
    assert mean["n_seeds"].tolist() == [2, 2, 2]
    r0, r100 = mean.loc[0.0], mean.loc[100.0]
    assert (r0["fd_proc"], r0["ppl_proc"], r0["distortion"]) == pytest.approx((11.0, 8.0, 0.035))
    assert r0["fd_proc_se"] == pytest.approx(0.25)  # √(0.3² + 0.4²) / 2
    assert r0["distortion_se"] == pytest.approx(math.sqrt(0.0003 ** 2 + 0.0004 ** 2) / 2)
    assert (r0["fd_proc_seed_spread"], r0["ppl_proc_seed_spread"]) == pytest.approx((2.0, 2.0))
    assert r100["distortion_seed_spread"] == pytest.approx(0.005)
    assert mean.iloc[0]["fd_proc"] == pytest.approx(17.0)  # the baseline rows (λD NaN) grouped too
    assert math.isnan(mean.iloc[0]["distortion_se"])  # no standard error to combine: none
    assert "vs 17 " in verdicts.baseline_claim(table).ours  # judged against the seeds' mean baseline
    single = tables.over_seeds(seeded(t2_table([(0, 10.0, 9, 0.03)])))
    assert single["n_seeds"].tolist() == [1, 1] and single["fd_proc_seed_spread"].isna().all()
    plain = t2_table([(0, 10.0, 9, 0.03)])
    assert tables.over_seeds(plain) is plain
    assert tables.relative_to_unregularized(table).set_index("lambda_d").loc[100.0, "distortion_cut"] == \
        pytest.approx(0.035 / 0.0075)  # ratios of the seeds' means


def test_table2_replicates_the_compared_lambdas_at_every_extra_seed(zoo, monkeypatch):
    def replicate(seed):
        copy = ModelZoo("ci", "faces", seed=seed)
        monkeypatch.setattr(copy, "ssn_file", lambda lambda_d=0.0, **variant: Stub(
            (4, 4), **numbers(10 + seed, 5.0, 0.03 * (1 + seed) / (1 + lambda_d))))
        monkeypatch.setattr(copy, "stylegan2_file", lambda: Stub(None, **numbers(14.0 + seed, 12.0)))
        monkeypatch.setattr(copy, "load", lambda stub: stub)
        return copy

    monkeypatch.setattr(zoo, "replicate", replicate)
    t2 = tables.table2(zoo, [0, 10, 100], SETTINGS, seeds=[2])
    assert list(zip(t2["model"], t2["lambda_d"].fillna(-1), t2["seed"])) == [
        ("stylegan2", -1, 0), ("ssn", 0, 0), ("ssn", 10, 0), ("ssn", 100, 0),
        ("stylegan2", -1, 2), ("ssn", 0, 2), ("ssn", 100, 2)]  # λD = 10 is not replicated
    mean = tables.over_seeds(t2).set_index("lambda_d")
    assert mean.loc[0.0, "fd_proc"] == pytest.approx((10 + 12) / 2) and mean.loc[0.0, "fd_proc_seed_spread"] == 2
    assert mean.loc[10.0, "n_seeds"] == 1 and math.isnan(mean.loc[10.0, "fd_proc_seed_spread"])
    assert mean.loc[100.0, "distortion"] == pytest.approx((0.03 + 0.09) / 101 / 2)


def test_table1_replicates_the_transferred_ssn_and_judges_the_worst_seed(zoo, monkeypatch):
    def replicate(seed, given_base=False):
        copy = ModelZoo("ci", "faces", seed=seed)
        copy.stylegan2_checkpoint = "a given base" if given_base else None
        monkeypatch.setattr(copy, "ssn_file", lambda **variant: Stub((4, 4), **numbers(10.0 + 6 * seed, 5.0)))
        monkeypatch.setattr(copy, "stylegan2_file", lambda: Stub(None, **numbers(14.0 + seed, 12.0)))
        monkeypatch.setattr(copy, "load", lambda stub: stub)
        return copy

    monkeypatch.setattr(zoo, "replicate", replicate)
    t1 = tables.table1({"faces": zoo}, {"faces": SETTINGS}, seeds=[1])
    assert list(zip(t1["model"], t1["seed"])) == [("stylegan2", 0), ("ssn", 0), ("ssn_from_scratch", 0),
                                                 ("untrained", 0), ("real", 0), ("stylegan2", 1), ("ssn", 1)]
    assert t1.set_index(["model", "seed"]).loc[("ssn", 1), "train_kimg"] == pytest.approx(0.3)
    mean = tables.over_seeds(t1).set_index("model")
    assert mean.loc["ssn", "fd_proc"] == 13.0 and mean.loc["ssn", "fd_proc_seed_spread"] == 6.0
    assert mean.loc["stylegan2", "fd_proc"] == 14.5 and mean.loc["real", "n_seeds"] == 1
    claim = verdicts.table1_claim(t1)  # mean ×13/14.5 = 0.90, the worst seed ×16/14.5 = 1.10: reproduced
    assert "FD-proc 13 vs 14.5 (×0.90) [SSN: mean of 2 seeds, 10–16; judged at the worst, ×1.10]" in claim.ours
    assert claim.verdict == "reproduced" and "worst ratio ×1.10" in claim.reason
    monkeypatch.setattr(zoo, "replicate", lambda seed: replicate(seed, given_base=True))
    monkeypatch.setattr(tables, "train_kimg", lambda *args, **kwargs: 0.0)
    t1 = tables.table1({"faces": zoo}, {"faces": SETTINGS}, seeds=[1])  # a given base is one run: not replicated
    assert list(zip(t1["model"], t1["seed"]))[-2:] == [("real", 0), ("ssn", 1)]


def test_lambda100_with_replicates_holds_only_as_far_as_every_seed():
    both = seeded(t2_table([(0, 10.0, 9, 0.03), (100, 14.0, 5, 0.005)]),   # ÷6 at ×1.4: reproduced
                  t2_table([(0, 10.0, 9, 0.03), (100, 13.0, 5, 0.005)]))   # ÷6 at ×1.3: reproduced
    claim = verdicts.lambda100_claim(both)
    assert claim.verdict == "reproduced" and claim.ours.startswith("mean of 2 seeds")
    assert "seed 0 ÷6 at ×1.40 (reproduced), seed 1 ÷6 at ×1.30 (reproduced)" in claim.reason
    split = seeded(t2_table([(0, 10.0, 9, 0.03), (100, 14.0, 5, 0.004)]),   # ÷7.5 at ×1.4: reproduced
                   t2_table([(0, 10.0, 9, 0.03), (100, 13.0, 5, 0.0065)]))  # ÷4.6 at ×1.3: partly
    assert verdicts.lambda100_claim(tables.over_seeds(split)).verdict == "reproduced"  # the means: ÷5.7 at ×1.35
    claim = verdicts.lambda100_claim(split)
    assert claim.verdict == "partly" and "seed 1 ÷4.6 at ×1.30 (partly)" in claim.reason
    assert "FD-proc at λD = 0 spans 10–10 over the seeds" in claim.reason


def test_baseline_ppl_and_tradeoff_rules():
    paper_like = t2_table([(lam, r["fid"], r["ppl"], r["distortion"])
                           for lam, r in published.TABLE2.items() if lam is not None], baseline=(19.76, 137))
    claims = {c.claim: c for c in verdicts.table2_claims(paper_like)}
    assert all(c.verdict == "reproduced" for c in claims.values()), claims  # the paper's own numbers pass
    assert "ρ(λD, PPL-proc) = -0.94" in claims[published.CLAIMS["table2_ppl"]].reason
    tiny_fall = t2_table([(0, 10.0, 5.0, 0.03), (10, 11.0, 4.95, 0.02), (100, 12.0, 4.9, 0.01)])
    assert verdicts.ppl_trend_claim(tiny_fall).verdict == "not reproduced"  # ρ = −1 but a 2 % fall: noise
    rising = t2_table([(0, 10.0, 5, 0.03), (10, 11.0, 6, 0.02), (100, 12.0, 7, 0.01)], baseline=(12.4, 7.2))
    assert verdicts.ppl_trend_claim(rising).verdict == "not reproduced"
    assert verdicts.baseline_claim(rising).verdict == "not reproduced"  # both only 3 % lower: within the margin
    assert verdicts.baseline_claim(t2_table([(100, 10.0, 5, 0.01)], baseline=(11.5, 4))).verdict == "partly"
    assert verdicts.tradeoff_claim(rising).verdict == "reproduced"  # distortion ÷3, FD-proc +20 %
    flat_quality = t2_table([(0, 10.0, 5, 0.03), (10, 9.0, 4, 0.02), (100, 9.5, 3, 0.01)])
    assert verdicts.tradeoff_claim(flat_quality).verdict == "partly"  # distortion falls, quality does not worsen
    assert verdicts.tradeoff_claim(t2_table([(0, 10.0, 5, 0.03), (100, 12.0, 3, 0.01)])).verdict == "not measured"


def test_lambda_choice_follows_the_papers_reasoning():
    paper_like = t2_table([(lam, r["fid"], r["ppl"], r["distortion"])
                           for lam, r in published.TABLE2.items() if lam is not None])
    rel = tables.relative_to_unregularized(paper_like)
    assert rel["distortion_cut"].tolist() == pytest.approx(rel["paper_distortion_cut"].tolist())
    assert rel.set_index("lambda_d").loc[100.0, "quality_cost"] == pytest.approx(15.24 / 12.24)
    assert verdicts.choose_lambda(paper_like) == 100.0  # the paper's own numbers give the paper's choice
    assert verdicts.choose_lambda(paper_like, min_cut=1.5, max_cost=1.1) == 10.0
    assert verdicts.choose_lambda(paper_like, min_cut=10) is None  # no λD within ×1.5 FID cuts ÷10
    assert verdicts.choose_lambda(t2_table([(0, 10.0, 5, 0.03), (100, 20.0, 4, 0.01)])) is None


def test_table1_rule():
    def t1(ratio_faces, ratio_churches, ssn_mark="✓"):
        rows = []
        for dataset, ratio in (("faces", ratio_faces), ("churches", ratio_churches)):
            rows += [{"dataset": dataset, "model": "stylegan2", "fd_proc": 10.0, "ppl_proc": 1.0, "resampling": "✗"},
                     {"dataset": dataset, "model": "ssn", "fd_proc": 10.0 * ratio, "ppl_proc": 1.0,
                      "resampling": ssn_mark}]
        return pd.DataFrame(rows)

    assert verdicts.table1_claim(t1(0.9, 1.4)).verdict == "reproduced"
    assert verdicts.table1_claim(t1(0.9, 2.5)).verdict == "partly"
    fails = verdicts.table1_claim(t1(3.5, 1.0))
    assert fails.verdict == "not reproduced" and "×3.50" in fails.reason and "FD-proc" in fails.ours
    assert verdicts.table1_claim(t1(1.0, 1.0, ssn_mark="✗")).verdict == "not reproduced"


def test_table1_counts_only_datasets_whose_models_learned():
    """The ratio means nothing where both models are about as far from the data as an untrained one."""
    def t1(untrained_faces, untrained_churches):
        rows = []
        for dataset, q0 in (("faces", untrained_faces), ("churches", untrained_churches)):
            rows += [{"dataset": dataset, "model": "stylegan2", "fd_proc": 300.0, "ppl_proc": 1.0, "resampling": "✗"},
                     {"dataset": dataset, "model": "ssn", "fd_proc": 390.0, "ppl_proc": 1.0, "resampling": "✓"},
                     {"dataset": dataset, "model": "untrained", "fd_proc": q0, "ppl_proc": 1.0, "resampling": "—"}]
        return pd.DataFrame(rows)

    assert verdicts.table1_claim(t1(1000.0, 1000.0)).verdict == "reproduced"  # ×1.3, both ≤ ½ of untrained
    capped = verdicts.table1_claim(t1(1000.0, 410.0))  # churches: 390 > ½ · 410
    assert capped.verdict == "partly" and "churches not counted" in capped.reason
    assert "untrained 410 — not trained far enough to compare" in capped.ours
    none = verdicts.table1_claim(t1(700.0, 410.0))
    assert none.verdict == "not measured" and "faces, churches" in none.reason


def test_appendix_b_rule():
    def tb(eq15_points):
        rows = [{"regularizer": "lambda_d", "weight": lam, "fd_proc": q, "ppl_proc": 1.0, "distortion": d,
                 "distortion_se": 0.0, "in_block": 0.5} for lam, q, d in ((0, 10.0, 0.03), (100, 15.0, 0.004),
                                                                         (10000, 100.0, 0.0001))]
        rows += [{"regularizer": "eq15", "weight": w, "fd_proc": q, "ppl_proc": 1.0, "distortion": d,
                  "distortion_se": 0.0, "in_block": 0.5} for w, q, d in eq15_points]
        return pd.DataFrame(rows)

    # distortion 0.01: the curve's best at ≤ 0.01 is λD 100's 15; 14 is within 10 %, 12 beats it
    assert verdicts.frontier_quality(tb([]), "fd_proc", 0.01) == 15.0
    assert verdicts.frontier_quality(tb([]), "fd_proc", 0.00001) == 100.0  # below the curve: its lowest-distortion one
    assert verdicts.appendix_b_claim(tb([(2, 14.0, 0.01), (20, 200.0, 0.00001)])).verdict == "reproduced"
    beaten = verdicts.appendix_b_claim(tb([(2, 12.0, 0.01)]))
    assert beaten.verdict == "not reproduced" and "weight(s) 2" in beaten.reason and "+20%" in beaten.reason
    assert verdicts.appendix_b_claim(tb([])).verdict == "not measured"
    assert "span" not in beaten.reason  # one λD ≤ 10 run: no spread to quote
    second_run = {"regularizer": "lambda_d", "weight": 1, "fd_proc": 13.0, "ppl_proc": 1.0, "distortion": 0.03,
                  "distortion_se": 0.0, "in_block": 0.5}
    noisy = verdicts.appendix_b_claim(pd.concat([tb([(2, 12.0, 0.01)]), pd.DataFrame([second_run])]))
    assert noisy.verdict == "not reproduced" and "λD ∈ {0, 1} span FD-proc 10–13 (×1.30)" in noisy.reason


def test_figures_draw_both_series(zoo):
    t2 = tables.table2(zoo, [0, 100, 10000], SETTINGS)
    fig = plots.figure5(t2)
    ours, theirs = fig.axes
    assert ours.get_xscale() == "log" and "FD-proc" in ours.get_ylabel() and "FID" in theirs.get_ylabel()
    assert [t.get_text() for t in ours.texts] == ["0", "100", "10000"] and len(theirs.texts) == 6
    relabelled = plots.figure5(t2, paper_scale=15).axes[0]
    assert [t.get_text() for t in relabelled.texts] == ["0 (0)", "100 (6.67)", "10000 (667)"]
    assert [t.get_text() for t in plots.figure5(t2, paper_scale=1).axes[0].texts][-1] == "10000 (10000)"
    tb = tables.appendix_b(zoo, [2, 20], SETTINGS, lambdas=[0, 100])
    fig = plots.appendix_b_figure(tb)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "100", "2", "20"]  # λD curve, then eq. 15 weights
    assert "γ+ = 1, γ− = 0.1" in fig._suptitle.get_text()


def test_differences_must_exceed_two_standard_errors_when_known():
    assert verdicts._clearly_lower(9.0, 10.0, 0.3, 0.3)  # gap 1.0 > 2·0.42
    assert not verdicts._clearly_lower(9.0, 10.0, 0.5, 0.5)  # gap 1.0 < 2·0.71
    assert verdicts._clearly_lower(9.0, 10.0) and not verdicts._clearly_lower(9.6, 10.0)  # no SE: the 5 % margin
    noisy = t2_table([(lam, 10 * (1 + lam / 100), 10 / (1 + lam), 0.03 / (1 + lam)) for lam in (0, 100)],
                     baseline=(14.0, 12.0))
    assert verdicts.baseline_claim(noisy).verdict == "partly"  # FD-proc 20 vs 14 is worse; PPL-proc 0.099 vs 12 lower
    noisy["ppl_proc_se"] = 6.0  # ± 6 on both: a gap of 11.9 < 2·8.5 → no longer "lower"
    assert verdicts.baseline_claim(noisy).verdict == "not reproduced"


def test_large_lambda_rule():
    paper_like = t2_table([(lam, r["fid"], r["ppl"], r["distortion"])
                           for lam, r in published.TABLE2.items() if lam is not None])
    assert verdicts.large_lambda_claim(paper_like).verdict == "reproduced"  # ×5.5, ×10.5
    ours = t2_table([(0, 550.0, 16, 0.009), (1000, 835.0, 4.6, 0.0004), (10000, 1012.0, 3.6, 0.0002)])
    claim = verdicts.large_lambda_claim(ours)
    assert claim.verdict == "partly" and "×1.52" in claim.ours and "smallest ratio ×1.52" in claim.reason
    flat = t2_table([(0, 550.0, 16, 0.009), (1000, 560.0, 4.6, 0.0004), (10000, 1200.0, 3.6, 0.0002)])
    flat["fd_proc_se"] = 10.0  # 560 vs 550 ± 10 each: no real rise at λD = 1000
    assert verdicts.large_lambda_claim(flat).verdict == "not reproduced"
    assert verdicts.large_lambda_claim(t2_table([(0, 1.0, 1, 0.1)])).verdict == "not measured"


def test_locality_claim_rule():
    def changes(localities):
        return pd.DataFrame({"locality": localities, "distortion": 0.01, "in_block": 0.05})

    claim = "Resampling blocks (1,1), (1,2) changes churches mostly locally"
    most = verdicts.locality_claim(changes([0.60, 0.62, 0.58, 0.61]), 0.125, claim, "Figure 6, §4.1")
    assert most.verdict == "reproduced" and most.claim == claim and most.paper == "mostly local changes (pictures)"
    assert most.ours == ("locality 0.602 ± 0.009; distortion 0.01 vs in-block 0.05 (blocks 12% of the image; "
                         "4 resamples)")
    some = verdicts.locality_claim(changes([0.40, 0.45, 0.50, 0.55]), 0.125, claim, "Figure 6, §4.1", note=" (ci)")
    # mean 0.475 − 2 SE 0.032 = 0.41: above the blocks' 12% of the image, below ½
    assert some.verdict == "partly" and some.reason.endswith("but not most of it (ci)")
    spread = verdicts.locality_claim(changes([0.10, 0.14, 0.12, 0.13]), 0.125, claim, "Figure 6, §4.1")
    assert spread.verdict == "not reproduced" and "they cover 12% of the image" in spread.reason


def test_fit_lambda_scale_recovers_a_known_shift():
    """A smooth cut curve g(λ) measured on a dense sweep, and the "paper's" points g(15·λ) at its
    five λD: the fit finds s = 15 (the grid's nearest candidate) with ~0 residual."""
    import numpy as np

    def cut(lam):
        return 1 + (lam / 300) ** 1.3

    ours = {lam: cut(lam) for lam in (1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000, 300000)}
    paper = {lam: cut(15 * lam) for lam in (1, 10, 100, 1000, 10000)}
    s, rms, n = tables.fit_lambda_scale(ours, paper)
    assert s == pytest.approx(15, rel=0.03) and n >= 4
    assert rms < 0.02
    # the paper's own Table 2 against itself: s = 1 exactly, zero residual
    p0 = published.TABLE2[0]["distortion"]
    own = {lam: p0 / published.TABLE2[lam]["distortion"] for lam in published.TABLE2_LAMBDAS if lam}
    s, rms, _ = tables.fit_lambda_scale(own, own, factors=np.logspace(-1, 1, 21))
    assert s == pytest.approx(1.0) and rms == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="two λD"):
        tables.fit_lambda_scale({1: 1.0}, paper)


def test_claims_name_the_scale_their_weights_were_read_on(zoo):
    t2 = tables.table2(zoo, [0, 100, 10000], SETTINGS)
    assert set(t2["lambda_d_scale"]) == {"per_pixel"}  # the ci preset's, as the cpu preset's
    claims = verdicts.table2_claims(t2)
    assert len(claims) == 5 and all(c.reason.startswith("λD on the per_pixel scale: ") for c in claims)
    bare = verdicts.table2_claims(t2.drop(columns="lambda_d_scale"))  # a table that does not say: nothing added
    assert [c.reason for c in claims] == [f"λD on the per_pixel scale: {c.reason}" for c in bare]
    tb = tables.appendix_b(zoo, [2], SETTINGS, lambdas=[0, 100])
    assert verdicts.appendix_b_claim(tb).reason.startswith("eq. 15 weights on the mean_a scale: ")
