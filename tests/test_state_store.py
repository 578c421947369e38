"""The SQL state table: cursor guard, transactions, leases and concurrent processes.

Every behaviour runs against a SQLite file and, when TEST_POSTGRES_URL is set, against PostgreSQL
with a table prefix of its own so parallel test runs never share rows.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.state.sql import StateStoreError, portable_upsert
from engine.state.store import STATE_SCHEMA_VERSION, StateStore, StoredState


@dataclass(frozen=True)
class Backend:
    """Where a test's tables live; ``open`` gives a fresh store on them, as a new process would."""

    url: str
    prefix: str

    def open(self) -> StateStore:
        return StateStore(self.url, table_prefix=self.prefix)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend(f"sqlite:///{tmp_path / 'nested' / 'state.db'}", "dd_")
        return
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set; PostgreSQL state store tests need a server")
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield Backend(url, prefix)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for table in ("state", "state_lease", "state_meta", "warehouse"):
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {prefix}{table}")
    engine.dispose()


@pytest.fixture
def store(backend: Backend) -> Iterator[StateStore]:
    opened = backend.open()
    yield opened
    opened.dispose()


def test_save_load_and_overwrite(store: StateStore) -> None:
    assert store.load("shop", "orders") is None
    assert store.get("shop", "orders") is None

    assert store.save("shop", "orders", "", {"updated_at": "2024-01-01T00:00:00Z"})
    assert store.load("shop", "orders") == {"updated_at": "2024-01-01T00:00:00Z"}

    assert store.save("shop", "orders", "", {"updated_at": "2024-02-01T00:00:00Z", "n": [1]})
    assert store.load("shop", "orders") == {"updated_at": "2024-02-01T00:00:00Z", "n": [1]}


def test_run_id_and_write_time_are_recorded(store: StateStore) -> None:
    before = datetime.now(timezone.utc)
    store.save("shop", "orders", "2024-01-01", {"c": 1}, cursor_key="0001", run_id="run-42")
    after = datetime.now(timezone.utc)

    stored = store.get("shop", "orders", "2024-01-01")

    assert isinstance(stored, StoredState)
    assert (stored.source, stored.stream, stored.partition) == ("shop", "orders", "2024-01-01")
    assert (stored.state, stored.cursor_key, stored.run_id) == ({"c": 1}, "0001", "run-42")
    assert stored.updated_at.tzinfo is not None
    assert before <= stored.updated_at <= after


def test_a_cursor_never_moves_backwards_unless_allowed(store: StateStore) -> None:
    newer = "2024-03-01T00:00:00.000000Z"
    older = "2024-02-01T00:00:00.000000Z"
    assert store.save("shop", "orders", "", {"at": newer}, cursor_key=newer)

    assert not store.save("shop", "orders", "", {"at": older}, cursor_key=older)
    assert store.load("shop", "orders") == {"at": newer}

    assert store.save("shop", "orders", "", {"at": newer, "again": True}, cursor_key=newer)
    assert store.save("shop", "orders", "", {"at": older}, cursor_key=older, allow_backwards=True)
    assert store.get("shop", "orders").cursor_key == older


def test_writes_without_a_cursor_key_are_unconditional(store: StateStore) -> None:
    assert store.save("shop", "orders", "", {"pages": 3})
    assert store.save("shop", "orders", "", {"at": "b"}, cursor_key="b")
    assert store.save("shop", "orders", "", {"pages": 1})
    assert store.get("shop", "orders").cursor_key is None
    assert store.save("shop", "orders", "", {"at": "a"}, cursor_key="a")


def test_load_all_and_reset(store: StateStore) -> None:
    for partition in ("2024-01-01", "2024-01-02", "2024-01-03"):
        store.save("shop", "orders", partition, {"day": partition})
    store.save("shop", "customers", "", {"other": True})

    assert store.load_all("shop", "orders") == {
        "2024-01-01": {"day": "2024-01-01"},
        "2024-01-02": {"day": "2024-01-02"},
        "2024-01-03": {"day": "2024-01-03"},
    }

    assert store.reset("shop", "orders", "2024-01-02") == 1
    assert set(store.load_all("shop", "orders")) == {"2024-01-01", "2024-01-03"}
    assert store.reset("shop", "orders", "missing") == 0
    assert store.reset("shop", "orders") == 2
    assert store.load_all("shop", "orders") == {}
    assert store.load("shop", "customers") == {"other": True}


