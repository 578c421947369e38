"""airbyte-cdk's default schema path (a ``JsonFileSchemaLoader`` without ``file_path``) names the
connector's own ``source_<pkg>`` package, as in the reference's one-connector process, even with
several connectors in one process and Dagster's ``resource_definition`` (its name contains
``source_``) loaded before them; a connector without such a package keeps airbyte-cdk's rule.

Each connector here is a package written for the test: its transformation builds the loader at
call time (as facebook-pages' does) and writes the title of the schema it read into the record.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from manifests import modern
from support.api_server import ApiServer, Response

from engine import load_source

pytest.importorskip("airbyte_cdk", reason="needs the airbyte extra")
import dagster._core.definitions.resource_definition  # noqa: F401 - named source_, loaded first
from airbyte_cdk.sources.declarative.schema import json_file_schema_loader

COMPONENTS = """
from dataclasses import InitVar, dataclass
from typing import Any, Mapping

from airbyte_cdk.sources.declarative.schema import JsonFileSchemaLoader
from airbyte_cdk.sources.declarative.transformations import RecordTransformation


@dataclass
class DefaultPath(RecordTransformation):
    # Writes the default schema path a loader built now gets.

    config: Mapping[str, Any]
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters):
        self.name = parameters["name"]

    def loader(self):
        return JsonFileSchemaLoader(config=self.config, parameters={"name": self.name})

    def transform(self, record, config=None, stream_state=None, stream_slice=None):
        record["default_path"] = self.loader().file_path.string


@dataclass
class SchemaTitle(DefaultPath):
    # Also writes the title of the schema such a loader reads.

    def transform(self, record, config=None, stream_state=None, stream_slice=None):
        super().transform(record)
        record["schema"] = self.loader().get_json_schema()["title"]
"""


def _connector(root: Path, url: str, package: str | None) -> Path:
    """A connector folder: its manifest, and its code in ``package`` (with the stream's schema
    in ``schemas/``) or, without one, in ``components.py`` (whose transformation only writes the
    default path: there is no schema to read)."""
    root.mkdir()
    if package:
        (root / package / "schemas").mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "components.py").write_text(COMPONENTS)
        (root / package / "schemas" / "items.json").write_text(f'{{"title": "{package}"}}')
        class_name = f"{package}.components.SchemaTitle"
    else:
        (root / "components.py").write_text(COMPONENTS)
        class_name = "components.DefaultPath"
    manifest = root / "manifest.yaml"
    manifest.write_text(
        modern(
            url,
            extra_stream=f"transformations:\n  - {{type: CustomTransformation, "
            f"class_name: {class_name}, $parameters: {{name: items}}}}",
        ).replace(
            "      paginator:",
            "      partition_router: {type: ListPartitionRouter, cursor_field: part, "
            "values: ['1', '2', '3', '4']}\n      paginator:",
        )
    )
    return manifest


def _read(manifest: Path) -> list[dict]:
    """Every record, its four slices read by a pool of threads."""
    with load_source(manifest, {"token": "t" * 8}, concurrency=4) as source:
        return list(source.read_records("items"))


@pytest.fixture
def items(api_server: ApiServer) -> ApiServer:
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 1}, {"id": 2}]}))
    return api_server


def _first_source_module() -> str:
    """The package airbyte-cdk's own rule names: the first module whose name has ``source_``."""
    return next(m for m in sys.modules if "source_" in m and "airbyte_cdk" not in m).split(".")[0]


def test_two_connectors_in_one_process_each_read_their_own_schema(items, tmp_path):
    alpha = _connector(tmp_path / "alpha", items.url, "source_alpha")
    beta = _connector(tmp_path / "beta", items.url, "source_beta")
    assert _read(alpha)[0]["schema"] == "source_alpha"  # both packages are loaded from here on
    assert _first_source_module() not in ("source_alpha", "source_beta")
    with ThreadPoolExecutor(2) as pool:  # both connectors read at once, each with its own pool
        reads = list(pool.map(_read, [alpha, beta, alpha, beta]))
    for records, package in zip(reads, ["source_alpha", "source_beta"] * 2, strict=True):
        assert len(records) == 8
        assert {r["schema"] for r in records} == {package}
        assert {r["default_path"] for r in records} == {
            f"./{package}/schemas/{{{{parameters['name']}}}}.json"
        }


def test_a_connector_without_a_source_package_keeps_airbyte_cdks_rule(items, tmp_path):
    _read(_connector(tmp_path / "alpha", items.url, "source_alpha"))
    records = _read(_connector(tmp_path / "gamma", items.url, None))
    # Outside any connector's calls, the function is airbyte-cdk's own rule.
    assert {r["default_path"] for r in records} == {json_file_schema_loader._default_file_path()}
    assert _first_source_module() in records[0]["default_path"]


def test_an_airbyte_cdk_without_the_default_function_is_left_alone(monkeypatch):
    from engine.custom.scope import install

    monkeypatch.delattr(json_file_schema_loader, "_default_file_path")
    install()
    assert not hasattr(json_file_schema_loader, "_default_file_path")
