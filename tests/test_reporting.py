"""Outputs of the notebooks: tables (CSV + Markdown), figures (PNG + PDF), claims and summary.md."""

import math

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ssnlib.paper.reporting import Claim, Outputs, write_summary  # noqa: E402


def test_tables_keep_full_precision_in_csv_and_round_in_markdown(tmp_path):
    out = Outputs.for_preset("ci", tmp_path)
    table = pd.DataFrame({"lambda_d": [0.0, 10000.0, math.nan], "fd_proc": [12.345678, 0.000123456, 3.5],
                          "model": ["ssn", "ssn", "stylegan2"]})
    csv = out.write_table(table, "table2")
    assert csv == tmp_path / "results" / "ci" / "table2.csv"
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)
    lines = (tmp_path / "results" / "ci" / "table2.md").read_text().splitlines()
    assert lines[0] == "| lambda_d | fd_proc | model |" and lines[1] == "|---|---|---|"
    assert lines[2:] == ["| 0 | 12.35 | ssn |", "| 10000 | 0.0001235 | ssn |", "| — | 3.5 | stylegan2 |"]
    with pytest.raises(ValueError, match="snake_case.*'FID'"):
        out.write_table(pd.DataFrame({"FID": [1.0]}), "bad")


def test_figures_claims_and_summary(tmp_path):
    out = Outputs.for_preset("ci", tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = out.save_figure(fig, "figure5")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (png.with_suffix(".pdf")).read_bytes()[:4] == b"%PDF"
    first = png.read_bytes(), png.with_suffix(".pdf").read_bytes()
    out.save_figure(fig, "figure5")
    assert (png.read_bytes(), png.with_suffix(".pdf").read_bytes()) == first  # byte-identical when redrawn
    assert b"/CreationDate" not in first[1]  # not merely within the same second
    with pytest.raises(ValueError, match="verdict must be one of"):
        Claim("c", "p", "o", "maybe", "r")
    claim = Claim("λD = 100 cuts distortion", "÷12", "÷3", "partly", "rule", "Table 2")
    out.write_claims("02_lambda_ablation", [claim])
    out.write_claims("01_stylegan2_vs_ssn", [Claim("SSN ≈ StyleGAN2", "×0.62", "×1.1", "reproduced", "r", "Table 1")])
    text = write_summary("ci", tmp_path).read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "claim" not in line]
    assert rows == ["| SSN ≈ StyleGAN2 | Table 1 | ×0.62 | ×1.1 | **reproduced** | r | `01_stylegan2_vs_ssn` |",
                    "| λD = 100 cuts distortion | Table 2 | ÷12 | ÷3 | **partly** | rule | `02_lambda_ablation` |"]