def test_state_joins_the_callers_transaction(backend: Backend, store: StateStore) -> None:
    """A warehouse on the same database commits its rows and the state together, or neither."""
    store.create_tables()
    warehouse = sa.create_engine(backend.url)
    rows = sa.Table(f"{backend.prefix}warehouse", sa.MetaData(), sa.Column("id", sa.Integer))
    rows.create(warehouse)
    try:
        with warehouse.connect() as connection:
            with connection.begin() as transaction:
                connection.execute(sa.insert(rows).values(id=1))
                assert store.save("shop", "orders", "p", {"c": 1}, connection=connection)
                assert store.load("shop", "orders", "p") is None
                transaction.rollback()
            assert store.load("shop", "orders", "p") is None

            with connection.begin():
                connection.execute(sa.insert(rows).values(id=2))
                store.save("shop", "orders", "p", {"c": 2}, connection=connection)
            assert store.load("shop", "orders", "p") == {"c": 2}
            assert connection.execute(sa.select(rows.c.id)).scalars().all() == [2]
    finally:
        warehouse.dispose()


def test_leases_refuse_a_second_owner_until_released_or_expired(store: StateStore) -> None:
    assert store.acquire_lease("shop", "orders", "p", "run-a")
    assert not store.acquire_lease("shop", "orders", "p", "run-b")
    assert store.acquire_lease("shop", "orders", "p", "run-a")
    assert store.acquire_lease("shop", "orders", "other", "run-b")

    store.release_lease("shop", "orders", "p", "run-b")
    assert not store.acquire_lease("shop", "orders", "p", "run-b")

    store.release_lease("shop", "orders", "p", "run-a")
    assert store.acquire_lease("shop", "orders", "p", "run-b", ttl_seconds=0.05)
    time.sleep(0.1)
    assert store.acquire_lease("shop", "orders", "p", "run-c")
    assert not store.acquire_lease("shop", "orders", "p", "run-b")


def test_renewing_leases_extends_them_and_names_those_taken_over(store: StateStore) -> None:
    assert store.acquire_leases("shop", "orders", ["a", "b"], "run-a", 0.2) == []
    assert store.renew_leases("shop", "orders", ["a", "b"], "run-a", 60) == []
    time.sleep(0.3)  # past the first TTL: only the renewal keeps them
    assert store.acquire_leases("shop", "orders", ["a", "b"], "run-b", 60) == ["a", "b"]
    assert store.renew_leases("shop", "orders", ["a"], "run-a", 0.01) == []
    time.sleep(0.05)
    assert store.acquire_leases("shop", "orders", ["a"], "run-b", 60) == []
    assert store.renew_leases("shop", "orders", ["a", "b"], "run-a", 60) == ["a"]
    assert store.lease_owner("shop", "orders", "a") == "run-b"


def test_claiming_many_leases_at_once_refuses_exactly_the_held_ones(store: StateStore) -> None:
    """A backfill claims its partitions in one call (more than one batch of rows); partitions
    held by another live owner are refused, the others taken, repeats counted once."""
    keys = [f"p{index:04d}" for index in range(1_200)]
    held = keys[::7]
    assert store.acquire_leases("shop", "orders", held, "run-a", 60) == []
    refused = store.acquire_leases("shop", "orders", [*keys, keys[1]], "run-b", 60)
    assert refused == held
    assert store.lease_owner("shop", "orders", keys[1]) == "run-b"
    assert store.lease_owner("shop", "orders", keys[7]) == "run-a"
    assert store.acquire_leases("shop", "orders", keys[1:7], "run-b", 60) == []  # its own: renewed


def test_portable_upsert_keeps_the_same_contract(store: StateStore) -> None:
    """Dialects without ON CONFLICT use update-then-insert; its guard must behave the same."""
    store._upsert = portable_upsert

    assert store.save("shop", "orders", "", {"at": 2}, cursor_key="2")
    assert not store.save("shop", "orders", "", {"at": 1}, cursor_key="1")
    assert store.save("shop", "orders", "", {"at": 3}, cursor_key="3")
    assert store.load("shop", "orders") == {"at": 3}
    assert store.acquire_lease("shop", "orders", "", "run-a")
    assert not store.acquire_lease("shop", "orders", "", "run-b")


def test_schema_version_is_recorded_and_reopening_is_idempotent(backend: Backend) -> None:
    first = backend.open()
    first.save("shop", "orders", "", {"c": 1})
    second = backend.open()
    second.create_tables()
    second.create_tables()

    assert second.load("shop", "orders") == {"c": 1}
    with second.engine.connect() as connection:
        meta = connection.exec_driver_sql(f"SELECT name, value FROM {backend.prefix}state_meta")
        assert meta.all() == [("schema_version", str(STATE_SCHEMA_VERSION))]
    first.dispose()
    second.dispose()


