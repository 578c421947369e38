"""Benchmark: a single-run backfill of daily partitions through Dagster against the engine alone.

    python bench/dagster_backfill.py [--days 365] [--per-day 200] [--repeat 3]

A local API serves pre-serialised records per day for ``?updated_since=<day>``. Each round reads
the same daily windows three times: with the engine alone (``iter_slices`` over the stream's
slices), with a minimal Dagster asset that only reads and yields bare materializations (Dagster's
own cost for a run of that many partitions), and as one run of this package's asset over the whole
partition range (``materialize`` with range tags, in process, writing DuckDB and the state table
per partition). It prints the median times and their ratios (target: this package's run <= 1.5x
the engine alone).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import orjson
import yaml

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets
from engine import load_source
from engine.streams.reader import PAGE, iter_slices

START = dt.date(2024, 1, 1)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def serve_days(days: int, per_day: int) -> tuple[ThreadingHTTPServer, str]:
    """An API answering ``/events?updated_since=YYYY-MM-DD...`` with that day's records."""
    pages: dict[str, bytes] = {}
    for offset in range(days):
        day = START + dt.timedelta(days=offset)
        stamp = f"{day.isoformat()}T12:00:00Z"
        records = [
            {"id": offset * per_day + i, "updated_at": stamp, "amount": i * 1.5, "name": f"e{i}"}
            for i in range(per_day)
        ]
        pages[day.isoformat()] = orjson.dumps({"data": records})
    empty = orjson.dumps({"data": []})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            since = parse_qs(urlsplit(self.path).query).get("updated_since", [""])[0]
            body = pages.get(since[:10], empty)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def manifest(url: str, days: int) -> dict:
    end = START + dt.timedelta(days=days - 1)
    option = {"type": "RequestOption", "inject_into": "request_parameter"}
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["events"]},
        "streams": [
            {
                "type": "DeclarativeStream",
                "name": "events",
                "primary_key": "id",
                "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
                "incremental_sync": {
                    "type": "DatetimeBasedCursor",
                    "cursor_field": "updated_at",
                    "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
                    "start_datetime": f"{START.isoformat()}T00:00:00Z",
                    "end_datetime": f"{end.isoformat()}T23:59:59Z",
                    "step": "P1D",
                    "cursor_granularity": "PT1S",
                    "start_time_option": {**option, "field_name": "updated_since"},
                    "end_time_option": {**option, "field_name": "updated_until"},
                },
                "retriever": {
                    "type": "SimpleRetriever",
                    "requester": {"type": "HttpRequester", "url_base": url, "path": "/events"},
                    "record_selector": {
                        "type": "RecordSelector",
                        "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
                    },
                },
            }
        ],
    }


def run_engine(path: Path) -> int:
    source = load_source(path, {})
    try:
        stream = source.stream("events")
        events = iter_slices(stream, stream.slices(), source.concurrency, pages=True)
        return sum(len(event.records) for event in events if event.kind == PAGE)
    finally:
        source.close()


def prepare_postgres_instance(url: str, workdir: Path) -> None:
    """Make ``workdir`` the home of a Dagster instance whose run, event-log and schedule
    storages are PostgreSQL at ``url`` (``postgresql://user@host:port/database``;
    dagster-postgres), its tables created and emptied of earlier runs, so that every run starts
    from the same storage. Open it with ``dg.DagsterInstance.from_config(workdir)``."""
    (workdir / "dagster.yaml").write_text(
        yaml.safe_dump({"storage": {"postgres": {"postgres_url": url}}})
    )
    with dg.DagsterInstance.from_config(str(workdir)) as instance:
        instance.wipe()


def run_dagster(
    path: Path, workdir: Path, days: int, instance: dg.DagsterInstance | None = None
) -> int:
    (asset,) = build_declarative_assets(path)
    keys = asset.partitions_def.get_partition_keys()
    assert len(keys) == days, f"{len(keys)} partitions, expected {days}"
    resource = DeclarativeSourceResource(
        state_url=f"sqlite:///{workdir / 'state.db'}",
        warehouse_url=f"duckdb:///{workdir / 'warehouse.duckdb'}",
    )
    result = dg.materialize(
        [asset],
        instance=instance,
        resources={"declarative_source": resource},
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    events = result.get_asset_materialization_events()
    assert len(events) == days, f"{len(events)} materializations, expected {days}"
    return sum(e.materialization.metadata["records"].value for e in events)


def run_dagster_minimal(path: Path, days: int, instance: dg.DagsterInstance | None = None) -> int:
    """The least a Dagster integration can do for the same backfill: one single-run asset over
    the same daily partitions that reads every slice with the engine and yields one bare
    materialization per partition (no warehouse, no state, no logs). What this costs above the
    engine alone is Dagster's own bookkeeping for a run of that many partitions."""
    (ours,) = build_declarative_assets(path)
    partitions_def = ours.partitions_def
    stream_name = next(iter(ours.keys)).path[-1]

    @dg.asset(
        name=stream_name,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        output_required=False,
    )
    def minimal(context):  # unannotated: Dagster checks the hint
        source = load_source(path, {})
        try:
            stream = source.stream(stream_name)
            slices = list(stream.slices())
            counts = [0] * len(slices)
            for event in iter_slices(stream, slices, source.concurrency, pages=True):
                if event.kind == PAGE:
                    counts[event.index] += len(event.records)
        finally:
            source.close()
        for key, count in zip(context.partition_keys, counts, strict=True):
            yield dg.AssetMaterialization(
                asset_key=context.asset_key, partition=key, metadata={"records": count}
            )

    keys = partitions_def.get_partition_keys()
    assert len(keys) == days, f"{len(keys)} partitions, expected {days}"
    result = dg.materialize(
        [minimal],
        instance=instance,
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    events = result.get_asset_materialization_events()
    return sum(e.materialization.metadata["records"].value for e in events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--per-day", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server, url = serve_days(args.days, args.per_day)
    expected = args.days * args.per_day
    timings: dict[str, list[float]] = {"engine": [], "minimal": [], "dagster": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.yaml"
            path.write_text(yaml.safe_dump(manifest(url, args.days)))
            for round_ in range(args.repeat):
                workdir = Path(tmp) / f"round{round_}"
                workdir.mkdir()
                for name, run in (
                    ("engine", lambda: run_engine(path)),
                    ("minimal", lambda: run_dagster_minimal(path, args.days)),
                    ("dagster", lambda: run_dagster(path, workdir, args.days)),  # noqa: B023
                ):
                    started = time.perf_counter()
                    count = run()
                    timings[name].append(time.perf_counter() - started)
                    assert count == expected, f"{name} read {count} records, expected {expected}"
    finally:
        server.shutdown()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(
        f"single-run backfill, {args.days} daily partitions x {args.per_day} records, "
        f"median of {args.repeat}"
    )
    for name, seconds in medians.items():
        print(f"  {name:<8} {seconds:>7.2f} s")
    engine, minimal, dagster = medians["engine"], medians["minimal"], medians["dagster"]
    print(f"  ratio dagster/engine:  {dagster / engine:.2f}x (target <= 1.5x)")
    print(f"  ratio minimal/engine:  {minimal / engine:.2f}x (Dagster's own floor)")
    print(f"  ratio dagster/minimal: {dagster / minimal:.2f}x (this package above the floor)")


if __name__ == "__main__":
    main()
