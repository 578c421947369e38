"""The component through Dagster's own `dg` command line, in a fresh `dg` project: scaffolding
writes a commented defs.yaml and a starter manifest with a schema, `dg list envs` lists the
variables the component reads, `dg check defs` loads it and reports a stream left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DG = Path(sys.executable).parent / "dg"
PYPROJECT = """\
[project]
name = "shop_project"
version = "0.1.0"
requires-python = ">=3.10"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "shop_project"
registry_modules = ["dagster_declarative"]
"""
DEFINITIONS = """\
from pathlib import Path

import dagster as dg


@dg.definitions
def defs():
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
"""
BROKEN_STREAM = """\
  - type: DeclarativeStream
    name: tokens
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: https://api.example.com
        path: /tokens
        authenticator: {type: JwtAuthenticator}
      record_selector: {type: RecordSelector, extractor: {type: DpathExtractor, field_path: []}}
"""


def dg(project: Path, *args: str) -> str:
    environment = {
        **os.environ,
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "NO_COLOR": "1",
    }
    environment.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [str(DG), *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.fixture
def project(tmp_path: Path) -> Path:
    if not DG.exists():
        pytest.skip(f"{DG} is missing (dagster-dg-cli is in the [dagster] extra)")
    root = tmp_path / "shop_project"
    package = root / "src" / "shop_project"
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    return root


def test_scaffold_list_envs_and_check_defs(project: Path) -> None:
    dg(project, "scaffold", "defs", "dagster_declarative.DeclarativeSourceComponent", "shop")
    folder = project / "src" / "shop_project" / "defs" / "shop"
    defs_yaml = (folder / "defs.yaml").read_text()
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    assert manifest["streams"][0]["schema_loader"]["schema"]["properties"]
    assert manifest["spec"]["connection_specification"]["required"]
    attributes = yaml.safe_load(defs_yaml)["attributes"]
    assert attributes["env_config"] == {"api_key": "SHOP_API_KEY"}
    lines = defs_yaml.split("attributes:")[1].split("\nrequirements:")[0].splitlines()
    for index, line in enumerate(lines):
        if line.startswith("  ") and not line.startswith(("  #", "    ")):
            assert lines[index - 1].lstrip().startswith("#"), f"no comment above {line!r}"

    assert "SHOP_API_KEY" in dg(project, "list", "envs")
    checked = dg(project, "check", "defs")
    assert "All definitions loaded successfully" in checked
    assert "left out" not in checked

    with (folder / "manifest.yaml").open("a") as manifest_file:
        manifest_file.write(BROKEN_STREAM)
    checked = dg(project, "check", "defs")
    assert "stream 'tokens' is left out of the Dagster definitions" in checked
    assert "JwtAuthenticator is not supported" in checked
    assert "All definitions loaded successfully" in checked
