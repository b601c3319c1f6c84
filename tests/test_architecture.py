"""The package's layering: the library never imports the paper's reproduction (`ssnlib.paper`),
and the reproduction is importable on its own terms. Read from the source (every import
statement, those inside functions too), not from what happens to be imported at run time."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ssnlib"
# The command line is the top of the stack: it serves both the library and the reproduction.
APPLICATION = {PACKAGE / "__main__.py"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    return module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]


def imported_modules(source: str, package: str) -> set[str]:
    """Every module an import statement of `source` (a module of `package`) names, relative imports
    resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)  # `from . import paper`
    return names


LIBRARY = sorted(p for p in PACKAGE.rglob("*.py")
                 if "paper" not in p.relative_to(PACKAGE).parts and p not in APPLICATION)


def test_the_resolver_sees_relative_and_nested_imports():
    """The check below can fail: imports two levels up, inside functions, and `from . import x`."""
    probe = "import os\ndef f():\n    from ..paper.tables import table1\n    from .. import paper\n"
    assert imported_modules(probe, "ssnlib.metrics") == {"os", "ssnlib.paper.tables", "ssnlib.paper.tables.table1",
                                                         "ssnlib", "ssnlib.paper"}
    features = PACKAGE / "metrics" / "features.py"
    assert "ssnlib.metrics.frechet" in imported_modules(features.read_text(), package_of(features))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_never_imports_the_reproduction(path):
    names = imported_modules(path.read_text(), package_of(path))
    offending = sorted(n for n in names if n == "ssnlib.paper" or n.startswith("ssnlib.paper."))
    assert not offending, f"{path.relative_to(PACKAGE.parent)} imports {offending}: the library must not know the paper"
def test_library_is_most_of_the_modules():
    """The split is real: the library holds the networks, training, metrics, io and ui."""
    names = {module_name(p) for p in LIBRARY}
    assert {"ssnlib.networks", "ssnlib.train", "ssnlib.losses", "ssnlib.blocks", "ssnlib.evaluate",
            "ssnlib.io.stylegan2_import", "ssnlib.ui.picker", "ssnlib.metrics.frechet"} <= names
    paper = {module_name(p) for p in (PACKAGE / "paper").glob("*.py")}
    assert {"ssnlib.paper.presets", "ssnlib.paper.zoo", "ssnlib.paper.tables", "ssnlib.paper.published"} <= paper
