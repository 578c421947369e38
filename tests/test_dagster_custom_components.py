"""In Dagster, a stream with custom components (written against airbyte-cdk, beside the
manifest) is an asset like any other; a custom partition router cannot become Dagster
partitions, so that stream is unpartitioned, with a warning saying so."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import dagster as dg
import pytest
from manifests import modern
from support.api_server import ApiServer, Response

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets

pytest.importorskip("airbyte_cdk", reason="needs the airbyte extra")

COMPONENTS = Path(__file__).parent / "support" / "cdk_components.py"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def test_a_stream_with_custom_components_materializes_unpartitioned_with_a_warning(
    api_server: ApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 1}, {"id": 2}]}))
    shutil.copy(COMPONENTS, tmp_path / "components.py")
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(
        modern(api_server.url)
        .replace(
            "extractor: {type: DpathExtractor, field_path: [data]}",
            "extractor: {type: CustomRecordExtractor, class_name: components.WrappedDpath, "
            "field_path: [data]}",
        )
        .replace(
            "      paginator:",
            "      partition_router: {type: CustomPartitionRouter, class_name: components.Router}"
            "\n      paginator:",
        )
    )
    with caplog.at_level(logging.WARNING):
        (asset,) = build_declarative_assets(manifest)
    assert asset.partitions_def is None
    assert "Router" in caplog.text and "unpartitioned" in caplog.text
    resource = DeclarativeSourceResource(
        config={"token": "t" * 8, "teams": ["x", "y"]},
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset], instance=instance, resources={"declarative_source": resource}, run_config=QUIET
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["records"].value == 4
    assert sorted(r.query["team"][0] for r in api_server.requests) == ["x", "y"]
