"""The example's main job: materialize the demo source's stream assets for recent partitions.

    python -m example_project.run_demo                     # demo.yaml, the last 7 days
    python -m example_project.run_demo --source demo_2022  # the same API, 2022-dialect manifest

It loads the same definitions as ``dagster dev -w workspace.yaml`` (the components under
``example_project/defs``), starts the demo API when nothing answers on its port, and runs one
Dagster run per stream against a persistent instance in ``$DAGSTER_HOME`` (by default
``example_project/.dagster_home``), so the runs, logs and partitions show in the UI afterwards:

* a date-partitioned stream: its last ``--days`` daily partitions, as one single-run range;
* a list-partitioned stream: every partition, as one run;
* a substream: every parent key registered by the parent's run, as one run;
* an unpartitioned stream: one incremental run.

Progress goes to stderr while the runs work; the summary (from the materialization metadata)
goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import dagster as dg

from dagster_declarative.schedules import job_name

EXAMPLE_DIR = Path(__file__).resolve().parent
DEFAULT_HOME = EXAMPLE_DIR / ".dagster_home"
DEFAULT_SOURCE = "demo"
DEFAULT_DAYS = 7
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""Run logs stay in the instance (and the UI); the terminal shows the progress display."""
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


class DemoRunError(RuntimeError):
    """A stream's run failed; the message carries Dagster's error for that run."""


@dataclass(frozen=True)
class StreamResult:
    """What one stream's run did, for the summary."""

    asset_key: dg.AssetKey
    run_id: str
    partitions: int
    records: int
    table: str


def dagster_home() -> Path:
    """``$DAGSTER_HOME``, set to ``example_project/.dagster_home`` when unset, created if missing.

    Setting the variable makes the runs' instance, the state table and the warehouse (whose URLs
    in ``defs.yaml`` follow it) agree with what ``dagster dev`` sees under the same home. A new
    home gets a ``dagster.yaml`` that turns telemetry off: the example never leaves loopback.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def source_assets(defs: dg.Definitions, source: str) -> list[dg.AssetsDefinition]:
    """The stream assets of one source (key prefix), parents before the streams that read them."""
    chosen = [a for a in defs.assets or () if isinstance(a, dg.AssetsDefinition)]
    chosen = [a for a in chosen if a.key.path[0] == source]
    if not chosen:
        prefixes = sorted({a.key.path[0] for a in defs.assets or () if hasattr(a, "key")})
        raise DemoRunError(f"no source {source!r} in the definitions; there are {prefixes}")
    ordered: list[dg.AssetsDefinition] = []
    while chosen:
        ready = [a for a in chosen if not _upstream(a) & {c.key for c in chosen}]
        ordered += ready
        chosen = [a for a in chosen if a not in ready]
    return ordered


def _upstream(asset: dg.AssetsDefinition) -> set[dg.AssetKey]:
    return {dep.asset_key for dep in asset.specs_by_key[asset.key].deps}


def partitions_to_run(
    asset: dg.AssetsDefinition, instance: dg.DagsterInstance, days: int
) -> list[str] | None:
    """The keys one run covers (None: unpartitioned): the last ``days`` time windows, else every
    key the definition (or, for dynamic partitions, the instance) knows."""
    partitions_def = asset.partitions_def
    if partitions_def is None:
        return None
    keys = partitions_def.get_partition_keys(dynamic_partitions_store=instance)
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return keys[-days:]
    return keys


def run_stream(
    defs: dg.Definitions,
    asset: dg.AssetsDefinition,
    keys: list[str] | None,
    instance: dg.DagsterInstance,
) -> dg.ExecuteInProcessResult:
    """One in-process run of the stream's job (``<source>__<stream>_job``, so the Runs page
    names it): a partition range when ``keys`` is given."""
    tags = {RANGE_START: keys[0], RANGE_END: keys[-1]} if keys else None
    return defs.resolve_job_def(job_name(asset.key)).execute_in_process(
        instance=instance, tags=tags, run_config=QUIET_RUN_CONFIG, raise_on_error=False
    )


def stream_result(
    asset: dg.AssetsDefinition, result: dg.ExecuteInProcessResult, keys: list[str] | None
) -> StreamResult:
    """Records and table from the run's materializations (one per partition)."""
    if not result.success:
        raise DemoRunError(
            f"the run of {asset.key.to_user_string()} failed ({result.run_id}): "
            + (failure_cause(result) or "see its logs in the Dagster UI")
        )
    events = result.asset_materializations_for_node(asset.node_def.name)
    records = sum(_metadata(event, "records", 0) for event in events)
    table = next((_metadata(e, "dagster/table_name", "") for e in events), "")
    return StreamResult(asset.key, result.run_id, len(keys or ()), records, table)


