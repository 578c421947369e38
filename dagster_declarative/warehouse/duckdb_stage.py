"""Where a DuckDB write's rows wait for the merge: a private DuckDB file, filled while reading.

The warehouse file stays closed while the stream is read (other processes may be writing to it),
so rows are staged in a DuckDB file of the write's own, in a temporary directory, batch by batch
(see `duckdb_loader.py`); by the end of the stream the rows are already typed and columnar, so
the merge, the only moment the warehouse file is locked, just attaches the staging file and
moves them in with plain SQL.

Until `background_after` records are staged they wait in this process; a write that ends sooner
loads them in one statement at the merge. A longer one hands them and all that follow to a loader
process (see `duckdb_loader_process.py`), so it costs the reading thread little more than writing
each batch's JSON text. A short write does not pay for starting a process, and a long one does not
pay for the staging file here: the file is created by whichever loads the first rows (opening,
creating and closing it here took ~18 ms of the reading thread in a backfill of 91,250 records).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb

from dagster_declarative.warehouse.columns import TableLayout
from dagster_declarative.warehouse.convert import BatchInfo
from dagster_declarative.warehouse.duckdb_ingest import STAGE_TABLE
from dagster_declarative.warehouse.duckdb_loader import GROUP_RECORDS, BatchGroup, StageLoader
from dagster_declarative.warehouse.duckdb_loader_process import LoaderProcess
from dagster_declarative.warehouse.duckdb_sql import literal, qualified, quote
from dagster_declarative.warehouse.errors import WarehouseError
from dagster_declarative.warehouse.merge import merge_statements
from dagster_declarative.warehouse.spec import BeforeCommit, Record, WriteMode

_STAGE_ALIAS = "_dd_stage"

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class DuckDBStage:
    """Rows of one write, loaded into `directory/stage.duckdb`.

    Batches may be small (a page of records: they are cheapest to read, see
    `dagster_declarative.resource`), but every DuckDB statement costs milliseconds, so batches of
    one partition are loaded in groups of at least `GROUP_RECORDS`.
    """

    def __init__(
        self,
        connect_warehouse: Connect,
        layout: TableLayout,
        directory: Path,
        background_after: int,
    ) -> None:
        self._connect_warehouse = connect_warehouse
        self._layout = layout
        self._path = directory / "stage.duckdb"
        self._background_after = background_after
        self._staged = 0
        self._pending: BatchGroup[Sequence[Record]] = BatchGroup()
        self._loader: StageLoader | LoaderProcess | None = None
        self._created = self._closed = False

    def append(self, records: Sequence[Record], info: BatchInfo) -> None:
        self._check_open()
        self._staged += len(records)
        if isinstance(self._loader, LoaderProcess):
            self._loader.load(records, info)
            return
        self._pending.add(records, len(records), info)
        if self._staged >= self._background_after:
            if self._loader is not None:
                self._loader.close()
                self._loader = None
            try:
                self._loader = LoaderProcess(self._layout, self._path, create=not self._created)
            except (OSError, WarehouseError):  # no second process here: go on in this one
                self._background_after = sys.maxsize
            else:
                self._created = True
                self._load_pending(self._loader)
                return
        if self._pending.records >= GROUP_RECORDS:
            self._load_pending(self._in_process())

    def rewind(self, rows: int) -> None:
        self._check_open()
        loader = self._loader
        if not isinstance(loader, LoaderProcess):
            loader = self._in_process()
            self._load_pending(loader)
        loader.delete_after(rows)

    def merge(
        self,
        mode: WriteMode,
        partition_keys: Sequence[str | None],
        before_commit: BeforeCommit | None,
    ) -> int:
        # The warehouse attaches the staging file, which needs it closed.
        self._check_open()
        loader = self._loader if isinstance(self._loader, LoaderProcess) else self._in_process()
        self._loader, self._closed = None, True
        if isinstance(loader, LoaderProcess):
            try:
                loader.finish()
            finally:
                loader.kill()
        else:
            self._load_pending(loader)
            loader.close()
        layout = self._layout
        target = qualified(layout.schema or "main", layout.name)
        statements = merge_statements(
            layout,
            target=target,
            staging=quote(STAGE_TABLE),
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
                    f"CREATE TEMP VIEW {quote(STAGE_TABLE)} AS SELECT * FROM "
                    f"{quote(_STAGE_ALIAS)}.main.{quote(STAGE_TABLE)}"
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
        """Stop loading (the directory is removed by the caller)."""
        loader, self._loader, self._closed = self._loader, None, True
        if isinstance(loader, LoaderProcess):
            loader.kill()
        elif loader is not None:
            loader.close()

    def _load_pending(self, loader: StageLoader | LoaderProcess) -> None:
        """Load the batches waiting in this process as one group."""
        pending = self._pending
        if pending.info is not None:
            loader.load([record for batch in pending.batches for record in batch], pending.info)
            pending.clear()

    def _in_process(self) -> StageLoader:
        """The loader in this process, opening (on first use, creating) the staging file."""
        if self._loader is None:
            self._loader = StageLoader(self._layout, self._path, create=not self._created)
            self._created = True
        assert isinstance(self._loader, StageLoader)
        return self._loader

    def _check_open(self) -> None:
        assert not self._closed, "the stage was merged or closed"
