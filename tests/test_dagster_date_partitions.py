"""Date-partitioned streams run for real: one partition, a 30-day backfill through Dagster's
backfill machinery, per-partition state, failures, open windows resumed from their cursor,
schedules and translator overrides."""

from __future__ import annotations

import datetime as dt
import logging
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import PythonFileTarget
from dagster._daemon.backfill import execute_backfill_iteration
from support.api_collections import RecordCollection
from support.api_server import ApiServer, DateFilter, RecordedRequest, Response
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from dagster_declarative import (
    DeclarativeSourceResource,
    DeclarativeTranslator,
    build_declarative_assets,
    build_stream_schedules,
)
from engine.state.store import StateStore

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS = 40


def _manifest_file(tmp_path: Path, url: str, *, end: str | None = "2024-02-09T23:59:59Z") -> Path:
    cursor = date_cursor("2024-01-01T00:00:00Z", end, step="P1D", cursor_granularity="PT1S")
    stream = modern_stream(url, "events", "/events", incremental=cursor, retries=False)
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(stream)))
    return path


def _resource(tmp_path: Path) -> DeclarativeSourceResource:
    return DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )


@pytest.fixture
def server(api_server: ApiServer) -> ApiServer:
    api_server.add_collection(
        "/events", daily_records(DAY0, DAYS), date_filter=DateFilter("updated_at")
    )
    return api_server


def _state(tmp_path: Path, partition: str) -> dict | None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        return store.load("shop", "events", partition)
    finally:
        store.dispose()


def test_one_partition_reads_exactly_its_window(server: ApiServer, tmp_path: Path) -> None:
    (asset,) = build_declarative_assets(_manifest_file(tmp_path, server.url))
    assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
    assert asset.partitions_def.get_last_partition_key() == "2024-02-09"
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    result = dg.materialize(
        [asset],
        partition_key="2024-01-03",
        resources={"declarative_source": _resource(tmp_path)},
        run_config=QUIET,
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert event.partition == "2024-01-03"
    assert metadata["records"].value == 3
    assert metadata["slice/start_time"].value == "2024-01-03T00:00:00Z"
    assert metadata["slice/end_time"].value == "2024-01-03T23:59:59Z"
    (request,) = server.requests
    assert request.param("updated_since") == "2024-01-03T00:00:00Z"
    assert request.param("updated_until") == "2024-01-03T23:59:59Z"
    assert _state(tmp_path, "2024-01-03") == {"updated_at": "2024-01-03T13:00:00Z"}


def _write_defs_module(tmp_path: Path, manifest: Path) -> Path:
    module = tmp_path / "backfill_defs.py"
    module.write_text(
        textwrap.dedent(f"""
            import dagster as dg
            from dagster_declarative import DeclarativeSourceResource, build_declarative_assets

            defs = dg.Definitions(
                assets=build_declarative_assets({str(manifest)!r}),
                resources={{"declarative_source": DeclarativeSourceResource(
                    state_url={f"sqlite:///{tmp_path / 'state.db'}"!r},
                    warehouse_url={f"duckdb:///{tmp_path / 'wh.duckdb'}"!r},
                )}},
                executor=dg.in_process_executor,
            )
        """)
    )
    return module


def test_thirty_day_backfill_is_one_run_with_a_materialization_per_day(
    server: ApiServer, tmp_path: Path
) -> None:
    manifest = _manifest_file(tmp_path, server.url)
    module = _write_defs_module(tmp_path, manifest)
    (asset,) = build_declarative_assets(manifest)
    keys = asset.partitions_def.get_partition_keys()[:30]
    with (
        dg.instance_for_test(
            synchronous_run_coordinator=True, synchronous_run_launcher=True
        ) as instance,
        create_test_daemon_workspace_context(
            PythonFileTarget(str(module), "defs", str(tmp_path), "shop"), instance
        ) as workspace,
    ):
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id="thirtydays",
            asset_graph=workspace.create_request_context().asset_graph,
            partition_names=keys,
            asset_selection=[asset.key],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)
        for _ in range(20):
            list(execute_backfill_iteration(workspace, logging.getLogger("backfill-test")))
            if instance.get_backfill("thirtydays").status != BulkActionStatus.REQUESTED:
                break
        assert instance.get_backfill("thirtydays").status == BulkActionStatus.COMPLETED_SUCCESS
        (run,) = instance.get_runs()
        assert run.tags["dagster/asset_partition_range_start"] == "2024-01-01"
        assert run.tags["dagster/asset_partition_range_end"] == "2024-01-30"
        records = instance.fetch_materializations(asset.key, limit=100).records
        counts = {
            r.partition_key: r.asset_materialization.metadata["records"].value for r in records
        }
    assert counts == {key: day % 3 + 1 for day, key in enumerate(keys)}
    assert _state(tmp_path, "2024-01-30") == {"updated_at": "2024-01-30T13:00:00Z"}
    assert _state(tmp_path, "2024-01-02") == {"updated_at": "2024-01-02T07:00:00Z"}


