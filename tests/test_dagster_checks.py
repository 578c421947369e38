"""The schema check of a partitioned stream, as the instance records it: every partition a run
planned a check for gets its own evaluation with its own counts, in range runs (a single-run
backfill) as in single-partition runs, and each counts as the partition's current check."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus,
    AssetCheckExecutionResolvedStatus,
)
from support.api_collections import Pagination, RecordCollection
from support.api_server import ApiServer, DateFilter, RecordedRequest, Response
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS = 10
# Day d has d % 3 + 1 records numbered n = 0, 1, ...; the schema allows n = 0 only, so day d
# has d % 3 violations: each partition's counts are its own.
SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "n": {"type": "integer", "maximum": 0}},
}
PASSED, FAILED = AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED


def _days(first: int, last: int) -> list[str]:
    return [(DAY0 + dt.timedelta(days=day)).strftime("%Y-%m-%d") for day in range(first, last + 1)]


def _events(url: str) -> RecordCollection:
    records = [dict(r, n=int(r["id"].split("-")[1])) for r in daily_records(DAY0, DAYS)]
    return RecordCollection(records, url, Pagination("none"), "data", DateFilter("updated_at"))


@pytest.fixture
def asset(api_server: ApiServer, tmp_path: Path) -> dg.AssetsDefinition:
    api_server.add_route("GET", "/events", _events(api_server.url))
    cursor = date_cursor(
        "2024-01-01T00:00:00Z", "2024-01-10T23:59:59Z", step="P1D", cursor_granularity="PT1S"
    )
    stream = modern_stream(api_server.url, "events", "/events", incremental=cursor, retries=False)
    stream["schema_loader"]["schema"] = SCHEMA
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(yaml.safe_dump(modern(stream)))
    (built,) = build_declarative_assets(manifest, check_schema=True)
    return built


def _materialize(
    asset: dg.AssetsDefinition, instance: dg.DagsterInstance, tmp_path: Path, **kwargs: object
) -> dg.ExecuteInProcessResult:
    resource = DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    return dg.materialize(
        [asset],
        instance=instance,
        resources={"declarative_source": resource},
        run_config=QUIET,
        **kwargs,  # type: ignore[arg-type]
    )


def _range(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


def _executions(instance: dg.DagsterInstance, key: dg.AssetCheckKey) -> dict:
    """Every execution row of the check: partition -> (status, records checked, violations)."""
    rows = instance.event_log_storage.get_asset_check_execution_history(key, limit=1000)
    result = {}
    for row in rows:
        evaluated = row.status in (PASSED, FAILED)
        metadata = row.evaluation.metadata if evaluated and row.evaluation else {}
        counts = tuple(metadata[k].value for k in ("records_checked", "violations") if metadata)
        result[row.partition] = (row.status, *counts)
    assert len(result) == len(rows), "one row per partition"
    return result


def _state(
    instance: dg.DagsterInstance, asset: dg.AssetsDefinition, key: dg.AssetCheckKey
) -> dict[AssetCheckExecutionResolvedStatus, list[str]]:
    """The per-partition check status the UI shows (non-empty statuses only)."""
    partitions_def = AssetGraph.from_assets([asset]).get(key).partitions_def
    assert partitions_def == asset.partitions_def  # the check is partitioned as its asset
    state = instance.event_log_storage.get_asset_check_state([(key, partitions_def)])[key]
    subsets = {
        status: subset.value.get_partition_keys() for status, subset in state.subsets.items()
    }
    return {status: sorted(keys) for status, keys in subsets.items() if keys}


def _expected(days: list[str]) -> dict:
    return {
        key: (PASSED if day % 3 == 0 else FAILED, day % 3 + 1, day % 3)
        for day, key in ((int(key[-2:]) - 1, key) for key in days)
    }


def test_a_range_run_evaluates_every_partition_with_its_own_counts(
    asset: dg.AssetsDefinition, tmp_path: Path
) -> None:
    (key,) = asset.check_keys
    days = _days(0, 5)
    with dg.instance_for_test() as instance:
        result = _materialize(asset, instance, tmp_path, tags=_range(days[0], days[-1]))
        assert result.success
        executions = _executions(instance, key)
        state = _state(instance, asset, key)
        examples = {
            e.partition: e.metadata["examples"].value for e in result.get_asset_check_evaluations()
        }
    assert executions == _expected(days)  # no partition left PLANNED, none evaluated as None
    assert state == {
        AssetCheckExecutionResolvedStatus.SUCCEEDED: ["2024-01-01", "2024-01-04"],
        AssetCheckExecutionResolvedStatus.FAILED: [
            "2024-01-02",
            "2024-01-03",
            "2024-01-05",
            "2024-01-06",
        ],
    }
    assert examples["2024-01-01"] == []
    assert examples["2024-01-03"] == ["n: fails 'maximum'"] * 2


def test_a_single_partition_run_evaluates_its_partition(
    asset: dg.AssetsDefinition, tmp_path: Path
) -> None:
    (key,) = asset.check_keys
    with dg.instance_for_test() as instance:
        _materialize(asset, instance, tmp_path, partition_key="2024-01-03")
        _materialize(asset, instance, tmp_path, partition_key="2024-01-04")
        assert _executions(instance, key) == _expected(["2024-01-03", "2024-01-04"])
        assert _state(instance, asset, key) == {
            AssetCheckExecutionResolvedStatus.SUCCEEDED: ["2024-01-04"],
            AssetCheckExecutionResolvedStatus.FAILED: ["2024-01-03"],
        }


def test_a_later_run_replaces_the_partitions_it_covers_only(
    asset: dg.AssetsDefinition, tmp_path: Path
) -> None:
    """A partition's check is that of its latest materialization: re-running two days moves
    only theirs (a newer evaluation targeting the newer materialization)."""
    (key,) = asset.check_keys
    with dg.instance_for_test() as instance:
        _materialize(asset, instance, tmp_path, tags=_range("2024-01-01", "2024-01-06"))
        again = _materialize(asset, instance, tmp_path, tags=_range("2024-01-02", "2024-01-03"))
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key
        runs = {day: latest([key], PartitionKeyFilter(key=day))[key].run_id for day in _days(0, 5)}
        state = _state(instance, asset, key)
    assert {day for day, run in runs.items() if run == again.run_id} == {
        "2024-01-02",
        "2024-01-03",
    }
    assert state[AssetCheckExecutionResolvedStatus.FAILED] == _days(1, 2) + _days(4, 5)


def test_a_failed_range_run_evaluates_the_partitions_it_wrote(
    api_server: ApiServer, asset: dg.AssetsDefinition, tmp_path: Path
) -> None:
    """The partitions committed before the failing one keep their evaluations; the others'
    planned checks end with the run (Dagster resolves them as execution failed)."""

    events = _events(api_server.url)

    def fail_day_three(request: RecordedRequest) -> Response:
        if request.param("updated_since") == "2024-01-03T00:00:00Z":
            return Response(500, {"error": "boom"})
        return events(request)

    api_server.add_route("GET", "/events", fail_day_three)
    (key,) = asset.check_keys
    with dg.instance_for_test() as instance:
        result = _materialize(
            asset, instance, tmp_path, tags=_range("2024-01-01", "2024-01-05"), raise_on_error=False
        )
        assert not result.success
        executions = _executions(instance, key)
        state = _state(instance, asset, key)
    planned = AssetCheckExecutionRecordStatus.PLANNED
    assert executions == {
        **_expected(["2024-01-01", "2024-01-02"]),
        **{day: (planned,) for day in _days(2, 4)},
    }
    assert state == {
        AssetCheckExecutionResolvedStatus.SUCCEEDED: ["2024-01-01"],
        AssetCheckExecutionResolvedStatus.FAILED: ["2024-01-02"],
        AssetCheckExecutionResolvedStatus.EXECUTION_FAILED: _days(2, 4),
    }
