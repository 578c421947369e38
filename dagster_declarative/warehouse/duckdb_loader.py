"""Converting and loading a DuckDB write's batches into its staging file, here or in a process.

`StageLoader` turns a batch of records into rows (see `convert.py`) and ingests them into the
write's private staging file with DuckDB's JSON reader. A long write runs it in a loader process
(`LoaderProcess`), so that conversion and ingestion use the second core while this process
reads the API: measured with DuckDB 2.0, neither Python code nor a DuckDB query on a second
thread runs beside the reading thread (they take turns on the interpreter lock), but a second
process does. Batches travel to the loader pickled through a pipe, which keeps every Python
value a transformation may have produced exactly as it was.

The loader process runs `serve` (see `_BOOTSTRAP`): it reads (command, arguments) messages from
stdin and answers each on stdout with None or the exception it raised.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

import dagster_declarative
from dagster_declarative.warehouse.columns import (
    EXTRACTED_AT_COLUMN,
    PARTITION_COLUMN,
    RUN_ID_COLUMN,
    SEQUENCE_COLUMN,
    TableLayout,
)
from dagster_declarative.warehouse.convert import BatchInfo, RowConverter, encode_json
from dagster_declarative.warehouse.duckdb_sql import (
    SQL_TYPES,
    STAGING_MEMORY,
    definition,
    literal,
    quote,
)
from dagster_declarative.warehouse.errors import WarehouseError
from dagster_declarative.warehouse.spec import Record

STAGE_TABLE = "_dd_staging"
# The loader process imports this module without running dagster_declarative/__init__.py, which
# imports Dagster (two seconds of start-up the loader has no use for): the package is registered
# first as a bare module whose search path is the package directory (argv[1]).
_BOOTSTRAP = """
import sys, types
package = types.ModuleType("dagster_declarative")
package.__path__ = [sys.argv[1]]
sys.modules["dagster_declarative"] = package
from dagster_declarative.warehouse.duckdb_loader import serve
serve()
"""
# Batches handed to the loader process that it has not finished: enough to ride out a slow
# batch, few enough that the files waiting on disk stay small.
_AHEAD = 8
_PER_BATCH_COLUMNS = frozenset((PARTITION_COLUMN, EXTRACTED_AT_COLUMN, RUN_ID_COLUMN))


class StageLoader:
    """Converts batches and appends them to the staging table of the file at `path`."""

    def __init__(self, layout: TableLayout, path: Path, *, create: bool) -> None:
        self._connection = duckdb.connect(str(path), config=STAGING_MEMORY)
        if create:
            columns = ", ".join(definition(column) for column in layout.columns)
            self._connection.execute(
                f"CREATE TABLE {quote(STAGE_TABLE)} ({columns}, {quote(SEQUENCE_COLUMN)} BIGINT)"
            )
        self._converter = RowConverter(layout, as_objects=True)
        self._insert = _BatchInsert(layout)
        self._batch_file = path.with_suffix(f".{os.getpid()}.json")

    def load_file(self, path: Path, info: BatchInfo) -> None:
        """Load a batch handed over as a pickle file (see `LoaderProcess`), then delete it."""
        records = pickle.loads(path.read_bytes())
        path.unlink()
        self.load(records, info)

    def load(self, records: Sequence[Record], info: BatchInfo) -> None:
        self._batch_file.write_bytes(encode_json(self._converter.convert(records, info)))
        try:
            self._insert.run(self._connection, self._batch_file, info)
        finally:
            self._batch_file.unlink()

    def delete_after(self, rows: int) -> None:
        """Forget the staged rows after the first `rows` of the write."""
        self._connection.execute(
            f"DELETE FROM {quote(STAGE_TABLE)} WHERE {quote(SEQUENCE_COLUMN)} > ?", [rows]
        )

    def close(self) -> None:
        self._connection.close()


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
        self._head = f"INSERT INTO {quote(STAGE_TABLE)} SELECT {selected} FROM read_json("
        self._tail = f", format = 'array', columns = {{{columns}}})"

    def run(self, connection: duckdb.DuckDBPyConnection, path: Path, info: BatchInfo) -> None:
        values = {
            PARTITION_COLUMN: info.partition_key,
            EXTRACTED_AT_COLUMN: info.extracted_at,
            RUN_ID_COLUMN: info.run_id,
        }
        connection.execute(
            self._head + literal(str(path)) + self._tail,
            [values[name] for name in self._parameters],
        )


class LoaderProcess:
    """A `StageLoader` in a process of its own, fed through its stdin.

    Batches are handed over as files beside the staging file (a pipe would make the writer wait
    for the loader at every batch) and commands are sent without waiting for their answers; at
    most `_AHEAD` batches wait for the loader. Answers are collected as they arrive, and the
    first failure is raised by the next call (`finish` raises it at the latest).
    """

    def __init__(self, layout: TableLayout, path: Path) -> None:
        package = str(Path(dagster_declarative.__file__).resolve().parent)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, package],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._batch_files = path.with_name("batch")
        self._unanswered = self._batches = 0
        self._send("start", layout, path)

    def load(self, records: Sequence[Record], info: BatchInfo) -> None:
        path = self._batch_files.with_suffix(f".{self._batches}.pickle")
        path.write_bytes(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
        self._batches += 1
        self._collect(until=0, wait=False)
        self._collect(until=_AHEAD, wait=True)
        self._send("load_file", path, info)

    def delete_after(self, rows: int) -> None:
        self._send("delete_after", rows)
        self._collect(until=0, wait=True)

    def finish(self) -> None:
        """Wait until every batch is loaded and the staging file is closed; raise any failure."""
        self._send("close")
        self._collect(until=0, wait=True)
        self._process.wait()

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _send(self, command: str, *arguments: Any) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        try:
            pickle.dump((command, arguments), stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
        except BrokenPipeError:
            raise self._died() from None
        self._unanswered += 1

    def _collect(self, *, until: int, wait: bool) -> None:
        """Read answers until at most `until` are outstanding, or while some are ready."""
        stdout = self._process.stdout
        assert stdout is not None
        while self._unanswered > until and (wait or select.select([stdout], [], [], 0)[0]):
            try:
                failure = pickle.load(stdout)
            except EOFError:
                raise self._died() from None
            self._unanswered -= 1
            if failure is not None:
                raise failure

    def _died(self) -> WarehouseError:
        code = self._process.wait()
        return WarehouseError(f"the DuckDB loader process ended unexpectedly (exit code {code})")


def serve() -> None:
    """The loader process's main: answer on a private copy of stdout, so that anything else
    printed (a library's notice) goes to stderr instead of corrupting the answers."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, answers)


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Run commands until `close`; after a failure, skip further loads."""
    loader: StageLoader | None = None
    failed = False
    while True:
        try:
            command, arguments = pickle.load(requests)
        except EOFError:  # the writer is gone (killed, or it closed the stage early)
            return
        answer: BaseException | None = None
        try:
            if command == "start":
                loader = StageLoader(*arguments, create=False)
            elif loader is not None and not (failed and command == "load_file"):
                if command == "close":
                    loader.close()
                else:
                    getattr(loader, command)(*arguments)
        except Exception as error:  # every failure goes back to the writer
            failed, answer = True, _picklable(error)
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()
        if command == "close":
            return


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any failure to pickle means: send the text
        return WarehouseError(f"{type(error).__name__}: {error}")
    return error