def test_a_partition_spends_one_event_its_materialization_that_reads_as_the_slice_line(
    server: ApiServer, tmp_path: Path
) -> None:
    """Every event-log write costs a backfill milliseconds: a partition writes no log line of its
    own; its materialization's message (the description) is what the slice line was."""
    (asset,) = build_declarative_assets(_manifest_file(tmp_path, server.url))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": "2024-01-01",
                "dagster/asset_partition_range_end": "2024-01-10",
            },
        )
        entries = instance.all_logs(result.run_id)
    materializations = [
        e for e in entries if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    assert sorted(e.dagster_event.partition for e in materializations) == [
        f"2024-01-{day:02d}" for day in range(1, 11)
    ]
    third = next(e for e in materializations if e.dagster_event.partition == "2024-01-03")
    assert third.message.startswith(
        "[2024-01-03] slice start_time=2024-01-03T00:00:00Z, end_time=2024-01-03T23:59:59Z: "
        "done, 3 records, 1 pages, 1 requests, 0 retries, "
    )
    assert third.dagster_event.event_specific_data.materialization.description == third.message
    text_lines = [e.user_message for e in entries if e.dagster_event is None]
    assert not [line for line in text_lines if "2024-01-" in line], text_lines


def test_failing_slice_fails_the_run_and_earlier_partitions_keep_state(
    server: ApiServer, tmp_path: Path
) -> None:
    (asset,) = build_declarative_assets(_manifest_file(tmp_path, server.url))

    def fail_day_three(request):  # type: ignore[no-untyped-def]
        since = request.param("updated_since")
        if since == "2024-01-03T00:00:00Z":
            return Response(500, {"error": "boom"})
        return Response(200, {"data": [{"id": since, "updated_at": since}]})

    server.add_route("GET", "/events", fail_day_three)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [asset],
            instance=instance,
            resources={"declarative_source": _resource(tmp_path)},
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": "2024-01-01",
                "dagster/asset_partition_range_end": "2024-01-05",
            },
            raise_on_error=False,
        )
        assert not result.success
        (failure,) = result.get_step_failure_events()
        message = failure.step_failure_data.error.message
        assert "500" in message
        assert "2024-01-03T00:00:00Z" in message
        assert "/events" in message
        materialized = {e.partition for e in result.get_asset_materialization_events()}
    assert materialized == {"2024-01-01", "2024-01-02"}
    assert _state(tmp_path, "2024-01-02") == {"updated_at": "2024-01-02T00:00:00Z"}
    assert _state(tmp_path, "2024-01-03") is None
    assert _state(tmp_path, "2024-01-04") is None


