"""The paper's published numbers (Tables 1–2, Appendix B), as data, and its quantitative claims.

Every number is copied from the NeurIPS 2020 paper ("Low Distortion Block-Resampling with
Spatially Stochastic Networks"); all of them were measured at 256×256 with transfer from
StyleGAN2 (§3.4), with the canonical FID (Inception-v3) and PPL (LPIPS-VGG16). They sit beside
our numbers in the tables of `ssnlib.paper.tables`; at the offline presets ours are FD-proc and
PPL-proc, which are on other scales, so only the *shape* of a result (ratios, orderings) is
compared with the paper, never the values themselves.
"""

from __future__ import annotations

import math

# Table 1: StyleGAN2 vs SSN without distortion regularization (λD = 0), 256×256.
# dataset → model → {"fid", "ppl", "resampling"}
TABLE1: dict[str, dict[str, dict[str, float | bool]]] = {
    "faces": {  # FFHQ
        "stylegan2": {"fid": 19.76, "ppl": 137.33, "resampling": False},
        "ssn": {"fid": 12.24, "ppl": 151.01, "resampling": True},
    },
    "churches": {  # LSUN churches
        "stylegan2": {"fid": 3.65, "ppl": 340.72, "resampling": False},
        "ssn": {"fid": 8.68, "ppl": 282.75, "resampling": True},
    },
}
TABLE1_DATASETS = {"faces": "FFHQ", "churches": "LSUN churches"}

# Table 2: the λD ablation on FFHQ 256×256. Key None is the StyleGAN2 baseline (distortion N/A).
TABLE2: dict[float | None, dict[str, float]] = {
    None: {"fid": 19.76, "ppl": 137, "distortion": math.nan},
    0: {"fid": 12.24, "ppl": 151, "distortion": 0.028},
    1: {"fid": 13.47, "ppl": 154, "distortion": 0.028},
    10: {"fid": 12.80, "ppl": 130, "distortion": 0.017},
    100: {"fid": 15.24, "ppl": 83, "distortion": 0.0043},
    1000: {"fid": 66.74, "ppl": 75, "distortion": 0.0004},
    10000: {"fid": 128.99, "ppl": 55, "distortion": 0.0001},
}
TABLE2_LAMBDAS = (0, 1, 10, 100, 1000, 10000)
CHOSEN_LAMBDA = 100  # §4: "we chose the hyperparameter of λD = 100 for our qualitative experiments"

# Appendix B.1, eq. 15 (low-distortion path length): the settings the paper tried.
APPENDIX_B_GAMMA_PLUS = 1.0
APPENDIX_B_GAMMA_MINUS = 0.1
APPENDIX_B_WEIGHTS = (200000, 20000, 2000, 200, 20, 2)

# One line per claim, as the paper states it (Claim.claim in the notebooks' claim files).
CLAIMS = {
    "table1_quality": "SSN (λD = 0) attains quality comparable to StyleGAN2 while allowing block resampling "
                      "(Table 1, §4)",
    "table2_lambda100": "λD = 100 cuts distortion by an order of magnitude relative to λD = 0 at a minor loss in "
                        "quality (§4, Table 2)",
    "table2_vs_baseline": "SSN at λD = 100 is strictly better than the StyleGAN2 baseline in both FID and PPL "
                          "(Table 2 caption)",
    "table2_ppl": "PPL decreases as λD increases (Table 2 caption)",
    "figure5_tradeoff": "Raising λD trades quality for lower distortion along a Pareto curve (Figure 5)",
    "table2_large_lambda": "λD ≥ 1000 destroys quality (Table 2: FID 66.74 and 128.99 vs 12.24 at λD = 0)",
    "appendix_b": "Eq. 15 (γ+ = 1, γ− = 0.1, weights 2 … 200000) gives no better quality at any distortion "
                  "than the λD regularizer (Appendix B.1)",
}


def table1_paper(dataset: str, model: str) -> dict[str, float | bool]:
    """The paper's Table 1 row for `dataset` ("faces" / "churches") and `model` ("stylegan2" / "ssn")."""
    if dataset not in TABLE1:
        raise KeyError(f"Table 1 has no dataset {dataset!r}; it has {tuple(TABLE1)}")
    if model not in TABLE1[dataset]:
        raise KeyError(f"Table 1 has no model {model!r}; it has {tuple(TABLE1[dataset])}")
    return TABLE1[dataset][model]


def table2_paper(lambda_d: float | None) -> dict[str, float]:
    """The paper's Table 2 row for λD (None: the StyleGAN2 baseline); NaNs where the paper has no row."""
    key = None if lambda_d is None or (isinstance(lambda_d, float) and math.isnan(lambda_d)) else lambda_d
    return TABLE2.get(key, {"fid": math.nan, "ppl": math.nan, "distortion": math.nan})
