"""The benchmark scenarios: what each side runs and the target that judges the pair.

A side is a function ``(api_url, workdir) -> records`` run in a fresh worker process (see
:mod:`bench.worker`), so that its CPU time and peak RSS are its own. ``project`` is this project
(the engine, the engine plus the warehouse, or Dagster); ``limit`` is what it is measured
against: the plain-Python loop, or the engine alone where the question is what a layer on top
of it costs.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from bench import command_line, manifests, multi_run, plain
from bench.api import CHILDREN_PER_PARENT, DAILY_RECORDS, DAYS, PARENTS
from bench.warm_up import warm_up

Side = Callable[[str, Path], int]
SEQUENTIAL_RECORDS = 300_000
MEMORY_RECORDS = 1_000_000
SLICE_WORKERS = 16
WRITE_BATCH = 100  # the Dagster resource's default `batch_size`
# Start-up of spec and check: under 0.4 s, issue 18's bound (seconds, judged on the median); the
# ratio to a bare interpreter importing requests and orjson is reported beside it, since the
# machine's speed and load move both.
STARTUP_SECONDS = 0.4
DAGSTER_SCRIPT = Path(__file__).with_name("dagster_backfill.py")
DAGSTER_POSTGRES = "BENCH_DAGSTER_POSTGRES"
"""Names the database of Dagster's PostgreSQL storage (`--dagster-postgres`) for the workers."""
# Imported before the clock starts. The packages import their names on first use, so these name
# the modules a side runs: the destinations (DuckDB, SQLAlchemy), the Dagster asset builder.
ENGINE = ("engine", "engine.streams.reader")
WAREHOUSE = (*ENGINE, "dagster_declarative.warehouse.from_url")
DAGSTER = ("dagster", "dagster_declarative.asset_builder")


@dataclass(frozen=True)
class Target:
    """``speed``: project records/s >= bound x the limit's; ``time``: project seconds <= bound x
    the limit's; ``seconds``: project seconds < bound (the time ratio is reported beside it);
    ``rss``: project peak RSS < bound MB; ``rss_growth``: project peak RSS <= bound x the
    limit's. A bound of None only reports the ratio (the scenario measures a yardstick)."""

    kind: str
    bound: float | None

    def describe(self) -> str:
        if self.bound is None:
            return "reported, no target"
        return {
            "speed": f"project >= {self.bound}x the limit's records/s",
            "time": f"project time <= {self.bound}x the limit's",
            "seconds": f"project time < {self.bound} s",
            "rss": f"project peak RSS < {self.bound:.0f} MB",
            "rss_growth": f"project peak RSS <= {self.bound}x the limit's",
        }[self.kind]


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    records: int
    server_records: int
    project: Side
    limit: Side
    limit_label: str
    target: Target
    needs: Callable[[], str | None] = lambda: None  # a reason to skip, or None
    rounds: int | None = None  # fewer rounds than --repeat where one run is long and steady
    prepare: Callable[[Path], None] | None = None  # before the clock starts, in the workdir
    limit_records: int | None = None  # when the limit reads another count than the project
    # Imported before the clock starts, so that neither time nor CPU counts module loading.
    project_imports: tuple[str, ...] = ENGINE
    limit_imports: tuple[str, ...] = ()

    def expected(self, side: str) -> int:
        return self.limit_records or self.records if side == "limit" else self.records

    def imports(self, side: str) -> tuple[str, ...]:
        return self.limit_imports if side == "limit" else self.project_imports


def _write_manifest(workdir: Path, manifest: dict[str, Any]) -> Path:
    path = workdir / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def _read_all(manifest: dict[str, Any], stream: str, workdir: Path) -> int:
    from engine import load_source

    source = load_source(_write_manifest(workdir, manifest), {})
    try:
        return sum(1 for _ in source.read_records(stream))
    finally:
        source.close()


