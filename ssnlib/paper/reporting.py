"""Where the notebooks put what they regenerate: tables (CSV + Markdown) in `results/<preset>/`,
figures (PNG + PDF) in `figures/<preset>/`, and claims — the paper's number beside ours with a
verdict — assembled into `results/<preset>/summary.md`.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..io.serialization import atomic_write
from .presets import get_preset
from .runs import project_root

logger = logging.getLogger(__name__)

VERDICTS = ("reproduced", "partly", "not reproduced", "not measured")


@dataclass(frozen=True)
class Outputs:
    """The output folders of one notebook run at one preset."""

    preset: str
    results: Path
    figures: Path

    @classmethod
    def for_preset(cls, preset: str | None, root: str | Path | None = None) -> "Outputs":
        preset = get_preset(preset).name
        root = Path(root) if root is not None else project_root()
        out = cls(preset, root / "results" / preset, root / "figures" / preset)
        out.results.mkdir(parents=True, exist_ok=True)
        out.figures.mkdir(parents=True, exist_ok=True)
        return out

    def write_table(self, table: pd.DataFrame, name: str, floatfmt: str = ".4g") -> Path:
        """`name`.csv (full precision, snake_case columns) and `name`.md (rounded) in results/."""
        bad = [c for c in table.columns if not str(c).replace("_", "").isalnum() or str(c) != str(c).lower()]
        if bad:
            raise ValueError(f"table {name}: columns must be snake_case, got {bad}")
        csv_path = self.results / f"{name}.csv"
        atomic_write(csv_path, lambda tmp: table.to_csv(tmp, index=False))
        markdown = _markdown(table, floatfmt)
        atomic_write(self.results / f"{name}.md", lambda tmp: Path(tmp).write_text(markdown + "\n"))
        logger.info("wrote %s (+ .md)", csv_path)
        return csv_path

    def save_figure(self, figure, name: str, dpi: int = 150) -> Path:
        """`name`.png and `name`.pdf in figures/ (a matplotlib figure). No creation date in the PDF:
        the same figure gives the same bytes, so a rerun of `make reproduce` changes no file whose
        content did not change."""
        png = self.figures / f"{name}.png"
        atomic_write(png, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
        atomic_write(self.figures / f"{name}.pdf", lambda tmp: figure.savefig(tmp, format="pdf", bbox_inches="tight",
                                                                            metadata={"CreationDate": None}))
        logger.info("wrote %s (+ .pdf)", png)
        return png

    def write_claims(self, notebook: str, claims: list["Claim"]) -> Path:
        """The notebook's claims, for `write_summary`."""
        path = self.results / f"claims-{notebook}.json"
        payload = json.dumps([asdict(c) for c in claims], indent=2, default=_json_default)
        atomic_write(path, lambda tmp: Path(tmp).write_text(payload + "\n"))
        return path


@dataclass(frozen=True)
class Claim:
    """One claim of the paper checked at our scale."""

    claim: str
    paper: str
    ours: str
    verdict: str
    reason: str
    source: str = ""  # table / figure / section of the paper

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


def write_summary(preset: str | None, root: str | Path | None = None) -> Path:
    """results/<preset>/summary.md: every claim file's rows, in notebook order."""
    out = Outputs.for_preset(preset, root)
    rows = []
    for path in sorted(out.results.glob("claims-*.json")):
        for claim in json.loads(path.read_text()):
            rows.append({"notebook": path.stem.removeprefix("claims-"), **claim})
    lines = [f"# Paper claims vs this reproduction — preset `{out.preset}`", "",
             f"{get_preset(out.preset).description}. Each row: the paper's number, ours, and a verdict.", "",
             "| claim | source | paper | ours | verdict | why | notebook |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['claim']} | {r['source']} | {r['paper']} | {r['ours']} | **{r['verdict']}** | "
                     f"{r['reason']} | `{r['notebook']}` |")
    if not rows:
        lines.append("| (no notebook has written claims yet) | | | | | | |")
    path = out.results / "summary.md"
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return path


def _markdown(table: pd.DataFrame, floatfmt: str) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "—"
            return str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, floatfmt)
        return str(value)

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _json_default(value: Any):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
