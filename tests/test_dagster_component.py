"""The Component from a real defs.yaml, materialized; and the schema check counting violations."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml
from dagster.components.testing import create_defs_folder_sandbox
from support.api_server import ApiServer
from support.slicing_manifests import modern, modern_stream

from dagster_declarative import (
    DeclarativeSourceComponent,
    DeclarativeSourceResource,
    build_declarative_assets,
)

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}


def _manifest(url: str) -> dict:
    stream = modern_stream(url, "items", "/items")
    stream["schema_loader"]["schema"] = SCHEMA
    return modern(stream)


def test_defs_yaml_loads_and_materializes(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.add_collection("/items", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    with create_defs_folder_sandbox() as sandbox:
        defs_path = sandbox.scaffold_component(
            component_cls=DeclarativeSourceComponent,
            defs_yaml_contents={
                "type": "dagster_declarative.DeclarativeSourceComponent",
                "attributes": {
                    "manifest_path": "shop.yaml",
                    "state_url": f"sqlite:///{tmp_path / 'state.db'}",
                    "warehouse_url": f"duckdb:///{tmp_path / 'wh.duckdb'}",
                    "translation": {"group_name": "raw_{{ stream_name }}"},
                    "check_schema": True,
                },
            },
        )
        (defs_path / "shop.yaml").write_text(yaml.safe_dump(_manifest(api_server.url)))
        with sandbox.load_component_and_build_defs(defs_path=defs_path) as (component, defs):
            assert isinstance(component, DeclarativeSourceComponent)
            key = dg.AssetKey(["shop", "items"])
            assert defs.resolve_assets_def(key).group_names_by_key[key] == "raw_items"
            job = defs.resolve_implicit_global_asset_job_def()
            result = job.execute_in_process(run_config=QUIET)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["dagster/row_count"].value == 2
    (check,) = result.get_asset_check_evaluations()  # check_schema: true
    assert check.passed and check.metadata["records_checked"].value == 2


def test_schema_check_counts_violating_records(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.add_collection(
        "/items", [{"id": 1, "name": "a"}, {"id": 2, "name": ["b"]}, {"id": 3, "name": 4}]
    )
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(yaml.safe_dump(_manifest(api_server.url)))
    resource = DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    examples = ["name: fails 'type'", "name: fails 'type'"]
    # By default the materialization says it (test_dagster_run_log.py: and a warning).
    (asset,) = build_declarative_assets(manifest)
    result = dg.materialize([asset], resources={"declarative_source": resource}, run_config=QUIET)
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["schema_violations"].value == 2
    assert event.materialization.metadata["schema_examples"].value == examples
    assert result.get_asset_check_evaluations() == []
    # As an asset check when asked for.
    (asset,) = build_declarative_assets(manifest, check_schema=True)
    result = dg.materialize([asset], resources={"declarative_source": resource}, run_config=QUIET)
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.metadata["violations"].value == 2
    assert check.metadata["records_checked"].value == 3
    assert check.metadata["examples"].value == examples