def _read_slices(manifest: dict[str, Any], stream: str, workdir: Path, workers: int) -> int:
    """Through ``iter_slices``, the pipeline the Dagster side runs too."""
    from engine import load_source
    from engine.streams.reader import PAGE, iter_slices

    source = load_source(_write_manifest(workdir, manifest), {}, concurrency=workers)
    try:
        chosen = source.stream(stream)
        events = iter_slices(chosen, chosen.slices(), workers, pages=True)
        return sum(len(event.records) for event in events if event.kind == PAGE)
    finally:
        source.close()


PAGINATORS = {"page": manifests.page_increment(), "offset": manifests.OFFSET}
PAGINATORS["cursor"] = manifests.CURSOR


def _items(path: str) -> Callable[[str], dict[str, Any]]:
    """The manifest of the ``items`` collection at ``path`` (its last segment names the paging)."""
    paginator = PAGINATORS[path.rsplit("/", 1)[-1]]
    return lambda url: manifests.source(manifests.stream(url, "items", path, paginator))


def _engine(path: str) -> Side:
    build = _items(path)
    return lambda url, workdir: _read_all(build(url), "items", workdir)


def _plain(path: str, loop: Callable[..., Iterator[dict]]) -> Side:
    return lambda url, workdir: plain.sequential(loop, url + path)


def _faulty_engine(url: str, workdir: Path) -> int:
    item_stream = manifests.stream(
        url,
        "items",
        "/fault10/page",
        manifests.page_increment(),
        error_handler=manifests.RETRY_AFTER,
    )
    return _read_all(manifests.source(item_stream), "items", workdir)


