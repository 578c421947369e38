"""Where a DuckDB write's rows wait for the merge: a private DuckDB file, filled while reading.

The warehouse file stays closed while the stream is read (other processes may be writing to it),
so rows are staged in a DuckDB file of the write's own, in a temporary directory. Each batch is
written as a JSON file and ingested with DuckDB's JSON reader, then the file is deleted; by the
end of the stream the rows are already typed and columnar, so the merge, the only moment the
warehouse file is locked, just attaches the staging file and moves them in with plain SQL.

The columns that are the same for a whole batch (extraction time, partition, run id) are bound
as parameters of the batch's INSERT, so they are never encoded or parsed once per row.

Ingestion runs in the writer's thread: measured with DuckDB 2.0, a query on another thread does
not run beside Python code (the two take turns), so a loader thread bought nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
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
    SQL_TYPES,
    STAGING_MEMORY,
    definition,
    literal,
    qualified,
    quote,
)
from dagster_declarative.warehouse.merge import merge_statements
from dagster_declarative.warehouse.spec import BeforeCommit, WriteMode

_STAGE_TABLE = "_dd_staging"
_STAGE_ALIAS = "_dd_stage"
_PER_BATCH_COLUMNS = frozenset((PARTITION_COLUMN, EXTRACTED_AT_COLUMN, RUN_ID_COLUMN))

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class DuckDBStage:
    """Rows of one write, loaded batch by batch into `directory/stage.duckdb`."""

    def __init__(self, connect_warehouse: Connect, layout: TableLayout, directory: Path) -> None:
        self._connect_warehouse = connect_warehouse
        self._layout = layout
        self._batch_file = directory / "batch.json"
        self._path = directory / "stage.duckdb"
        self._connection: duckdb.DuckDBPyConnection | None = duckdb.connect(
            str(self._path), config=STAGING_MEMORY
        )
        columns = ", ".join(definition(column) for column in layout.columns)
        self._connection.execute(
            f"CREATE TABLE {quote(_STAGE_TABLE)} ({columns}, {quote(SEQUENCE_COLUMN)} BIGINT)"
        )
        self._insert = _BatchInsert(layout)

    def append(self, batch: ConvertedBatch) -> None:
        self._batch_file.write_bytes(encode_json(batch.rows))
        try:
            self._insert.run(self._staging(), self._batch_file, batch)
        finally:
            self._batch_file.unlink()

    def rewind(self, rows: int) -> None:
        sequence = quote(SEQUENCE_COLUMN)
        self._staging().execute(f"DELETE FROM {quote(_STAGE_TABLE)} WHERE {sequence} > ?", [rows])

    def merge(
        self,
        mode: WriteMode,
        partition_keys: Sequence[str | None],
        before_commit: BeforeCommit | None,
    ) -> int:
        self.close()  # the warehouse attaches the staging file, which needs it closed
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
            stage = f"{literal(str(self._path))} AS {quote(_STAGE_ALIAS)}"
            connection.execute(f"ATTACH {stage} (READ_ONLY)")
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
        """Close the staging file (the directory is removed by the caller)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _staging(self) -> duckdb.DuckDBPyConnection:
        assert self._connection is not None, "the stage was merged or closed"
        return self._connection


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
