"""The Dagster integration end to end: manifest -> assets -> engine -> DuckDB + state table."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
from support.api_server import ApiServer, BearerAuth, Pagination

from dagster_declarative import (
    DeclarativeSourceResource,
    DeclarativeTranslator,
    build_declarative_assets,
    build_declarative_definitions,
)

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SECRET = "s3cr3t-token-value"


def _manifest(url: str) -> str:
    return textwrap.dedent(f"""
        version: 6.0.0
        type: DeclarativeSource
        check: {{type: CheckStream, stream_names: [items]}}
        streams:
          - type: DeclarativeStream
            name: items
            primary_key: id
            schema_loader:
              type: InlineSchemaLoader
              schema:
                type: object
                properties: {{id: {{type: integer}}, name: {{type: string}}}}
            retriever:
              type: SimpleRetriever
              requester:
                type: HttpRequester
                url_base: {url}
                path: /items
                authenticator:
                  {{type: BearerAuthenticator, api_token: "{{{{ config['token'] }}}}"}}
              record_selector:
                type: RecordSelector
                extractor: {{type: DpathExtractor, field_path: [data]}}
              paginator:
                type: DefaultPaginator
                page_token_option:
                  {{type: RequestOption, inject_into: request_parameter, field_name: page}}
                pagination_strategy: {{type: PageIncrement, page_size: 10, start_from_page: 1}}
        spec:
          connection_specification:
            type: object
            required: [token]
            properties: {{token: {{type: string, airbyte_secret: true}}}}
    """)


@pytest.fixture
def server(api_server: ApiServer) -> ApiServer:
    records = [{"id": i, "name": f"n{i}"} for i in range(25)]
    api_server.add_collection(
        "/items", records, pagination=Pagination("page", page_size=10), auth=BearerAuth(SECRET)
    )
    return api_server


@pytest.fixture
def manifest_file(server: ApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(_manifest(server.url))
    return path


def _resource(tmp_path: Path, token: str = SECRET) -> DeclarativeSourceResource:
    return DeclarativeSourceResource(
        config={"token": dg.EnvVar("DD_TEST_TOKEN")},
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )


def test_unpartitioned_stream_materializes_rows_and_metadata(
    manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_TEST_TOKEN", SECRET)
    (asset,) = build_declarative_assets(manifest_file)
    assert asset.key == dg.AssetKey(["shop", "items"])
    assert asset.group_names_by_key[asset.key] == "shop"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
        )
        assert result.success
        (event,) = result.get_asset_materialization_events()
        metadata = event.materialization.metadata
        assert metadata["records"].value == 25
        assert metadata["rows_written"].value == 25  # unpartitioned: no partition_row_count
        assert metadata["read"].value["pages"] == metadata["read"].value["requests"] == 3
        assert metadata["dagster/row_count"].value == 25
        assert metadata["dagster/table_name"].value == "shop.items"
        assert metadata["schema_violations"].value == 0  # no asset check unless asked for
        assert "schema_examples" not in metadata
        assert result.get_asset_check_evaluations() == []
        # a second run upserts: still 25 rows
        again = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
        )
        (event,) = again.get_asset_materialization_events()
        assert event.materialization.metadata["dagster/row_count"].value == 25


def test_secret_config_appears_nowhere(
    manifest_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DD_TEST_TOKEN", "wrong-" + SECRET)
    (asset,) = build_declarative_assets(manifest_file)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
            raise_on_error=False,
        )
        assert not result.success
        text = "\n".join(
            str(record.dagster_event or record.user_message)
            for record in instance.all_logs(result.run_id)
        )
        assert "items" in text
        assert SECRET not in text


def test_translator_override_changes_key_and_group(manifest_file: Path) -> None:
    class Custom(DeclarativeTranslator):
        def get_asset_spec(self, data):  # type: ignore[no-untyped-def]
            spec = super().get_asset_spec(data)
            return spec.replace_attributes(key=["raw", data.stream_name], group_name="raw")

    (asset,) = build_declarative_assets(manifest_file, translator=Custom())
    assert asset.key == dg.AssetKey(["raw", "items"])
    assert asset.group_names_by_key[asset.key] == "raw"


def test_definitions_include_resource(manifest_file: Path, tmp_path: Path) -> None:
    defs = build_declarative_definitions(manifest_file, resource=_resource(tmp_path))
    assert defs.resolve_assets_def(dg.AssetKey(["shop", "items"]))


def test_engine_does_not_import_dagster() -> None:
    code = "import sys, engine, engine.streams.reader; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_component_builds_assets_without_rendering_manifest_templates(
    manifest_file: Path,
) -> None:
    from dagster.components.core.component_tree import ComponentTree

    from dagster_declarative import DeclarativeSourceComponent

    component = DeclarativeSourceComponent.resolve_from_yaml(
        textwrap.dedent(f"""
            manifest_path: {manifest_file.name}
            env_config: {{token: DD_TEST_TOKEN}}
            config: {{note: "{{{{ config['x'] }}}}"}}
        """)
    )
    assert component.config == {"note": "{{ config['x'] }}"}
    context = ComponentTree.for_test().load_context.for_path(manifest_file.parent)
    defs = component.build_defs(context)
    assert defs.resolve_assets_def(dg.AssetKey(["shop", "items"]))