def _batches(records: Iterable[dict], size: int) -> Iterator[list[dict]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def _engine_to_duckdb(path: str) -> Side:
    build = _items(path)

    def run(url: str, workdir: Path) -> int:
        from dagster_declarative.warehouse import TableSpec, WriteMode, destination_from_url
        from engine import load_source

        source = load_source(_write_manifest(workdir, build(url)), {})
        destination = destination_from_url(f"duckdb:///{workdir / 'warehouse.duckdb'}")
        try:
            stream = source.stream("items")
            result = destination.write(
                TableSpec("bench", "items", stream.json_schema, primary_key=["id"]),
                _batches(stream.read_records(), WRITE_BATCH),
                mode=WriteMode.UPSERT,
                partition_key=None,
                run_id="bench",
            )
            return result.rows_written
        finally:
            destination.close()
            source.close()

    return run


def _dagster_script() -> Any:
    spec = importlib.util.spec_from_file_location("bench_dagster_backfill", DAGSTER_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dagster_instance(workdir: Path) -> Any:
    """The Dagster instance of a run: ephemeral (in memory) by default, or the one that
    `_prepare_postgres` set up in ``workdir``."""
    if not (workdir / "dagster.yaml").is_file():
        return None
    import dagster as dg

    return dg.DagsterInstance.from_config(str(workdir))


def _dagster_backfill(url: str, workdir: Path) -> int:
    """``run_dagster`` of bench/dagster_backfill.py (the Dagster side's own script), pointed at
    this suite's API: one Dagster run over every daily partition, writing DuckDB and state."""
    manifest = _write_manifest(workdir, manifests.daily(url, "/daily"))
    return _dagster_script().run_dagster(manifest, workdir, DAYS, _dagster_instance(workdir))


def _dagster_minimal(url: str, workdir: Path) -> int:
    """``run_dagster_minimal``: the same run as a bare asset that only reads (Dagster's floor)."""
    manifest = _write_manifest(workdir, manifests.daily(url, "/daily"))
    return _dagster_script().run_dagster_minimal(manifest, DAYS, _dagster_instance(workdir))


def _prepare_postgres(workdir: Path) -> None:
    _dagster_script().prepare_postgres_instance(os.environ[DAGSTER_POSTGRES], workdir)
    warm_up(workdir)


def _multi_run_backfill(runs: int) -> Side:
    """The first `multi_run.PARTITIONS` days at 20 ms latency as ``runs`` concurrent runs."""

    def run(url: str, workdir: Path) -> int:
        manifest = _write_manifest(workdir, manifests.daily(url, "/lat20/daily"))
        return multi_run.backfill(manifest, workdir, runs)

    return run


def _dagster_script_present() -> str | None:
    if not DAGSTER_SCRIPT.is_file():
        return "bench/dagster_backfill.py is not there"
    if "def run_dagster(" not in DAGSTER_SCRIPT.read_text():
        return "bench/dagster_backfill.py has no run_dagster(manifest, workdir, days)"
    return None


def _dagster_postgres_ready() -> str | None:
    if not os.environ.get(DAGSTER_POSTGRES):
        return (
            "no PostgreSQL server for Dagster's storage (--dagster-postgres or TEST_POSTGRES_URL)"
        )
    if importlib.util.find_spec("dagster_postgres") is None:
        return "dagster-postgres is not installed (pip install -e '.[test]')"
    return _dagster_script_present()


DAGSTER_IMPORTS = (*WAREHOUSE, *DAGSTER)


def _backfill_scenario(name: str, title: str, storage: str, **options: Any) -> Scenario:
    """This package's run over every daily partition against Dagster's floor: the bare asset
    that reads the same slices and yields one bare materialization per partition."""
    return Scenario(
        name=name,
        title=title,
        records=DAYS * DAILY_RECORDS,
        server_records=0,
        project=_dagster_backfill,
        limit=_dagster_minimal,
        limit_label=f"Dagster floor, {storage}",
        target=Target("time", 1.25),
        project_imports=DAGSTER_IMPORTS,
        limit_imports=DAGSTER_IMPORTS,
        **{"prepare": warm_up, **options},
    )


def _items_scenario(
    kind: str, loop: Callable[..., Iterator[dict]], title: str, bound: float = 0.85
) -> Scenario:
    path = f"/{kind}"
    return Scenario(
        name=kind,
        title=title,
        records=SEQUENTIAL_RECORDS,
        server_records=SEQUENTIAL_RECORDS,
        project=_engine(path),
        limit=_plain(path, loop),
        limit_label="plain loop",
        target=Target("speed", bound),
    )


SCENARIOS = [
    _items_scenario("page", plain.page_increment, "sequential, page increment, 100/page"),
    _items_scenario("offset", plain.offset_increment, "sequential, offset increment, 100/page"),
    _items_scenario("cursor", plain.cursor_pages, "sequential, cursor pagination, 100/page"),
    Scenario(
        name="slices",
        title=f"{DAYS} daily slices, 20 ms latency, {SLICE_WORKERS} workers",
        records=DAYS * DAILY_RECORDS,
        server_records=0,
        project=lambda url, workdir: _read_slices(
            manifests.daily(url, "/lat20/daily"), "daily", workdir, SLICE_WORKERS
        ),
        limit=lambda url, workdir: plain.daily_threaded(url + "/lat20/daily", SLICE_WORKERS),
        limit_label=f"plain loop, {SLICE_WORKERS} threads",
        target=Target("time", 1.25),
    ),
    Scenario(
        name="faults",
        title="page increment, every 10th request 429 Retry-After: 0.01",
        records=SEQUENTIAL_RECORDS,
        server_records=SEQUENTIAL_RECORDS,
        project=_faulty_engine,
        limit=_plain("/fault10/page", plain.page_increment),
        limit_label="plain loop",
        target=Target("time", 1.5),
    ),
    Scenario(
        name="parent_child",
        title=f"{PARENTS:,} parents, {CHILDREN_PER_PARENT} children each (substream)",
        records=PARENTS * CHILDREN_PER_PARENT,
        server_records=0,
        project=lambda url, workdir: _read_all(manifests.parent_child(url), "children", workdir),
        limit=lambda url, workdir: plain.parent_child(url),
        limit_label="plain loop",
        target=Target("speed", 0.8),
    ),
    Scenario(
        name="memory",
        title=f"{MEMORY_RECORDS:,} records, page increment (peak RSS)",
        records=MEMORY_RECORDS,
        server_records=MEMORY_RECORDS,
        project=_engine("/page"),
        limit=_plain("/page", plain.page_increment),
        limit_label="plain loop",
        target=Target("rss", 150),
    ),
    _backfill_scenario(
        "dagster",
        f"Dagster single-run backfill of {DAYS} daily partitions, vs Dagster's floor",
        "in-memory storage",
        needs=_dagster_script_present,
    ),
    _backfill_scenario(
        "dagster_pg",
        "the same backfill with Dagster's PostgreSQL storage (dagster-postgres)",
        "PostgreSQL storage",
        needs=_dagster_postgres_ready,
        prepare=_prepare_postgres,
    ),
    Scenario(
        name="dagster_floor",
        title=f"Dagster's floor (read only, bare events), {DAYS} daily partitions, vs the engine",
        records=DAYS * DAILY_RECORDS,
        server_records=0,
        project=_dagster_minimal,
        limit=lambda url, workdir: _read_slices(
            manifests.daily(url, "/daily"), "daily", workdir, 1
        ),
        limit_label="engine alone",
        target=Target("time", None),
        needs=_dagster_script_present,
        prepare=warm_up,
        project_imports=DAGSTER_IMPORTS,
        limit_imports=ENGINE,
    ),
    Scenario(
        name="multi_run",
        title=(
            f"{multi_run.PARTITIONS} daily partitions at 20 ms latency into PostgreSQL, "
            f"{multi_run.CONCURRENT_RUNS} concurrent runs"
        ),
        records=multi_run.PARTITIONS * DAILY_RECORDS,
        server_records=0,
        project=_multi_run_backfill(multi_run.CONCURRENT_RUNS),
        limit=_multi_run_backfill(1),
        limit_label="1 run",
        target=Target("time", 0.5),
        needs=multi_run.postgres_missing,
        prepare=warm_up,
        project_imports=(*WAREHOUSE, *DAGSTER),
        limit_imports=(*WAREHOUSE, *DAGSTER),
    ),
    Scenario(
        name="cli_read",
        title=f"python -m engine read, {command_line.CLI_RECORDS:,} records as JSON lines",
        records=command_line.CLI_RECORDS,
        server_records=command_line.CLI_RECORDS,
        project=command_line.engine_read,
        limit=command_line.plain_read,
        limit_label="plain loop printing JSON lines",
        target=Target("speed", 0.9),
        project_imports=(),
        prepare=command_line.compile_once,
    ),
    *(
        Scenario(
            name=f"startup_{command}",
            title=f"python -m engine {command} on a small manifest, start to exit",
            records=1,
            server_records=10,
            project=command_line.engine_startup(command),
            limit=command_line.bare_startup,
            limit_label="python -c 'import requests, orjson'",
            target=Target("seconds", STARTUP_SECONDS),
            rounds=7,
            project_imports=(),
            prepare=command_line.compile_once,
        )
        for command in ("spec", "check")
    ),
    Scenario(
        name="duckdb",
        title=(
            f"{SEQUENTIAL_RECORDS:,} records read and written to DuckDB, batches of {WRITE_BATCH:,}"
        ),
        records=SEQUENTIAL_RECORDS,
        server_records=SEQUENTIAL_RECORDS,
        project=_engine_to_duckdb("/page"),
        limit=_engine("/page"),
        limit_label="engine read alone",
        target=Target("time", 1.3),
        project_imports=WAREHOUSE,
        limit_imports=ENGINE,
    ),
    Scenario(
        name="duckdb_10x",
        title=f"DuckDB write, peak memory at {10 * SEQUENTIAL_RECORDS:,} records vs 300,000",
        records=10 * SEQUENTIAL_RECORDS,
        server_records=10 * SEQUENTIAL_RECORDS,
        project=_engine_to_duckdb("/page"),
        limit=_engine_to_duckdb(f"/n{SEQUENTIAL_RECORDS}/page"),
        limit_label=f"the same at {SEQUENTIAL_RECORDS:,}",
        target=Target("rss_growth", 1.2),
        rounds=1,
        limit_records=SEQUENTIAL_RECORDS,
        project_imports=WAREHOUSE,
        limit_imports=WAREHOUSE,
    ),
]
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}