def test_tables_from_another_schema_version_are_refused(
    backend: Backend, store: StateStore
) -> None:
    store.create_tables()
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE {backend.prefix}state_meta SET value = '99'")

    newer = backend.open()
    with pytest.raises(StateStoreError, match="schema version 99"):
        newer.load("shop", "orders")
    newer.dispose()


def test_bad_input_is_refused_with_a_clear_error(store: StateStore) -> None:
    with pytest.raises(StateStoreError, match="must be a JSON object"):
        store.save("shop", "orders", "", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(StateStoreError, match="not JSON-serializable"):
        store.save("shop", "orders", "", {"at": object()})
    with pytest.raises(StateStoreError, match="at most 255"):
        store.save("shop", "orders", "x" * 256, {})
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.acquire_lease("shop", "orders", "", "run-a", ttl_seconds=0)


def test_passwords_never_show(tmp_path: Path) -> None:
    store = StateStore("postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/state")

    assert "s3cret-pw" not in repr(store)
    assert "s3cret-pw" not in store.url
    with pytest.raises(StateStoreError) as failure:
        store.load("shop", "orders")
    assert "127.0.0.1" in str(failure.value)
    assert "s3cret-pw" not in str(failure.value)
    with pytest.raises(StateStoreError) as unparsable:
        StateStore("not a url :s3cret-pw@")
    assert "s3cret-pw" not in str(unparsable.value)


def test_sqlite_file_creates_directories_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    store = StateStore.sqlite_file(path)
    store.save("shop", "orders", "", {"c": 1})
    store.dispose()

    assert path.exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# Processes start with "spawn" so each builds its own engine, as separate Dagster runs do; the
# parent does not open the store first, so the processes also race to create the tables.


def _write_partitions(url: str, prefix: str, worker: int, count: int, barrier) -> None:
    store = StateStore(url, table_prefix=prefix)
    barrier.wait(timeout=60)
    for i in range(count):
        partition = f"w{worker}-{i:04d}"
        store.save("shop", "orders", partition, {"i": i}, cursor_key=f"{i:04d}", run_id=str(worker))
    store.dispose()


def _advance_one_partition(url: str, prefix: str, keys: list[str], barrier) -> None:
    store = StateStore(url, table_prefix=prefix)
    barrier.wait(timeout=60)
    for key in keys:
        store.save("shop", "orders", "p", {"cursor": key}, cursor_key=key)
    store.dispose()


def _run_processes(target: Callable[..., None], arguments: list[tuple]) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(arguments))
    processes = [context.Process(target=target, args=(*args, barrier)) for args in arguments]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * len(processes)


def test_two_processes_writing_different_partitions_keep_every_row(backend: Backend) -> None:
    count = 200
    _run_processes(
        _write_partitions,
        [(backend.url, backend.prefix, worker, count) for worker in (0, 1)],
    )

    store = backend.open()
    saved = store.load_all("shop", "orders")
    store.dispose()
    expected = {f"w{w}-{i:04d}": {"i": i} for w in (0, 1) for i in range(count)}
    assert saved == expected


def test_two_processes_racing_on_one_partition_leave_the_highest_cursor(backend: Backend) -> None:
    keys = [f"{i:04d}" for i in range(300)]
    random.Random(7).shuffle(keys)
    _run_processes(
        _advance_one_partition,
        [(backend.url, backend.prefix, keys[0::2]), (backend.url, backend.prefix, keys[1::2])],
    )

    store = backend.open()
    stored = store.get("shop", "orders", "p")
    store.dispose()
    assert (stored.cursor_key, stored.state) == ("0299", {"cursor": "0299"})


def test_save_many_writes_every_partition_in_the_callers_transaction(store: StateStore) -> None:
    """A backfill's states in one statement: new rows and overwritten ones alike, committed or
    rolled back with the caller's transaction (the warehouse's, when they share a database)."""
    store.save("src", "events", "2024-01-01", {"updated_at": "old"})
    states = {f"2024-01-0{day}": {"updated_at": f"2024-01-0{day}T10:00:00Z"} for day in (1, 2, 3)}
    store.create_tables()
    with store.engine.begin() as connection:
        store.save_many("src", "events", states, run_id="run-1", connection=connection)
    with store.engine.connect() as connection:
        transaction = connection.begin()
        store.save_many("src", "events", {"2024-01-04": {"x": 1}}, connection=connection)
        transaction.rollback()
    assert store.load_all("src", "events") == states
    assert store.get("src", "events", "2024-01-02").run_id == "run-1"
    with pytest.raises(StateStoreError, match="must be a JSON object"):
        store.save_many("src", "events", {"2024-01-05": ["not a dict"]})  # type: ignore[dict-item]
    store.save_many("src", "events", {})
    assert len(store.load_all("src", "events")) == 3
