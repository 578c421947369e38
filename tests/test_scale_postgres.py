"""Multi-run backfills the way teams run them at scale: Dagster's storage, the state table and the
warehouse in PostgreSQL, the queued run coordinator (4 runs at once) and a real daemon launching
each run in its own process.

60 daily partitions back filled 15 per run: every row lands exactly once, every partition has one
materialization and its own state, and no run is refused for a lease (overlapping runs wait for
each other's partitions), and runs do overlap in time. Two overlapping backfills launched at once
end the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from support.api_collections import RecordCollection
from support.api_server import ApiServer, DateFilter, Pagination, RecordedRequest, Response
from support.dagster_daemon import (
    fresh_database,
    load_definitions,
    postgres_url_or_skip,
    running_daemon,
    submit_backfill,
    wait_until,
    write_code_location,
    write_dagster_home,
)
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from engine.state.store import StateStore

pytestmark = pytest.mark.postgres

DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS = 60
KEYS = [(DAY0 + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS)]
RECORDS = daily_records(DAY0, DAYS)
ASSET = dg.AssetKey(["shop", "events"])
# Each day's request takes this long, so that a run (15 days) outlasts the launch of the next
# ones: the daemon launches runs one after another, seconds apart on a busy machine.
DAY_SECONDS = 1.0
RUNS_TIMEOUT = 300.0  # a safety net: on a loaded 2-core machine the overlapping case takes ~2 min


def _manifest(directory: Path, url: str) -> Path:
    end = f"{KEYS[-1]}T23:59:59Z"
    cursor = date_cursor("2024-01-01T00:00:00Z", end, step="P1D", cursor_granularity="PT1S")
    stream = modern_stream(url, "events", "/events", incremental=cursor, retries=False)
    path = directory / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(stream)))
    return path


def _last_cursor_of(day: str) -> dict:
    return {"updated_at": max(r["updated_at"] for r in RECORDS if r["updated_at"][:10] == day)}


def _backfill_through_the_daemon(
    api_server: ApiServer, tmp_path: Path, backfills: dict[str, list[str]]
) -> tuple[list[dg.DagsterRun], dict[str, int], dict[str, int], dict[str, dict]]:
    """Run ``backfills`` (id -> partition keys) at once; the runs, materializations per
    partition, rows per id and state per partition."""
    collection = RecordCollection(
        RECORDS, api_server.url, Pagination("none"), "data", DateFilter("updated_at")
    )

    def slow(request: RecordedRequest) -> Response:
        return dataclasses.replace(collection(request), delay=DAY_SECONDS)

    api_server.add_route("GET", "/events", slow)
    with fresh_database(postgres_url_or_skip()) as database:
        home = tmp_path / "home"
        write_dagster_home(home, database, max_concurrent_runs=4)
        workspace = write_code_location(
            tmp_path, _manifest(tmp_path, api_server.url), database, per_run=15
        )
        defs = load_definitions(tmp_path)
        expected_runs = sum(-(-len(keys) // 15) for keys in backfills.values())
        os.environ["DAGSTER_HOME"] = str(home)
        try:
            instance = dg.DagsterInstance.get()
        finally:
            del os.environ["DAGSTER_HOME"]
        with instance:
            for backfill_id, keys in backfills.items():
                submit_backfill(instance, defs, ASSET, keys, backfill_id)
            with running_daemon(home, workspace):

                def all_runs_finished() -> bool:
                    runs = instance.get_runs()
                    return len(runs) == expected_runs and all(r.is_finished for r in runs)

                wait_until(
                    all_runs_finished, RUNS_TIMEOUT, "every run finished", home / "daemon.log"
                )
            runs = instance.get_runs()
            spans = [(r.start_time, r.end_time) for r in instance.get_run_records()]
            assert _most_at_once(spans) >= 2, f"the runs never overlapped: {sorted(spans)}"
            records = instance.fetch_materializations(ASSET, limit=10_000).records
            materialized: dict[str, int] = {}
            for record in records:
                materialized[record.partition_key] = materialized.get(record.partition_key, 0) + 1
            failures = {
                run.run_id: [
                    str(event.dagster_event.step_failure_data.error)
                    for event in instance.all_logs(run.run_id)
                    if event.dagster_event and event.dagster_event.is_step_failure
                ]
                for run in runs
                if run.status != dg.DagsterRunStatus.SUCCESS
            }
            assert not failures, f"runs failed: {failures}"
        engine = sa.create_engine(database)
        try:
            with engine.connect() as connection:
                rows = dict(
                    connection.exec_driver_sql(
                        "SELECT id, COUNT(*) FROM shop.events GROUP BY id"
                    ).all()
                )
        finally:
            engine.dispose()
        store = StateStore(database.render_as_string(hide_password=False))
        try:
            states = store.load_all("shop", "events")
        finally:
            store.dispose()
    return runs, materialized, rows, states


def test_a_multi_run_backfill_of_60_days_on_postgres_writes_each_row_once(
    api_server: ApiServer, tmp_path: Path
) -> None:
    runs, materialized, rows, states = _backfill_through_the_daemon(
        api_server, tmp_path, {"sixty": KEYS}
    )
    assert len(runs) == 4
    assert sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in runs
    ) == [(KEYS[i], KEYS[i + 14]) for i in range(0, DAYS, 15)]
    assert materialized == dict.fromkeys(KEYS, 1)
    assert rows == {r["id"]: 1 for r in RECORDS}
    assert states == {key: _last_cursor_of(key) for key in KEYS}
    assert max(s["updated_at"] for s in states.values()) == _last_cursor_of(KEYS[-1])["updated_at"]


def test_two_overlapping_backfills_launched_at_once_wait_for_each_other(
    api_server: ApiServer, tmp_path: Path
) -> None:
    overlap = KEYS[8:53]
    runs, materialized, rows, states = _backfill_through_the_daemon(
        api_server, tmp_path, {"whole": KEYS, "overlap": overlap}
    )
    assert len(runs) == 4 + 3
    assert materialized == {key: 2 if key in overlap else 1 for key in KEYS}
    assert rows == {r["id"]: 1 for r in RECORDS}
    assert states == {key: _last_cursor_of(key) for key in KEYS}


def _most_at_once(spans: list[tuple[float | None, float | None]]) -> int:
    """The largest number of runs that were running at the same moment."""
    moments = sorted(
        [(start, 1) for start, _ in spans if start] + [(end, -1) for _, end in spans if end]
    )
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most
