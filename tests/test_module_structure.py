"""The shape of the code: no import circle inside a package, no module too long to read.

An import counts wherever it is written (at the top, inside a function, under
``TYPE_CHECKING``): a circle is a circle in the design even when Python tolerates it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "dagster_declarative")
MAX_LINES = 400
# The component vocabulary: one long table that reads best in one place.
LONG_TABLES = {"engine/manifest/components.py"}


def _modules(package: str, root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``package`` (packages by __init__)."""
    modules = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The modules of ``modules`` that the module ``name`` (at ``path``) imports."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in modules:  # `from package import submodule`
                    yield f"{target}.{alias.name}"
                elif target in modules:
                    yield target


def import_circles(package: str, root: Path = ROOT) -> list[list[str]]:
    """Each group of modules that import one another in a circle (strongly connected)."""
    modules = _modules(package, root)
    graph = {
        name: sorted(set(_imported(name, path, modules)) - {name}) for name, path in modules.items()
    }
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in graph[node]:
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                circles.append(sorted(group))

    for name in sorted(graph):
        if name not in order:
            visit(name)
    return circles


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package):
    assert import_circles(package) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_reads_in_one_sitting(package):
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / package).rglob("*.py"))
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(ROOT)) not in LONG_TABLES
    }
    assert too_long == {}


def test_the_checker_finds_a_circle(tmp_path):
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loop import b\n")
    (package / "b.py").write_text("def f():\n    from .c import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from loop.a import y\n"
    )
    (package / "d.py").write_text("import loop.a\n")
    assert import_circles("loop", tmp_path) == [["loop.a", "loop.b", "loop.c"]]
