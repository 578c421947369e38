"""SIGKILL at random points, 20 times each, of (a) a CLI read with ``--state-db`` and (b) a
multi-partition Dagster run writing to DuckDB with the state table; then a run to completion.

Invariants checked after every kill: the data holds no duplicates, and the state table is never
ahead of the data (each saved state covers only rows that were delivered). After the final run the
data holds exactly the expected rows. The CLI's "warehouse" is its consumer: it commits the
records it received up to each STATE message, as an Airbyte destination does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest
import yaml
from support.api_collections import RecordCollection
from support.api_server import ApiServer, DateFilter, Pagination, RecordedRequest
from support.dagster_daemon import fresh_database, postgres_url_or_skip
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from engine.state.store import StateStore

KILLS = 20
DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS = 40
REQUEST_DELAY = 0.06


RECORDS = daily_records(DAY0, DAYS)
EXPECTED_IDS = sorted(r["id"] for r in RECORDS)


@pytest.fixture
def server(api_server: ApiServer) -> ApiServer:
    collection = RecordCollection(
        RECORDS, api_server.url, Pagination("none"), "data", DateFilter("updated_at")
    )

    def slow(request: RecordedRequest):  # type: ignore[no-untyped-def]
        return dataclasses.replace(collection(request), delay=REQUEST_DELAY)

    api_server.add_route("GET", "/events", slow)
    return api_server


def _manifest_file(tmp_path: Path, url: str) -> Path:
    end = (DAY0 + dt.timedelta(days=DAYS) - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cursor = date_cursor("2024-01-01T00:00:00Z", end, step="P1D", cursor_granularity="PT1S")
    stream = modern_stream(url, "events", "/events", incremental=cursor, retries=False)
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(stream)))
    return path


# -- (a) the CLI with a state database -----------------------------------------------------------


def _parse_output(text: bytes) -> tuple[list[dict], dict | None]:
    """Records committed by STATE messages (a partial last line is ignored), and the last state."""
    committed: list[dict] = []
    pending: list[dict] = []
    last_state = None
    for line in text.splitlines():
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            break  # the line the kill cut short
        if message["type"] == "RECORD":
            pending.append(message["record"]["data"])
        elif message["type"] == "STATE":
            committed.extend(pending)
            pending = []
            last_state = message["state"]["stream"]["stream_state"]
    return committed, last_state


def test_cli_read_killed_at_random_points_loses_and_duplicates_nothing(
    server: ApiServer, tmp_path: Path
) -> None:
    manifest = _manifest_file(tmp_path, server.url)
    (tmp_path / "config.json").write_text("{}")
    catalog = {
        "streams": [
            {
                "stream": {"name": "events"},
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ]
    }
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    command = [
        sys.executable,
        "-m",
        "engine",
        "read",
        "--manifest",
        str(manifest),
        "--config",
        str(tmp_path / "config.json"),
        "--catalog",
        str(tmp_path / "catalog.json"),
        "--state-db",
        state_url,
        "--source-name",
        "shop",
    ]
    # Buffered stdout, as in production (a PYTHONUNBUFFERED in the test's environment would hide
    # messages lost in the buffer when the process dies).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    generator = random.Random(8)
    warehouse: dict[str, dict] = {}  # upserted by primary key, as a deduplicating destination
    delivered_state: dict | None = None
    resumed_from: dict | None = None
    redelivered = 0
    for attempt in range(KILLS + 1):
        output = tmp_path / f"out-{attempt}.jsonl"
        with output.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, env=env)
            if attempt < KILLS:
                time.sleep(generator.uniform(0.05, 1.5))
                process.send_signal(signal.SIGKILL)
            _, stderr = process.communicate(timeout=60)
        assert b"Traceback" not in stderr, stderr.decode()
        committed, last_state = _parse_output(output.read_bytes())
        for record in committed:
            if record["id"] in warehouse:
                # At-least-once only from the saved state on (its start is inclusive): a record
                # before it must never be read again.
                assert resumed_from is None or record["updated_at"] >= resumed_from["updated_at"]
                redelivered += 1
            warehouse[record["id"]] = record
        if last_state is not None:
            delivered_state = last_state
        store = StateStore(state_url)
        saved = store.load("shop", "events") if (tmp_path / "state.db").exists() else None
        store.dispose()
        if saved is not None:
            assert delivered_state is not None, f"attempt {attempt}: state saved, no data delivered"
            assert saved["updated_at"] <= delivered_state["updated_at"], (
                f"attempt {attempt}: the state table ({saved}) is ahead of the data the consumer "
                f"received ({delivered_state})"
            )
        resumed_from = saved
    assert process.returncode == 0
    assert sorted(warehouse) == EXPECTED_IDS
    print(f"CLI: {KILLS} kills, {redelivered} records re-delivered past the saved state")


# -- (b) a multi-partition Dagster run --------------------------------------------------------

# Importing Dagster takes seconds; a "zygote" imports it once, then forks one child per run and
# SIGKILLs it after a random delay, inspecting the warehouse and the state table after each kill.
ZYGOTE = textwrap.dedent("""
    import json, os, random, signal, sys, time

    import dagster as dg
    import duckdb
    import sqlalchemy as sa

    from dagster_declarative import DeclarativeSourceResource, build_declarative_assets
    from engine.state.store import StateStore

    manifest, workdir, kills, seed, first, last, postgres = sys.argv[1:8]
    state_url = postgres or f"sqlite:///{workdir}/state.db"
    warehouse = f"{workdir}/wh.duckdb"
    assets = build_declarative_assets(manifest)
    # A killed run's leases lapse after a second (not a minute), so the next run starts at once.
    resource = DeclarativeSourceResource(
        state_url=state_url,
        warehouse_url=postgres or f"duckdb:///{warehouse}",
        lease_ttl_seconds=1.0,
    )
    tags = {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


    def run():
        result = dg.materialize(
            assets,
            instance=dg.DagsterInstance.ephemeral(),
            resources={"declarative_source": resource},
            run_config=quiet,
            tags=tags,
            raise_on_error=False,
        )
        os._exit(0 if result.success else 3)


    def warehouse_ids():
        if postgres:
            engine = sa.create_engine(postgres)
            try:
                with engine.connect() as connection:
                    return [r[0] for r in connection.exec_driver_sql("select id from shop.events")]
            except sa.exc.ProgrammingError:  # the table is not there yet
                return []
            finally:
                engine.dispose()
        rows = []
        if os.path.exists(warehouse):
            connection = duckdb.connect(warehouse, read_only=True)
            try:
                rows = [r[0] for r in connection.execute("select id from shop.events").fetchall()]
            except duckdb.CatalogException:
                rows = []
            finally:
                connection.close()
        return rows


    def inspect(kind, status):
        rows = warehouse_ids()
        store = StateStore(state_url)
        try:
            exists = postgres or os.path.exists(f"{workdir}/state.db")
            states = store.load_all("shop", "events") if exists else {}
        finally:
            store.dispose()
        result = {"kind": kind, "status": status, "rows": rows, "states": states}
        print(json.dumps(result), flush=True)


    generator = random.Random(int(seed))
    for attempt in range(int(kills) + 1):
        pid = os.fork()
        if pid == 0:
            run()
        if attempt < int(kills):
            time.sleep(generator.uniform(0.05, 1.5))
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        inspect("killed" if attempt < int(kills) else "final", status)
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the zygote forks one child per run")
@pytest.mark.parametrize(
    "backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_dagster_partition_run_killed_at_random_points_keeps_state_behind_data(
    server: ApiServer, tmp_path: Path, backend: str
) -> None:
    if backend == "postgres":
        with fresh_database(postgres_url_or_skip()) as database:
            _kill_dagster_runs(server, tmp_path, database.render_as_string(hide_password=False))
    else:
        _kill_dagster_runs(server, tmp_path, "")


def _kill_dagster_runs(server: ApiServer, tmp_path: Path, postgres: str) -> None:
    """Run the zygote (warehouse and state in ``postgres``, or DuckDB and SQLite files), then
    check every observation."""
    manifest = _manifest_file(tmp_path, server.url)
    script = tmp_path / "zygote.py"
    script.write_text(ZYGOTE)
    last_day = (DAY0 + dt.timedelta(days=DAYS - 1)).strftime("%Y-%m-%d")
    completed = subprocess.run(
        [
            sys.executable,
            *(str(script), str(manifest), str(tmp_path), str(KILLS), "5"),
            *("2024-01-01", last_day, postgres),
        ],
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr.decode()[-3000:]
    observations = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(observations) == KILLS + 1
    by_day: dict[str, set[str]] = {}
    for record in RECORDS:
        by_day.setdefault(record["updated_at"][:10], set()).add(record["id"])
    for number, seen in enumerate(observations):
        rows = seen["rows"]
        assert len(rows) == len(set(rows)), f"observation {number}: duplicate rows"
        for partition in seen["states"]:
            missing = by_day[partition] - set(rows)
            assert not missing, (
                f"observation {number}: partition {partition} has state but rows {missing} are "
                "missing from the warehouse"
            )
    final = observations[-1]
    assert final["status"] == 0
    assert sorted(final["rows"]) == EXPECTED_IDS
    assert set(final["states"]) == set(by_day)
