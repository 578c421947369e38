"""Each stream has a named job (``<source>__<stream>_job``) and, where it has a cadence, a schedule:
list-partitioned streams run every value in one run, streams whose date step no cron ticks run
their running window (and the one that just closed)."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import dagster as dg
import yaml
from support.api_server import ApiServer
from support.slicing_manifests import date_cursor, modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_definitions

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
REGIONS = {
    "type": "ListPartitionRouter",
    "values": ["eu", "us", "apac"],
    "cursor_field": "region",
    "request_option": {
        "type": "RequestOption",
        "inject_into": "request_parameter",
        "field_name": "region",
    },
}


def _definitions(tmp_path: Path, url: str) -> dg.Definitions:
    by_region = modern_stream(url, "orders", "/orders", router=REGIONS)
    three_days = date_cursor(
        "2024-01-01T00:00:00Z", "2024-01-12T23:59:59Z", step="P3D", cursor_granularity="PT1S"
    )
    events = modern_stream(url, "events", "/events", incremental=three_days)
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(by_region, events)))
    resource = DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no define_asset_job(partitions_def)
        return build_declarative_definitions(path, resource=resource, source_name="shop")


def _tick(defs: dg.Definitions, name: str, at: dt.datetime) -> list[dg.RunRequest]:
    schedule = defs.resolve_schedule_def(name)
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        return list(schedule.evaluate_tick(context).run_requests or [])


def test_a_list_stream_runs_every_value_in_one_named_run(
    api_server: ApiServer, tmp_path: Path
) -> None:
    api_server.add_collection("/orders", [{"id": 1}, {"id": 2}])
    defs = _definitions(tmp_path, api_server.url)
    (request,) = _tick(defs, "shop__orders_schedule", dt.datetime(2024, 3, 1))
    job = defs.resolve_job_def("shop__orders_job")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=request.tags, run_config=QUIET)
        assert result.dagster_run.job_name == "shop__orders_job"
        partitions = [e.partition for e in result.get_asset_materialization_events()]
    assert partitions == ["eu", "us", "apac"]


def test_listed_windows_run_the_running_window_and_the_one_just_closed(
    api_server: ApiServer, tmp_path: Path
) -> None:
    defs = _definitions(tmp_path, api_server.url)
    name = "shop__events_schedule"
    (closing,) = _tick(defs, name, dt.datetime(2024, 1, 7, tzinfo=dt.timezone.utc))
    assert closing.tags["dagster/asset_partition_range_start"] == "2024-01-04"
    assert closing.tags["dagster/asset_partition_range_end"] == "2024-01-07"
    (within,) = _tick(defs, name, dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc))
    assert within.tags["dagster/asset_partition_range_start"] == "2024-01-07"
    assert within.tags["dagster/asset_partition_range_end"] == "2024-01-07"
    assert defs.resolve_job_def("shop__events_job").name == "shop__events_job"
