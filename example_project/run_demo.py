"""The example's main job: sync every demo stream for the last few days into a DuckDB warehouse.

    python -m example_project.run_demo            # last 7 daily partitions, demo.yaml
    python -m example_project.run_demo --manifest example_project/manifests/demo_2022.yaml

It starts the demo API when nothing answers on its port, reads each stream slice by slice (one
slice is one partition: a day of ``updated_at`` for customers, a region for orders, a customer
for notes), writes each slice's records to ``demo.<stream>`` replacing that partition's earlier
rows (so re-running never duplicates), shows progress on stderr and ends with a summary.

:func:`sync_streams` is the one place that moves data; the rest prepares its inputs and reports.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from engine import EngineError, Manifest, load_source
from example_project.demo_api import DEFAULT_HOST, DEFAULT_PORT, DEMO_API_KEY, ensure_running
from example_project.demo_data import anchor_for_today, format_timestamp

EXAMPLE_DIR = Path(__file__).resolve().parent
MANIFEST = EXAMPLE_DIR / "manifests" / "demo.yaml"
WAREHOUSE = EXAMPLE_DIR / "data" / "warehouse.duckdb"
WAREHOUSE_SCHEMA = "demo"
DEFAULT_DAYS = 7
BATCH_SIZE = 500


@dataclass(frozen=True)
class StreamResult:
    """What one stream's sync did, for the summary."""

    stream: str
    partitions: int
    records: int
    table: str


class Progress:
    """One status line per stream on stderr, redrawn in place when stderr is a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self._out = stream or sys.stderr
        self._live = self._out.isatty()

    def update(self, name: str, done: int, total: int, records: int) -> None:
        line = f"  {name:<10} partition {done}/{total}  {records} records"
        if self._live:
            self._out.write(f"\r{line}\033[K")
            self._out.flush()
        elif done == total:
            self._out.write(line + "\n")

    def finish(self) -> None:
        if self._live:
            self._out.write("\n")
            self._out.flush()


def recent_window(days: int, anchor: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` complete UTC days, from midnight ``days`` ago to yesterday 23:59:59."""
    end_of_history = anchor or anchor_for_today()
    return end_of_history - timedelta(days=days), end_of_history - timedelta(seconds=1)


def demo_config(base_url: str, start: datetime, end: datetime) -> dict[str, str]:
    """The source config both demo manifests take (see their ``spec``)."""
    return {
        "base_url": base_url,
        "api_key": DEMO_API_KEY,
        "start_date": format_timestamp(start),
        "end_date": format_timestamp(end),
    }


def partition_key(stream_slice: dict[str, Any]) -> str | None:
    """The name of the partition a slice fills: its day, list value or parent id.

    Date slices are named by the day they start (``2024-05-01``); other slices by their own values,
    leaving out the parent's slice they came from. A stream without slices has no partitions.
    """
    if "start_time" in stream_slice:
        return str(stream_slice["start_time"])[:10]
    values = [str(value) for key, value in stream_slice.items() if key != "parent_slice"]
    return "|".join(values) or None


def sync_streams(
    manifest: Path | Manifest, config: dict[str, str], warehouse: Path, progress: Progress
) -> list[StreamResult]:
    """Read every stream of ``manifest`` slice by slice and write each slice as one partition.

    This is where the example hands over to the Dagster integration once it is wired: the same
    inputs become a materialization of every stream asset for the same partitions.
    """
    from dagster_declarative.warehouse import DuckDBDestination, TableSpec, WriteMode

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    source = load_source(manifest, config)
    destination = DuckDBDestination(warehouse)
    run_id = uuid.uuid4().hex
    results = []
    try:
        source.validate_config()
        for name, stream in source.streams.items():
            table = TableSpec(
                WAREHOUSE_SCHEMA,
                name,
                stream.json_schema,
                primary_key=[".".join(path) for path in stream.primary_key],
            )
            slices = stream.slices()
            records = 0
            written = None
            for done, stream_slice in enumerate(slices, start=1):
                written = destination.write(
                    table,
                    _batches(stream.read_slice(stream_slice)),
                    mode=WriteMode.REPLACE_PARTITION,
                    partition_key=partition_key(stream_slice),
                    run_id=run_id,
                )
                records += written.rows_written
                progress.update(name, done, len(slices), records)
            table_name = written.table_name if written else f"{WAREHOUSE_SCHEMA}.{name}"
            results.append(StreamResult(name, len(slices), records, table_name))
    finally:
        progress.finish()
        destination.close()
        source.close()
    return results


def _batches(records: Iterable[dict]) -> Iterator[list[dict]]:
    iterator = iter(records)
    while batch := list(islice(iterator, BATCH_SIZE)):
        yield batch


def summary(
    results: list[StreamResult], base_url: str, start: datetime, end: datetime, warehouse: Path
) -> str:
    width = max((len(result.stream) for result in results), default=6)
    lines = [
        f"Synced {len(results)} streams from the demo API at {base_url}, "
        f"updated {start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC):",
        *(
            f"  {r.stream:<{width}}  {r.partitions:>4} partitions  {r.records:>6} records"
            f"  -> {r.table}"
            for r in results
        ),
        f"  total: {sum(r.partitions for r in results)} partitions, "
        f"{sum(r.records for r in results)} records",
        f"Warehouse: {warehouse}",
        '  look inside: python -c "import duckdb; print(duckdb.connect('
        f"'{warehouse}', read_only=True).sql('from {WAREHOUSE_SCHEMA}.customers limit 5'))\"",
        "Dagster UI: run `dagster dev -w workspace.yaml` from the repository root, "
        "then open http://127.0.0.1:3000",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="daily partitions to sync")
    parser.add_argument("--manifest", type=Path, default=MANIFEST)
    parser.add_argument("--warehouse", type=Path, default=WAREHOUSE, help="DuckDB file to write")
    parser.add_argument("--host", default=DEFAULT_HOST, help="demo API host")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="demo API port")
    arguments = parser.parse_args(argv)
    if arguments.days < 1:
        parser.error("--days must be at least 1")

    base_url = ensure_running(arguments.host, arguments.port)
    start, end = recent_window(arguments.days)
    warehouse = arguments.warehouse.resolve()
    print(f"Syncing {arguments.manifest.name} from {base_url} into {warehouse}", file=sys.stderr)
    try:
        results = sync_streams(
            arguments.manifest, demo_config(base_url, start, end), warehouse, Progress()
        )
    except EngineError as error:
        print(f"The sync failed: {error}", file=sys.stderr)
        return 1
    print(summary(results, base_url, start, end, warehouse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
