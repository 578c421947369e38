"""DuckDB, the embedded default warehouse: one file, no server.

A DuckDB file can be opened by one process at a time, and Dagster runs steps in parallel
processes. So the file is opened only for the two short moments of a write that need it (preparing
the table, merging the staged rows) and a process that finds it locked waits and retries. While
the stream is read, its rows are staged outside the database, in a DuckDB file of the write's own
that a background thread fills from JSON batch files (see `duckdb_stage.py`); DuckDB's JSON
reader loads hundreds of thousands of rows a second (inserting row by row manages about a
thousand) without needing Arrow.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_declarative.warehouse.base import BaseDestination
from dagster_declarative.warehouse.columns import (
    ColumnType,
    TableLayout,
    plan_columns,
    reconcile_columns,
)
from dagster_declarative.warehouse.duckdb_sql import (
    SQL_TYPES,
    WAREHOUSE_CONFIG,
    definition,
    qualified,
    quote,
)
from dagster_declarative.warehouse.duckdb_stage import DuckDBStage
from dagster_declarative.warehouse.errors import DestinationLockedError
from dagster_declarative.warehouse.naming import sanitize_identifier
from dagster_declarative.warehouse.spec import TableSpec
from dagster_declarative.warehouse.stage_directory import stage_directory
from dagster_declarative.warehouse.urls import duckdb_path

_HOLDS = {
    **{sql: (logical,) for logical, sql in SQL_TYPES.items()},
    **dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "HUGEINT"), (ColumnType.INTEGER,)),
    **dict.fromkeys(("FLOAT", "REAL", "DECIMAL"), (ColumnType.NUMBER,)),
    "TIMESTAMP": (ColumnType.TIMESTAMP,),
    "VARCHAR": (ColumnType.STRING, ColumnType.JSON),
}
_process_locks: dict[Path, threading.RLock] = {}
_process_locks_guard = threading.Lock()


def _holds(data_type: str) -> tuple[ColumnType, ...]:
    """The logical types a column of DuckDB type `data_type` (e.g. "DECIMAL(18,3)") can hold."""
    return _HOLDS.get(data_type.split("(")[0].upper(), ())


def _process_lock(path: Path) -> threading.RLock:
    with _process_locks_guard:
        return _process_locks.setdefault(path, threading.RLock())


class DuckDBDestination(BaseDestination):
    """Writes into the DuckDB file at `path`, waiting up to `lock_timeout` seconds for its lock.

    A write of `background_after` records or more loads them in a loader process (see
    `duckdb_loader_process.py`); shorter writes do not pay for starting one.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout: float = 300.0,
        background_after: int = 5_000,
    ) -> None:
        self.path = Path(path).expanduser().resolve()
        self.lock_timeout = lock_timeout
        self.background_after = background_after

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the file; threads of one process take turns, other processes wait."""
        with _process_lock(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._open_waiting_for_lock()
            try:
                yield connection
            finally:
                connection.close()

    def _open_waiting_for_lock(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), config=WAREHOUSE_CONFIG)
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise DestinationLockedError(
                        f"The DuckDB file {self.path} stayed locked by another process for "
                        f"{self.lock_timeout:g} s. Close other programs using it (a DuckDB shell, "
                        "a notebook) or raise the destination's lock timeout."
                    ) from error
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _prepare_table(self, table: TableSpec) -> TableLayout:
        planned, key = plan_columns(table)
        schema, name = sanitize_identifier(table.namespace), sanitize_identifier(table.name)
        target = qualified(schema, name)
        with self.connect() as connection:
            connection.begin()
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            existing = _describe(connection, schema, name)
            columns, missing = reconcile_columns(
                planned, {column: _holds(data_type) for column, data_type in existing.items()}
            )
            if not existing:
                definitions = ", ".join(definition(column) for column in columns)
                connection.execute(f"CREATE TABLE {target} ({definitions})")
            for column in missing if existing else ():
                connection.execute(f"ALTER TABLE {target} ADD COLUMN {definition(column)}")
            described = tuple(_describe(connection, schema, name).items())
            connection.commit()
        return TableLayout(schema, name, tuple(columns), key, described)

    @contextmanager
    def _open_stage(self, layout: TableLayout) -> Iterator[DuckDBStage]:
        with stage_directory() as directory:
            stage = DuckDBStage(self.connect, layout, directory, self.background_after)
            try:
                yield stage
            finally:
                stage.close()

    def same_database(self, url: str) -> bool:
        path = duckdb_path(url)
        return path is not None and Path(path).expanduser().resolve() == self.path

    def row_count(self, table: TableSpec) -> int:
        schema, name = sanitize_identifier(table.namespace), sanitize_identifier(table.name)
        with self.connect() as connection:
            if not _describe(connection, schema, name):
                return 0
            (count,) = connection.execute(
                f"SELECT COUNT(*) FROM {qualified(schema, name)}"
            ).fetchone()
            return count

    def close(self) -> None:
        """Nothing to release: connections live only as long as one step of a write."""


def _describe(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> dict[str, str]:
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return dict(rows)
