"""Notebook hygiene: every `notebooks/NN_*.ipynb` follows the project's conventions.

Valid nbformat v4, committed without outputs or execution counts, exactly one `parameters` cell
that takes `preset` from $SSNLIB_PRESET (default "cpu"), a first markdown cell that names what it
reproduces, and a row in README.md. Nothing here executes a notebook (nbval does that).
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# What a first cell can name: a table, figure, section, appendix, equation or definition of the paper.
REPRODUCES = re.compile(r"(Table|Figure|Fig\.|§|Section|Appendix|[Ee]q\.|Definition)\s*[A-Z0-9]")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_nbformat_v4(path):
    nb = read(path)
    assert nb.nbformat == 4, f"{path.name}: nbformat {nb.nbformat}, expected 4"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_or_execution_counts(path):
    dirty = [i for i, cell in enumerate(read(path).cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts (clear them before committing)"


def _assigns_preset_from_env(source: str) -> bool:
    """True if the source has `preset = os.environ.get("SSNLIB_PRESET", "cpu")` (annotated or not)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == "preset" for t in targets):
            continue
        if (isinstance(value, ast.Call) and ast.unparse(value.func) == "os.environ.get"
                and [ast.literal_eval(a) for a in value.args] == ["SSNLIB_PRESET", "cpu"] and not value.keywords):
            return True
    return False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_preset_from_env(path):
    cells = [c for c in read(path).cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters', expected exactly 1"
    assert cells[0].cell_type == "code", f"{path.name}: the parameters cell is {cells[0].cell_type}, not code"
    assert _assigns_preset_from_env(cells[0].source), (
        f'{path.name}: the parameters cell must assign preset = os.environ.get("SSNLIB_PRESET", "cpu")')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_markdown_naming_what_it_reproduces(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell is {first.cell_type}, expected markdown"
    assert first.source.lstrip().startswith("# "), f"{path.name}: the first cell should open with a '# ' title"
    assert REPRODUCES.search(first.source), (
        f"{path.name}: the first cell does not name what it reproduces (Table N, Figure N, §N, Appendix X …)")


def test_readme_maps_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in NOTEBOOKS if p.name not in readme]
    assert not missing, f"README.md has no row for {len(missing)} notebook(s): {', '.join(missing)}"


def test_preset_check_accepts_only_the_convention():
    ok = 'import os\npreset: str = os.environ.get("SSNLIB_PRESET", "cpu")  # ci | cpu | gpu | paper\n'
    assert _assigns_preset_from_env(ok)
    assert _assigns_preset_from_env("import os\npreset = os.environ.get('SSNLIB_PRESET', 'cpu')")
    assert not _assigns_preset_from_env('preset = "cpu"')
    assert not _assigns_preset_from_env('import os\npreset = os.environ.get("SSNLIB_PRESET", "ci")')
    assert not _assigns_preset_from_env('import os\npreset = os.environ.get("PRESET", "cpu")')
    assert not _assigns_preset_from_env('import os\nmodel = os.environ.get("SSNLIB_PRESET", "cpu")')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_sees_every_typed_parameter(path):
    """`papermill --help-notebook` lists each annotated parameter (it silently skips annotations it
    cannot parse, such as `str | None`: use `Optional[str]`)."""
    from papermill.translators import PythonTranslator

    cell = next(c for c in read(path).cells if "parameters" in c.get("metadata", {}).get("tags", []))
    declared = [node.target.id for node in ast.parse(cell.source).body if isinstance(node, ast.AnnAssign)]
    inferred = [p.name for p in PythonTranslator.inspect(cell)]
    assert inferred == declared, f"{path.name}: papermill infers {inferred}, the cell declares {declared}"


VERDICT_WORDS = {"reproduced", "partly", "not reproduced", "not measured"}


def code_cells(path: Path) -> list[tuple[int, ast.Module]]:
    """(cell index, parsed source) of every code cell, IPython magics (% and ! lines) blanked."""
    cells = []
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()]
            cells.append((i, ast.parse("\n".join(lines))))
    return cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_hold_calls_not_logic(path):
    """No function or class definitions, no branching on the preset's name, and no verdict written
    by hand: the rules live in ssnlib.paper.verdicts and the per-preset knobs in ssnlib.paper.presets."""
    problems = []
    for i, tree in code_cells(path):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                problems.append(f"cell {i}: defines {getattr(node, 'name', 'a lambda')}")
            elif isinstance(node, ast.Compare) and any(isinstance(x, ast.Name) and x.id == "preset"
                                                       for x in [node.left, *node.comparators]):
                problems.append(f"cell {i}: compares the preset's name (line {node.lineno})")
            elif isinstance(node, ast.Constant) and node.value in VERDICT_WORDS:
                problems.append(f"cell {i}: writes the verdict {node.value!r} by hand (line {node.lineno})")
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_the_logic_check_catches_what_it_forbids(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        '%matplotlib inline\nif preset == "ci":\n    verdict = "partly"\nf = lambda x: x\ndef g():\n    pass')])
    path = tmp_path / "00_probe.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(AssertionError) as failure:
        test_notebooks_hold_calls_not_logic(path)
    message = str(failure.value)
    assert "compares the preset's name" in message and "'partly'" in message
    assert "defines a lambda" in message and "defines g" in message


EXECUTED = sorted((ROOT / "results" / "cpu").glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"(/work/|/root/|/home/|/tmp/|/usr/|\.venv/)")
PROGRESS_BAR = re.compile(r"\d+%\|| \d+/\d+ \[\d")


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.name)
def test_executed_notebooks_show_no_machine_paths_and_no_progress_bars(path):
    """What a reader of results/cpu/ sees is narrative, tables and figures (`make reproduce` runs
    papermill with TQDM_DISABLE=1 and SSNLIB_LOG_LEVEL=WARNING)."""
    problems = []
    for i, cell in enumerate(read(path).cells):
        for output in cell.get("outputs", []):
            text = output.get("text", "") + "".join(
                v for k, v in output.get("data", {}).items() if k.startswith("text/") and isinstance(v, str))
            if MACHINE_PATH.search(text):
                problems.append(f"cell {i}: a machine path ({MACHINE_PATH.search(text).group(0)}…)")
            if PROGRESS_BAR.search(text):
                problems.append(f"cell {i}: a progress bar")
    assert not problems, f"{path.name}: " + "; ".join(problems)
