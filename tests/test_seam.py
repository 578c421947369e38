"""The seam between the integration and the engine: ``dagster_declarative`` uses the engine only
through the names ``engine/__init__.py`` exports, so the engine's modules can move and change
without the integration noticing (an import counts wherever it is written)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _exported() -> set[str]:
    """The names in ``engine.__all__``, read from the source."""
    tree = ast.parse((ROOT / "engine" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError("engine/__init__.py has no __all__")


def engine_imports_outside_the_seam(package: Path, exported: set[str]) -> list[str]:
    """Each import of ``engine`` in ``package`` other than ``from engine import <exported>``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        where = path.relative_to(package.parent)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [
                    f"{where}:{node.lineno}: import {alias.name}"
                    for alias in node.names
                    if alias.name.split(".")[0] == "engine"
                ]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if node.module.startswith("engine."):
                    found.append(f"{where}:{node.lineno}: from {node.module} import ...")
                elif node.module == "engine":
                    found += [
                        f"{where}:{node.lineno}: from engine import {alias.name} (not exported)"
                        for alias in node.names
                        if alias.name not in exported
                    ]
    return found


def test_the_integration_imports_only_what_the_engine_exports() -> None:
    assert engine_imports_outside_the_seam(ROOT / "dagster_declarative", _exported()) == []


def test_the_seam_check_sees_a_private_import(tmp_path: Path) -> None:
    package = tmp_path / "integration"
    package.mkdir()
    (package / "uses.py").write_text(
        "from engine import EngineError, Secret\n"
        "def f():\n    from engine.slicing.router import partition_of\n"
        "import engine.streams.reader\n"
    )
    found = engine_imports_outside_the_seam(package, {"EngineError"})
    assert sorted(line.split(":", 1)[1] for line in found) == [
        "1: from engine import Secret (not exported)",
        "3: from engine.slicing.router import ...",
        "4: import engine.streams.reader",
    ]
