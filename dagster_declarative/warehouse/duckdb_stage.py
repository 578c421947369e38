"""Where a DuckDB write's rows wait for the merge: a private DuckDB file, filled while reading.

The warehouse file stays closed while the stream is read (other processes may be writing to it),
so rows are staged in a DuckDB file of the write's own, in a temporary directory. Each batch is
written as a JSON file and handed to a loader thread, which ingests it with DuckDB's JSON reader.
DuckDB works outside the interpreter lock, so the ingestion runs on another core while the engine
reads the next pages; by the end of the stream the rows are already typed and columnar, and the
merge attaches the staging file to the warehouse and moves them in with plain SQL.

The columns that are the same for a whole batch (extraction time, partition, run id) are bound
as parameters of the batch's INSERT, so they are never encoded or parsed once per row.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import duckdb

from dagster_declarative.warehouse.columns import (
    EXTRACTED_AT_COLUMN,
    PARTITION_COLUMN,
    RUN_ID_COLUMN,
    SEQUENCE_COLUMN,
    TableLayout,
)
from dagster_declarative.warehouse.convert import ConvertedBatch, encode_json
from dagster_declarative.warehouse.duckdb_sql import (
    BOUNDED_MEMORY,
    SQL_TYPES,
    definition,
    literal,
    qualified,
    quote,
)
from dagster_declarative.warehouse.merge import merge_statements
from dagster_declarative.warehouse.spec import BeforeCommit, WriteMode

_STAGE_TABLE = "_dd_staging"
_STAGE_ALIAS = "_dd_stage"
# Batches written but not yet ingested: enough to keep the loader busy, few enough that a slow
# disk holds back the reader instead of filling up.
_QUEUED_BATCHES = 4
_PER_BATCH_COLUMNS = frozenset((PARTITION_COLUMN, EXTRACTED_AT_COLUMN, RUN_ID_COLUMN))

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class DuckDBStage:
    """Rows of one write, loaded into `directory/stage.duckdb` by a background thread."""

    def __init__(self, connect_warehouse: Connect, layout: TableLayout, directory: Path) -> None:
        self._connect_warehouse = connect_warehouse
        self._layout = layout
        self._directory = directory
        self._path = directory / "stage.duckdb"
        self._connection: duckdb.DuckDBPyConnection | None = duckdb.connect(
            str(self._path), config=BOUNDED_MEMORY
        )
        columns = ", ".join(definition(column) for column in layout.columns)
        self._connection.execute(
            f"CREATE TABLE {quote(_STAGE_TABLE)} ({columns}, {quote(SEQUENCE_COLUMN)} BIGINT)"
        )
        self._insert = _BatchInsert(layout)
        self._batches_written = 0
        self._pending: queue.Queue[tuple[Path, ConvertedBatch] | None] = queue.Queue(
            _QUEUED_BATCHES
        )
        self._failure: BaseException | None = None
        self._loader = threading.Thread(target=self._load_batches, name="duckdb-stage", daemon=True)
        self._loader.start()

    def append(self, batch: ConvertedBatch) -> None:
        self._raise_failure()
        path = self._directory / f"batch-{self._batches_written:07d}.json"
        path.write_bytes(encode_json(batch.rows))
        self._batches_written += 1
        self._pending.put((path, replace(batch, rows=[])))  # the rows are on disk now

    def rewind(self, rows: int) -> None:
        connection = self._finish_loading()
        connection.execute(
            f"DELETE FROM {quote(_STAGE_TABLE)} WHERE {quote(SEQUENCE_COLUMN)} > ?", [rows]
        )
        self._restart_loader()

    def merge(
        self,
        mode: WriteMode,
        partition_keys: Sequence[str | None],
        before_commit: BeforeCommit | None,
    ) -> int:
        self._finish_loading().close()
        self._connection = None
        layout = self._layout
        target = qualified(layout.schema or "main", layout.name)
        statements = merge_statements(
            layout,
            target=target,
            staging=quote(_STAGE_TABLE),
            quote=quote,
            mode=mode,
            partition_keys=partition_keys,
            placeholder=lambda index: "?",
        )
        with self._connect_warehouse() as connection:
            connection.execute(
                f"ATTACH {literal(str(self._path))} AS {quote(_STAGE_ALIAS)} (READ_ONLY)"
            )
            connection.begin()
            try:
                connection.execute(
                    f"CREATE TEMP VIEW {quote(_STAGE_TABLE)} AS SELECT * FROM "
                    f"{quote(_STAGE_ALIAS)}.main.{quote(_STAGE_TABLE)}"
                )
                for statement in statements:
                    connection.execute(statement.sql, list(statement.parameters))
                (count,) = connection.execute(f"SELECT COUNT(*) FROM {target}").fetchone()
                if before_commit is not None:
                    before_commit(connection)
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        return count

    def close(self) -> None:
        """Stop the loader and close the staging file (the directory is removed by the caller)."""
        if self._connection is not None:
            self._stop_loader()
            self._connection.close()
            self._connection = None

    def _load_batches(self) -> None:
        """The loader thread: ingest batch files in order until told to stop."""
        connection = self._connection
        assert connection is not None
        while (item := self._pending.get()) is not None:
            path, batch = item
            try:
                if self._failure is None:
                    self._insert.run(connection, path, batch)
            except BaseException as error:  # surfaced in the writer's thread by the next call
                self._failure = error
            finally:
                path.unlink(missing_ok=True)

    def _finish_loading(self) -> duckdb.DuckDBPyConnection:
        """Wait until every batch is ingested; the staging connection, free for this thread."""
        self._stop_loader()
        self._raise_failure()
        assert self._connection is not None
        return self._connection

    def _stop_loader(self) -> None:
        if self._loader.is_alive():
            self._pending.put(None)
            self._loader.join()

    def _restart_loader(self) -> None:
        self._loader = threading.Thread(target=self._load_batches, name="duckdb-stage", daemon=True)
        self._loader.start()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure


class _BatchInsert:
    """The INSERT that ingests one batch file, with the per-batch columns as parameters."""

    def __init__(self, layout: TableLayout) -> None:
        names = [*(column.name for column in layout.columns), SEQUENCE_COLUMN]
        read = {column.name: SQL_TYPES[column.type] for column in layout.columns}
        read[SEQUENCE_COLUMN] = "BIGINT"
        columns = ", ".join(
            f"{literal(name)}: {literal(read[name])}"
            for name in names
            if name not in _PER_BATCH_COLUMNS
        )
        self._parameters = [name for name in names if name in _PER_BATCH_COLUMNS]
        selected = ", ".join("?" if name in _PER_BATCH_COLUMNS else quote(name) for name in names)
        self._head = f"INSERT INTO {quote(_STAGE_TABLE)} SELECT {selected} FROM read_json("
        self._tail = f", format = 'array', columns = {{{columns}}})"

    def run(self, connection: duckdb.DuckDBPyConnection, path: Path, batch: ConvertedBatch) -> None:
        values = {
            PARTITION_COLUMN: batch.partition_key,
            EXTRACTED_AT_COLUMN: batch.extracted_at,
            RUN_ID_COLUMN: batch.run_id,
        }
        connection.execute(
            self._head + literal(str(path)) + self._tail,
            [values[name] for name in self._parameters],
        )