def failure_cause(result: dg.ExecuteInProcessResult) -> str | None:
    """The error that failed the run's step (e.g. the API's refusal), not just "failed"."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            error = event.step_failure_data.error
            while (
                error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError"
            ):
                error = error.cause
            head, _, rest = error.message.strip().partition(": ")
            return rest if rest and " " not in head else error.message.strip()
    return None


def _metadata(event: dg.AssetMaterialization, name: str, default: Any) -> Any:
    value = event.metadata.get(name)
    return value.value if value is not None else default


class Progress:
    """A status line on stderr for the stream being run, redrawn from the instance's events.

    The run executes in this process; a thread polls its materializations so the line shows
    partitions done and records read while the run works (redrawn in place on a terminal, a
    line per stream otherwise).
    """

    def __init__(self, instance: dg.DagsterInstance, out: TextIO | None = None) -> None:
        self._instance = instance
        self._out = out or sys.stderr
        self._live = self._out.isatty()

    def track(self, label: str, key: dg.AssetKey, total: int, work: Callable[[], Any]) -> Any:
        start = self._latest_storage_id(key)
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.5):
                self._draw(label, *self._done(key, start), total)

        poller = threading.Thread(target=poll, daemon=True)
        if self._live:
            poller.start()
        try:
            return work()
        finally:
            stop.set()
            if poller.is_alive():
                poller.join()
            self._draw(label, *self._done(key, start), total, final=True)

    def _latest_storage_id(self, key: dg.AssetKey) -> int:
        records = self._instance.fetch_materializations(key, limit=1).records
        return records[0].storage_id if records else 0

    def _done(self, key: dg.AssetKey, after: int) -> tuple[int, int]:
        records_filter = dg.AssetRecordsFilter(asset_key=key, after_storage_id=after)
        found = self._instance.fetch_materializations(records_filter, limit=10_000).records
        events = [r.asset_materialization for r in found if r.asset_materialization]
        return len(events), sum(_metadata(e, "records", 0) for e in events)

    def _draw(self, label: str, done: int, records: int, total: int, final: bool = False) -> None:
        line = f"  {label:<20} {done}/{max(total, 1)} partitions  {records} records"
        if self._live:
            self._out.write(f"\r{line}\033[K" + ("\n" if final else ""))
        elif final:
            self._out.write(line + "\n")
        self._out.flush()


def materialize_source(
    defs: dg.Definitions,
    source: str,
    instance: dg.DagsterInstance,
    days: int,
    progress: Progress,
) -> list[StreamResult]:
    """Run every stream of ``source`` for its recent partitions, parents first."""
    results = []
    for asset in source_assets(defs, source):
        keys = partitions_to_run(asset, instance, days)
        if keys == []:
            print(f"  {asset.key.to_user_string():<20} no partitions yet, skipped", file=sys.stderr)
            continue
        result = progress.track(
            asset.key.to_user_string(),
            asset.key,
            len(keys or ()),
            lambda asset=asset, keys=keys: run_stream(defs, asset, keys, instance),
        )
        results.append(stream_result(asset, result, keys))
    return results


def summary(results: Sequence[StreamResult], home: Path, warehouse_url: str) -> str:
    warehouse = warehouse_url.removeprefix("duckdb:///")
    width = max((len(r.asset_key.to_user_string()) for r in results), default=6)
    first = results[0].table.split(".")[0] if results else "demo"
    return "\n".join(
        [
            f"Materialized {len(results)} streams:",
            *(
                f"  {r.asset_key.to_user_string():<{width}}  {r.partitions:>4} partitions"
                f"  {r.records:>6} records  -> {r.table}  (run {r.run_id[:8]})"
                for r in results
            ),
            f"  total: {sum(r.partitions for r in results)} partitions, "
            f"{sum(r.records for r in results)} records",
            f"Warehouse (DuckDB): {warehouse}",
            f'  look inside: {sys.executable} -c "import duckdb; print(duckdb.connect('
            f"'{warehouse}', read_only=True).sql('show all tables'))\"",
            f"Dagster instance (runs, logs, partitions): {home}",
            f"Dagster UI: cd {EXAMPLE_DIR.parent} && DAGSTER_HOME={home} "
            f"{Path(sys.executable).parent / 'dg'} dev",
            f"  then open http://127.0.0.1:3000 (tables are in schema {first})",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="daily partitions to run")
    parser.add_argument(
        "--source", default=DEFAULT_SOURCE, help="demo (today's dialect) or demo_2022"
    )
    arguments = parser.parse_args(argv)
    if arguments.days < 1:
        parser.error("--days must be at least 1")
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)

    home = dagster_home()
    from example_project.definitions import load_example_definitions

    defs = load_example_definitions()
    print(
        f"Materializing source {arguments.source!r} from the demo API at "
        f"{os.environ['DEMO_API_URL']} (DAGSTER_HOME={home})",
        file=sys.stderr,
    )
    with dg.DagsterInstance.get() as instance:
        try:
            results = materialize_source(
                defs, arguments.source, instance, arguments.days, Progress(instance)
            )
        except DemoRunError as error:
            print(f"The example failed: {error}", file=sys.stderr)
            return 1
    resource = defs.resources[f"declarative_{arguments.source}"]
    print(summary(results, home, resource.get_warehouse_url()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
