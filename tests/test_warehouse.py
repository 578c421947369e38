"""Warehouse destinations against real databases: DuckDB file, SQLite, and PostgreSQL.

Every behaviour runs on each backend; PostgreSQL needs TEST_POSTGRES_URL, and each of its tests
writes into a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
import sqlalchemy as sa

from dagster_declarative.warehouse import (
    Destination,
    DuckDBDestination,
    PartialWriteError,
    PrimaryKeyValueError,
    TableSpec,
    WriteMode,
    WriteModeError,
    WriteResult,
    destination_from_url,
    duckdb_ingest,
    duckdb_loader_process,
    sqlalchemy_destination,
)
from engine.state.store import StateStore

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "updated_at": {"type": ["null", "string"], "format": "date-time"},
    },
}


@dataclass
class Backend:
    """A destination plus a way to read back what it wrote, as plain comparable values."""

    name: str
    url: str
    destination: Destination
    namespace: str

    def spec(self, stream: str = "items", schema: Any = SCHEMA, key: tuple = ("id",)) -> TableSpec:
        return TableSpec(self.namespace, stream, schema, key)

    def write(
        self,
        spec: TableSpec,
        batches: Any,
        mode: WriteMode,
        partition: str | None = None,
        run_id: str = "r",
        before_commit: Any = None,
    ) -> WriteResult:
        return self.destination.write(
            spec,
            batches,
            mode=mode,
            partition_key=partition,
            run_id=run_id,
            before_commit=before_commit,
        )

    def rows(self, columns: str, stream: str = "items", newest_first: bool = False) -> list[tuple]:
        """The comma-separated `columns` of a stream's table, ordered by id, as plain values.

        Reading goes through the column types (SQLAlchemy reflection, DuckDB's own types), as a
        user's query would; JSON comes back decoded and timestamps as aware UTC datetimes.
        """
        names = [name.strip() for name in columns.split(",")]
        if isinstance(self.destination, DuckDBDestination):
            selected = ", ".join(f'"{name}"' for name in names)
            order = "id DESC" if newest_first else "id"
            sql = f'SELECT {selected} FROM "{self.namespace}"."{stream}" ORDER BY {order}'
            with self.destination.connect() as connection:
                raw = connection.execute(sql).fetchall()
        else:
            schema, table_name = (self.namespace, stream)
            if self.name == "sqlite":
                schema, table_name = None, f"{self.namespace}__{stream}"
            with self.destination.engine.connect() as connection:
                table = sa.Table(table_name, sa.MetaData(), schema=schema, autoload_with=connection)
                order = table.c.id.desc() if newest_first else table.c.id
                query = sa.select(*(table.c[name] for name in names)).order_by(order)
                raw = [tuple(row) for row in connection.execute(query)]
        return [tuple(_plain(value) for value in row) for row in raw]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
    if isinstance(value, str) and value[:1] in ("{", "["):
        return orjson.loads(value)
    return value


@pytest.fixture(params=["duckdb", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    namespace = f"wh_{uuid.uuid4().hex[:10]}"
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = os.environ.get("TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("TEST_POSTGRES_URL is not set; PostgreSQL warehouse tests need a server")
    destination = destination_from_url(url)
    yield Backend(request.param, url, destination, namespace)
    destination.close()
    if request.param == "postgres":
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {namespace} CASCADE")
        engine.dispose()


def _items(ids: range, name: str = "v1") -> list[dict[str, Any]]:
    return [{"id": i, "name": f"{name}-{i}", "updated_at": f"2024-01-0{1 + i % 9}"} for i in ids]


def _batches(records: list[dict[str, Any]], size: int = 2) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def test_rerunning_a_partition_replaces_its_rows(backend: Backend) -> None:
    spec, mode = backend.spec(key=()), WriteMode.REPLACE_PARTITION
    backend.write(spec, _batches(_items(range(3))), mode, "2024-01-01", "r1")
    backend.write(spec, _batches(_items(range(10, 12))), mode, "2024-01-02", "r1")

    again = backend.write(spec, _batches(_items(range(2), "v2")), mode, "2024-01-01", "r2")

    assert (again.rows_written, again.row_count) == (2, 4)
    assert backend.rows("id, name, _dd_partition, _dd_run_id") == [
        (0, "v2-0", "2024-01-01", "r2"),
        (1, "v2-1", "2024-01-01", "r2"),
        (10, "v1-10", "2024-01-02", "r1"),
        (11, "v1-11", "2024-01-02", "r1"),
    ]
    rerun = backend.write(spec, _batches(_items(range(2), "v2")), mode, "2024-01-01", "r3")
    assert rerun.row_count == 4


def test_several_partitions_in_one_write_replace_exactly_those_partitions(
    backend: Backend,
) -> None:
    spec, mode = backend.spec(key=()), WriteMode.REPLACE_PARTITION
    backend.write(spec, _batches(_items(range(3))), mode, "2024-01-01", "r1")
    backend.write(spec, _batches(_items(range(10, 12))), mode, "2024-01-02", "r1")
    backend.write(spec, _batches(_items(range(20, 21))), mode, "2024-01-03", "r1")

    result = backend.destination.write_partitions(
        spec,
        [("2024-01-01", _batches(_items(range(1), "v2"))), ("2024-01-02", iter([]))],
        mode=mode,
        run_id="r2",
    )

    assert result.rows_by_partition == {"2024-01-01": 1, "2024-01-02": 0}
    assert (result.rows_written, result.row_count) == (1, 2)
    assert backend.rows("id, name, _dd_partition") == [
        (0, "v2-0", "2024-01-01"),
        (20, "v1-20", "2024-01-03"),
    ]


def test_a_part_failing_midway_keeps_the_parts_before_it(backend: Backend) -> None:
    spec, mode = backend.spec(key=()), WriteMode.REPLACE_PARTITION
    backend.write(spec, _batches(_items(range(10, 12))), mode, "2024-01-02", "r1")

    def broken() -> Iterator[list[dict[str, Any]]]:
        yield _items(range(30, 33), "v2")
        raise RuntimeError("the API failed in the second partition")

    with pytest.raises(PartialWriteError) as caught:
        backend.destination.write_partitions(
            spec,
            [("2024-01-01", _batches(_items(range(2), "v2"))), ("2024-01-02", broken())],
            mode=mode,
            run_id="r2",
        )

    assert caught.value.result.rows_by_partition == {"2024-01-01": 2}
    assert "second partition" in str(caught.value.cause)
    assert backend.rows("id, _dd_partition, _dd_run_id") == [
        (0, "2024-01-01", "r2"),
        (1, "2024-01-01", "r2"),
        (10, "2024-01-02", "r1"),
        (11, "2024-01-02", "r1"),
    ]


def test_backfill_over_overlapping_windows_keeps_one_row_per_key(backend: Backend) -> None:
    spec = backend.spec()
    first = backend.write(spec, _batches(_items(range(5))), WriteMode.UPSERT, "w1")
    overlapping = [*_items(range(3, 8), "v2"), {"id": 7, "name": "v3-7"}]
    second = backend.write(spec, _batches(overlapping, 4), WriteMode.UPSERT, "w2")

    assert (first.row_count, second.rows_written, second.row_count) == (5, 6, 8)
    rows = backend.rows("id, name, _dd_partition")
    assert rows == [
        (0, "v1-0", "w1"),
        (1, "v1-1", "w1"),
        (2, "v1-2", "w1"),
        (3, "v2-3", "w2"),
        (4, "v2-4", "w2"),
        (5, "v2-5", "w2"),
        (6, "v2-6", "w2"),
        (7, "v3-7", "w2"),
    ]


def test_replace_partition_of_a_keyed_stream_also_keeps_one_row_per_key(backend: Backend) -> None:
    spec = backend.spec()
    backend.write(spec, [_items(range(3))], WriteMode.REPLACE_PARTITION, "a")
    backend.write(spec, [_items(range(2, 4), "v2")], WriteMode.REPLACE_PARTITION, "b")

    assert backend.rows("id, _dd_partition") == [
        (0, "a"),
        (1, "a"),
        (2, "b"),
        (3, "b"),
    ]


def test_replace_table_swaps_the_whole_content(backend: Backend) -> None:
    spec = backend.spec(key=())
    backend.write(spec, _batches(_items(range(5))), WriteMode.REPLACE_TABLE, run_id="r1")
    result = backend.write(spec, _batches(_items(range(7, 9))), WriteMode.REPLACE_TABLE, None, "r2")

    assert (result.rows_written, result.row_count) == (2, 2)
    assert backend.rows("id, _dd_run_id") == [(7, "r2"), (8, "r2")]
    assert backend.destination.row_count(spec) == 2


def test_an_empty_rerun_of_a_partition_empties_it(backend: Backend) -> None:
    spec = backend.spec(key=())
    backend.write(spec, [_items(range(3))], WriteMode.REPLACE_PARTITION, "p")

    result = backend.write(spec, iter([]), WriteMode.REPLACE_PARTITION, "p")

    assert (result.rows_written, result.row_count) == (0, 0)


def test_schema_evolution_adds_a_column_and_keeps_old_rows(backend: Backend) -> None:
    backend.write(backend.spec(), [[{"id": 1, "name": "a", "colour": "red"}]], WriteMode.UPSERT)
    evolved = {
        **SCHEMA,
        "properties": {**SCHEMA["properties"], "colour": {"type": ["null", "string"]}},
    }

    new_record = {"id": 2, "name": "b", "colour": "blue"}
    result = backend.write(backend.spec(schema=evolved), [[new_record]], WriteMode.UPSERT)

    assert "colour" in [name for name, _ in result.columns]
    assert backend.rows("id, colour, _dd_extras") == [
        (1, None, {"colour": "red"}),
        (2, "blue", None),
    ]


TYPED_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "text": {"type": ["null", "string"]},
        "count": {"type": ["null", "integer"]},
        "ratio": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "at": {"type": ["null", "string"], "format": "date-time"},
        "day": {"type": ["null", "string"], "format": "date"},
        "attributes": {"type": ["null", "object"]},
        "tags": {"type": ["null", "array"], "items": {"type": "string"}},
        "Mixed-Case Name": {"type": "string"},
    },
}


def test_types_round_trip(backend: Backend) -> None:
    record = {
        "id": 9007199254740993,
        "text": "héllo \"quoted\"\t'single'\nnew line \\ back",
        "count": -42,
        "ratio": 0.1,
        "flag": True,
        "at": "2024-03-10T12:30:45.123456+02:00",
        "day": "2024-02-29",
        "attributes": {"nested": {"list": [1, 2.5, None, "x"]}, "empty": {}},
        "tags": ["a", "b"],
        "Mixed-Case Name": "kept",
    }
    spec = backend.spec("typed", TYPED_SCHEMA)
    backend.write(spec, [[record, {"id": 2}]], WriteMode.UPSERT)
    result = backend.write(spec, [[record, {"id": 2}]], WriteMode.UPSERT)  # into the existing table

    columns = "id, text, count, ratio, flag, at, day, attributes, tags, mixed_case_name, _dd_extras"
    full, empty = backend.rows(columns, "typed", newest_first=True)
    assert full[:7] == (
        record["id"],
        record["text"],
        -42,
        0.1,
        True,
        datetime(2024, 3, 10, 10, 30, 45, 123456, tzinfo=timezone.utc),
        date(2024, 2, 29),
    )
    assert full[7:] == (record["attributes"], ["a", "b"], "kept", None)
    assert empty == (2, *[None] * 10)
    assert [name for name, _ in result.columns] == [
        *[
            "id",
            "text",
            "count",
            "ratio",
            "flag",
            "at",
            "day",
            "attributes",
            "tags",
            "mixed_case_name",
        ],
        *["_dd_extras", "_dd_extracted_at", "_dd_partition", "_dd_run_id"],
    ]


def test_a_field_whose_type_changed_keeps_the_column_type(backend: Backend) -> None:
    integers = {"properties": {"id": {"type": "integer"}, "size": {"type": "integer"}}}
    numbers = {"properties": {"id": {"type": "integer"}, "size": {"type": "number"}}}
    backend.write(backend.spec(schema=integers), [[{"id": 1, "size": 1}]], WriteMode.UPSERT)

    records = [{"id": 2, "size": 2.0}, {"id": 3, "size": 3.5}]
    backend.write(backend.spec(schema=numbers), [records], WriteMode.UPSERT)

    assert backend.rows("id, size, _dd_extras") == [
        (1, 1, None),
        (2, 2, None),
        (3, None, {"size": 3.5}),
    ]


def test_values_that_do_not_fit_and_unknown_fields_go_to_extras(backend: Backend) -> None:
    records = [
        {"id": 1, "name": {"first": "Ann"}, "updated_at": "not a date", "surprise": [1, 2]},
        {"id": "2", "name": 7, "updated_at": "2024-05-01T00:00:00Z"},
    ]
    result = backend.write(backend.spec(), [records], WriteMode.UPSERT)

    assert result.rows_written == 2
    assert backend.rows("id, name, updated_at, _dd_extras") == [
        (1, None, None, {"name": {"first": "Ann"}, "updated_at": "not a date", "surprise": [1, 2]}),
        (2, "7", datetime(2024, 5, 1, tzinfo=timezone.utc), None),
    ]


def test_upsert_needs_a_primary_key(backend: Backend) -> None:
    with pytest.raises(WriteModeError, match="no primary key"):
        backend.write(backend.spec(key=()), [[{"id": 1}]], WriteMode.UPSERT)


def test_a_record_without_its_key_fails_the_write_and_writes_nothing(backend: Backend) -> None:
    spec = backend.spec()
    backend.write(spec, [_items(range(2))], WriteMode.UPSERT, run_id="r1")

    with pytest.raises(PrimaryKeyValueError, match="'id'"):
        batches = [_items(range(5, 7)), [{"name": "no id"}]]
        backend.write(spec, batches, WriteMode.UPSERT, run_id="r2")

    assert backend.rows("id, _dd_run_id") == [(0, "r1"), (1, "r1")]


def test_many_batches_stream_through_the_bulk_path(backend: Backend) -> None:
    consumed = []

    def batches() -> Iterator[list[dict[str, Any]]]:
        for number in range(20):
            consumed.append(number)
            yield _items(range(number * 500, (number + 1) * 500))

    result = backend.write(backend.spec(), batches(), WriteMode.UPSERT, "p")

    assert consumed == list(range(20))
    assert (result.rows_written, result.row_count) == (10_000, 10_000)


class InjectedCrash(Exception):
    """Stands for the process dying at a chosen point of a run."""


def _incremental_run(backend: Backend, store: StateStore, records: list[dict], crash: str) -> None:
    """One run of partition "p" of an incremental stream: resume, upsert, save the new cursor.

    Records at or before the stored cursor are skipped, as an incremental read would. When the
    state store lives in the warehouse's database, the state is saved inside the data
    transaction; otherwise right after the data commits.
    """
    cursor = (store.load("src", "items", "p") or {}).get("id", -1)
    fresh = [record for record in records if record["id"] > cursor]
    state = {"id": max(record["id"] for record in records)}
    together = backend.destination.same_database(store.engine.url.render_as_string(False))

    def before_commit(connection: Any) -> None:
        if together:
            store.save("src", "items", "p", state, connection=connection)
        if crash == "before the data commit":
            raise InjectedCrash

    backend.write(backend.spec(), [fresh], WriteMode.UPSERT, "p", "r", before_commit)
    if crash == "after the data commit":
        raise InjectedCrash
    if not together:
        store.save("src", "items", "p", state)


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[StateStore]:
    """A state store in the warehouse's database, except for DuckDB (SQLite file beside it)."""
    if backend.name == "duckdb":
        opened = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    else:
        opened = StateStore(backend.url, table_prefix=f"{backend.namespace}_")
        opened.create_tables()
    yield opened
    if backend.name == "postgres":
        with opened.engine.begin() as connection:
            for table in ("state", "state_lease", "state_meta"):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {backend.namespace}_{table}")
    opened.dispose()


@pytest.mark.parametrize("crash", ["before the data commit", "after the data commit"])
def test_a_crash_then_a_rerun_leaves_exactly_the_expected_rows(
    backend: Backend, store: StateStore, crash: str
) -> None:
    records = _items(range(4))
    with pytest.raises(InjectedCrash):
        _incremental_run(backend, store, records, crash)
    _incremental_run(backend, store, [*records, {"id": 4, "name": "late"}], crash="")

    assert backend.rows("id") == [(0,), (1,), (2,), (3,), (4,)]
    assert store.load("src", "items", "p") == {"id": 4}


def test_state_commits_with_the_rows_when_they_share_a_database(
    backend: Backend, store: StateStore
) -> None:
    if backend.name == "duckdb":
        pytest.skip("SQLAlchemy cannot reach a DuckDB file, so its state lives elsewhere")
    with pytest.raises(InjectedCrash):
        _incremental_run(backend, store, _items(range(3)), "before the data commit")

    assert store.load("src", "items", "p") is None
    assert backend.destination.row_count(backend.spec()) == 0


def test_a_partition_rerun_after_a_crash_replaces_what_the_crashed_run_wrote(
    backend: Backend,
) -> None:
    spec = backend.spec(key=())
    backend.write(spec, [_items(range(3))], WriteMode.REPLACE_PARTITION, "p", "crashed")

    backend.write(spec, [_items(range(3))], WriteMode.REPLACE_PARTITION, "p", "rerun")

    assert backend.rows("id, _dd_run_id") == [(0, "rerun"), (1, "rerun"), (2, "rerun")]


def test_a_failing_before_commit_rolls_the_data_back(backend: Backend) -> None:
    spec = backend.spec()
    backend.write(spec, [_items(range(2))], WriteMode.UPSERT, run_id="r1")
    seen = []

    def fail(handle: Any) -> None:
        seen.append(handle)
        raise InjectedCrash

    with pytest.raises(InjectedCrash):
        backend.write(spec, [_items(range(5), "v2")], WriteMode.REPLACE_TABLE, None, "r2", fail)

    assert len(seen) == 1
    assert backend.rows("id, name") == [(0, "v1-0"), (1, "v1-1")]


def test_same_database(backend: Backend, tmp_path: Path) -> None:
    destination = backend.destination
    assert not destination.same_database(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert destination.same_database(backend.url)


def test_nul_characters_do_not_fail_the_load(backend: Backend) -> None:
    record = {"id": 1, "name": "a\x00b", "extra": {"k\x00": "v\x00"}}

    backend.write(backend.spec(), [[record]], WriteMode.UPSERT)

    ((name, extras),) = backend.rows("name, _dd_extras")
    if backend.name == "postgres":
        assert (name, extras) == ("a\ufffdb", {"extra": {"k\ufffd": "v\ufffd"}})
    else:
        assert (name, extras) == ("a\x00b", {"extra": {"k\x00": "v\x00"}})


def test_concurrent_writers_of_one_table_keep_one_row_per_key(backend: Backend) -> None:
    """Two partitions of a backfill written at once, with overlapping keys."""
    spec = backend.spec()
    backend.write(spec, [_items(range(1))], WriteMode.UPSERT)  # the table exists before the race
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(partition: str, ids: range) -> None:
        try:
            start.wait()
            backend.write(spec, _batches(_items(ids, partition), 500), WriteMode.UPSERT, partition)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=("a", range(0, 3000))),
        threading.Thread(target=write, args=("b", range(1000, 4000))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert backend.destination.row_count(spec) == 4000
    assert len({row[0] for row in backend.rows("id")}) == 4000


def test_a_batch_the_stage_cannot_load_fails_the_write_and_writes_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB ingests each batch into a staging file as it comes; a failure there ends the write
    without touching the table."""
    if backend.name != "duckdb":
        pytest.skip("only DuckDB stages batches in a file of its own")
    backend.write(backend.spec(), _batches(_items(range(2))), WriteMode.UPSERT, "p")

    def disk_full(*arguments: Any) -> None:
        raise duckdb.IOException("could not write the staging file: disk full")

    monkeypatch.setattr(duckdb_ingest.JsonInsert, "run", disk_full)
    monkeypatch.setattr(backend.destination, "background_after", 10)  # the patch is in process
    batches = [_items(range(2, 4)), _items(range(4, 6)), _items(range(6, 8))]

    with pytest.raises(duckdb.IOException, match="disk full"):
        backend.write(backend.spec(), batches, WriteMode.UPSERT, "p")

    assert backend.rows("id") == [(0,), (1,)]


def test_rows_that_cannot_be_loaded_fail_the_whole_write(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQL stages load rows in thousands, so a failed load may hold rows of parts already
    counted as written: the write fails whole, and nothing of it is committed."""
    if backend.name == "duckdb":
        pytest.skip("DuckDB's stage has its own test above")
    backend.write(backend.spec(), _batches(_items(range(2))), WriteMode.UPSERT, "p")

    def connection_lost(*arguments: Any) -> None:
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(type(backend.destination), "_load", connection_lost)
    # The first part's rows still wait when the second part's first batch makes a load due.
    monkeypatch.setattr(sqlalchemy_destination, "LOAD_ROWS", 6)
    parts = [(f"2024-01-0{day}", _batches(_items(range(day * 10, day * 10 + 4)))) for day in (1, 2)]

    with pytest.raises(RuntimeError, match="closed the connection"):
        backend.destination.write_partitions(
            backend.spec(), parts, mode=WriteMode.UPSERT, run_id="r"
        )

    assert backend.rows("id") == [(0,), (1,)]


@pytest.fixture
def background_duckdb(tmp_path: Path) -> Iterator[Backend]:
    """A DuckDB destination that starts its loader process once 2 records are staged."""
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    destination = DuckDBDestination(tmp_path / "warehouse.duckdb", background_after=2)
    yield Backend("duckdb", url, destination, "shop")
    destination.close()


def test_a_loader_process_writes_what_the_writer_would(background_duckdb: Backend) -> None:
    backend, spec = background_duckdb, background_duckdb.spec()
    parts = [(f"2024-01-0{day}", _batches(_items(range(day * 10, day * 10 + 5)))) for day in (1, 2)]

    result = backend.destination.write_partitions(spec, parts, mode=WriteMode.UPSERT, run_id="r")

    assert result.rows_by_partition == {"2024-01-01": 5, "2024-01-02": 5}
    assert backend.rows("id, name, _dd_partition, _dd_run_id") == [
        (i, f"v1-{i}", f"2024-01-0{i // 10}", "r") for i in [*range(10, 15), *range(20, 25)]
    ]


def test_batches_waiting_when_the_loader_starts_keep_their_order(tmp_path: Path) -> None:
    """Three batches wait in this process until the fifth record starts the loader; a key
    written again later still ends with its last value."""
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    destination = DuckDBDestination(tmp_path / "warehouse.duckdb", background_after=5)
    backend = Backend("duckdb", url, destination, "shop")
    ids = [1, 0, 0, 2, 3, 4, 5, 1, 6, 7]
    records = [{"id": i, "name": f"seq-{n}"} for n, i in enumerate(ids)]
    try:
        backend.write(backend.spec(), _batches(records), WriteMode.UPSERT, "p")
        last = {i: f"seq-{n}" for n, i in enumerate(ids)}
        assert backend.rows("id, name") == sorted(last.items())
    finally:
        destination.close()


def test_the_loader_process_gets_python_values_json_would_change(
    background_duckdb: Backend,
) -> None:
    """Batches holding datetimes travel pickled, so the loader converts the very values."""
    backend, spec = background_duckdb, background_duckdb.spec()
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    records = [{"id": i, "name": f"n{i}", "updated_at": moment} for i in range(8)]

    backend.write(spec, _batches(records), WriteMode.UPSERT, "p")

    assert backend.rows("id, updated_at") == [
        (i, datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)) for i in range(8)
    ]


def test_a_part_failing_after_the_loader_started_keeps_the_parts_before_it(
    background_duckdb: Backend,
) -> None:
    backend, spec = background_duckdb, background_duckdb.spec(key=())

    def broken() -> Iterator[list[dict[str, Any]]]:
        yield from _batches(_items(range(30, 36)))
        raise RuntimeError("the API failed in the second partition")

    with pytest.raises(PartialWriteError):
        backend.destination.write_partitions(
            spec,
            [("2024-01-01", _batches(_items(range(6)))), ("2024-01-02", broken())],
            mode=WriteMode.REPLACE_PARTITION,
            run_id="r",
        )

    assert backend.rows("id, _dd_partition") == [(i, "2024-01-01") for i in range(6)]


def test_a_record_without_its_key_in_the_loader_process_fails_the_whole_write(
    background_duckdb: Backend,
) -> None:
    """The loader converts after the writer has moved on, so its failure cannot be pinned to a
    partition: the write fails and nothing of it is committed."""
    backend, spec = background_duckdb, background_duckdb.spec()
    keyless = [{"name": "no id"}]
    parts = [
        ("2024-01-01", _batches(_items(range(6)))),
        ("2024-01-02", iter([*_batches(_items(range(10, 12))), keyless])),
    ]

    with pytest.raises(PrimaryKeyValueError, match="primary-key field 'id'"):
        backend.destination.write_partitions(spec, parts, mode=WriteMode.UPSERT, run_id="r")

    assert backend.rows("id") == []


def test_without_a_loader_process_the_write_goes_on_in_process(
    background_duckdb: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_start(*args: Any, **options: Any) -> None:
        raise OSError("fork: resource temporarily unavailable")

    monkeypatch.setattr(duckdb_loader_process.LoaderProcess, "__init__", cannot_start)
    backend = background_duckdb

    result = backend.write(backend.spec(), _batches(_items(range(8))), WriteMode.UPSERT, "p")

    assert (result.rows_written, result.row_count) == (8, 8)