def test_open_window_resumes_from_its_cursor_with_a_translator_override(
    api_server: ApiServer, tmp_path: Path
) -> None:
    """A translator opts into the running day (end_offset=1); its second run asks only for what
    came after the stored cursor and upserts it."""
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today + dt.timedelta(seconds=10)
    records = [{"id": "a", "updated_at": first.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    api_server.add_collection("/events", records, date_filter=DateFilter("updated_at"))
    start = (today - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cursor = date_cursor(start, None, step="P1D", cursor_granularity="PT1S")
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(
        yaml.safe_dump(
            modern(modern_stream(api_server.url, "events", "/events", incremental=cursor))
        )
    )

    class RunningDay(DeclarativeTranslator):
        def get_partitions_def(self, data):  # type: ignore[no-untyped-def]
            return dg.DailyPartitionsDefinition(start_date=start[:10], end_offset=1)

        def get_backfill_policy(self, data):  # type: ignore[no-untyped-def]
            return dg.BackfillPolicy.multi_run(2)

    (asset,) = build_declarative_assets(manifest, translator=RunningDay())
    assert asset.backfill_policy == dg.BackfillPolicy.multi_run(2)
    key = today.strftime("%Y-%m-%d")
    assert asset.partitions_def.get_last_partition_key() == key
    resources = {"declarative_source": _resource(tmp_path)}
    with dg.instance_for_test() as instance:
        dg.materialize(
            [asset], partition_key=key, instance=instance, resources=resources, run_config=QUIET
        )
        records.append(
            {
                "id": "b",
                "updated_at": (first + dt.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        api_server.clear_requests()
        again = dg.materialize(
            [asset], partition_key=key, instance=instance, resources=resources, run_config=QUIET
        )
    (request,) = api_server.requests
    assert request.param("updated_since") == records[0]["updated_at"]
    (event,) = again.get_asset_materialization_events()
    assert event.materialization.metadata["records"].value == 2  # a again (inclusive), b new
    assert event.materialization.metadata["dagster/row_count"].value == 2
    assert _state(tmp_path, key) == {"updated_at": records[1]["updated_at"]}


def test_schedules_for_date_partitions_and_incremental_streams(
    server: ApiServer, tmp_path: Path
) -> None:
    dated = _manifest_file(tmp_path, server.url)
    plain = modern_stream(server.url, "cursorless", "/events")
    plain["incremental_sync"] = date_cursor("2024-01-01T00:00:00Z", None)  # no step: one window
    document = yaml.safe_load(dated.read_text())
    document["streams"].append(plain)
    dated.write_text(yaml.safe_dump(document))
    assets = build_declarative_assets(dated)
    built = build_stream_schedules(assets, incremental_cron="*/15 * * * *")
    resources = {"declarative_source": DeclarativeSourceResource()}
    defs = dg.Definitions(assets=assets, schedules=built, resources=resources)
    assert {s.name for s in built} == {"shop__events_job_schedule", "shop__cursorless_schedule"}
    assert defs.resolve_schedule_def("shop__events_job_schedule").cron_schedule == "0 0 * * *"
    assert defs.resolve_schedule_def("shop__cursorless_schedule").cron_schedule == "*/15 * * * *"


def test_slices_read_at_once_reach_each_partition_in_any_order(
    server: ApiServer, tmp_path: Path
) -> None:
    """Four slices at a time, the first day's answer held back: later days' records arrive
    first and wait for their partition, which still gets exactly its own."""
    events = RecordCollection(
        daily_records(DAY0, DAYS), server.url, date_filter=DateFilter("updated_at")
    )

    answered: list[str] = []

    def first_day_late(request: RecordedRequest) -> Response:
        day = (request.param("updated_since") or "")[:10]
        if day == "2024-01-01":
            time.sleep(0.3)
        response = events(request)
        answered.append(day)
        return response

    server.add_route("GET", "/events", first_day_late)
    manifest = _manifest_file(tmp_path, server.url)
    document = yaml.safe_load(manifest.read_text())
    document["concurrency_level"] = {"type": "ConcurrencyLevel", "default_concurrency": 4}
    manifest.write_text(yaml.safe_dump(document))
    (asset,) = build_declarative_assets(manifest)
    keys = asset.partitions_def.get_partition_keys()[:9]
    result = dg.materialize(
        [asset],
        resources={"declarative_source": _resource(tmp_path)},
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    by_partition = {
        e.partition: (
            e.materialization.metadata["records"].value,
            e.materialization.metadata["dagster/partition_row_count"].value,
        )
        for e in result.get_asset_materialization_events()
    }
    assert by_partition == {key: (day % 3 + 1,) * 2 for day, key in enumerate(keys)}
    assert answered.index("2024-01-01") > 0  # later days were answered first
