"""Dagster definitions of the example (``dagster dev -w workspace.yaml``): the ``defs`` folder.

Each sub-folder of ``defs/`` holds a ``defs.yaml`` with one ``DeclarativeSourceComponent``: the
demo API read through today's manifest (``demo/*`` assets) and through the 2022-dialect one
(``demo_2022/*``). Their config names two environment variables, read in every run:

* ``DEMO_API_URL``: when unset, loading these definitions starts the bundled demo API on
  127.0.0.1:8765 (or reuses the one already answering there, or takes a free port when another
  program holds 8765) and points the variable at it, so
  the example works offline with no setup; the runs inherit it from this process;
* ``DEMO_API_KEY``: defaults to the demo API's published key, which is not a secret.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import dagster as dg
from dagster.components.core.component_tree import ComponentTree

from example_project.demo_api import DEMO_API_KEY, ensure_running

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFS_MODULE = "example_project.defs"


def prepare_environment() -> None:
    """Fill in the demo API's URL and key unless the environment already names them."""
    os.environ.setdefault("DEMO_API_KEY", DEMO_API_KEY)
    if not os.environ.get("DEMO_API_URL"):
        os.environ["DEMO_API_URL"] = ensure_running()


def load_example_definitions() -> dg.Definitions:
    """Every component under ``example_project/defs`` (the repository is not a ``dg`` project,
    so the tree is built from the module rather than from ``pyproject.toml``)."""
    prepare_environment()
    tree = ComponentTree.from_module(
        defs_module=importlib.import_module(DEFS_MODULE), project_root=PROJECT_ROOT
    )
    return tree.build_defs()


defs = load_example_definitions()
