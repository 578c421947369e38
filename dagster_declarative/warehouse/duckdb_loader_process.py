"""A DuckDB write's `StageLoader` in a process of its own, so that loading uses the second core.

Measured with DuckDB 2.0, neither Python code nor a DuckDB query on a second thread runs beside
the reading thread (they take turns on the interpreter lock), but a second process does.

Does the process earn its lines? Measured 2026-12-07 (`python -m bench`, 300,000 records in
batches of 100, 5 alternating rounds, 2 shared and busy vCPUs; medians, range by round): loading
in the reading process (`background_after` past the write's size) took 2.70x (1.90-2.83x),
2.48x (1.41-3.11x) and 3.33x (1.67-4.71x) the read alone in three runs, its CPU time 1.97x to
2.14x the read's; so on one core it cannot come within the 1.3x target however quiet the
machine. Side by side it took 1.43x (1.15-1.65x) the time of loading here, slower in every
round. With this process the same runs gave 1.34x, 2.20x and 1.73x the read (busy minutes), and
1.15-1.28x on a quieter machine (bench/README.md). The loading work is about as large as the
read itself: the second core is the only place it fits.

The writer splits each batch (`split_batch`: a fit check and one `orjson.dumps`, about 0.6 µs a
record) and hands the parts over as files, so the loader never parses the records that fit:
DuckDB's reader ingests their file as it is. Records to convert travel as JSON too, or pickled
when JSON would not give back their values as they are (see `EXACT_JSON`).

The loader process runs `serve` (see `_PROGRAM`): it reads (command, arguments) messages from
stdin and answers each on stdout with None or the exception it raised.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from dagster_declarative.warehouse.collector import paced_for_batches
from dagster_declarative.warehouse.columns import TableLayout
from dagster_declarative.warehouse.convert import BatchInfo
from dagster_declarative.warehouse.duckdb_loader import (
    EXACT_JSON,
    GROUP_MAX,
    GROUP_RECORDS,
    BatchGroup,
    StageLoader,
)
from dagster_declarative.warehouse.errors import WarehouseError
from dagster_declarative.warehouse.spec import Record

# The loader process's program. The directory holding `dagster_declarative` comes first on its
# path (argv[1]), so it runs the writer's copy of the package, installed or not; the package
# __init__ files import nothing until asked (no Dagster, no SQLAlchemy).
_PROGRAM = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from dagster_declarative.warehouse.duckdb_loader_process import serve; serve()"
)
# Batches handed to the loader process that it has not finished: enough to ride out a slow
# batch, few enough that the files waiting on disk stay small.
_AHEAD = 16
# The loader yields the CPU to the reading process and the API it talks to. Measured on two
# vCPUs: a busy process at normal priority made a 300,000-record read 1.8x slower (the reader
# waits for every response, and the API then waits for a core); at niceness 10, not measurably.
_NICENESS = 10
_PARENT_CHECK_SECONDS = 0.5


class LoaderProcess:
    """A `StageLoader` in a process of its own, fed through its stdin.

    Batches are handed over as files beside the staging file (a pipe would make the writer wait
    for the loader at every batch) and commands are sent without waiting for their answers; at
    most `_AHEAD` files wait for the loader. Answers are collected as they arrive, and the
    first failure is raised by the next call (`finish` raises it at the latest).

    Batches are grouped (`BatchGroup`) into files of at least `GROUP_RECORDS` records, and of
    up to `GROUP_MAX` while the loader is busy, so that a loader that falls behind catches up.
    """

    def __init__(self, layout: TableLayout, path: Path, *, create: bool = False) -> None:
        """``create``: the process creates the staging file (no batch was loaded here first)."""
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PROGRAM, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._batch_files = path.with_name("batch")
        self._unanswered = self._files = 0
        self._group: BatchGroup[bytes] = BatchGroup()
        self._send("start", layout, path, create)

    def load(self, records: Sequence[Record], info: BatchInfo) -> None:
        self._collect(until=0, wait=False)
        try:
            text = orjson.dumps(records, option=EXACT_JSON)
        except TypeError:  # a value JSON would not give back as it is
            self._hand_over_group()
            self._hand_over(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL), info)
            return
        self._group.add(text, len(records), info)
        grouped = self._group.records
        if grouped >= GROUP_MAX or (grouped >= GROUP_RECORDS and self._unanswered == 0):
            self._hand_over_group()

    def delete_after(self, rows: int) -> None:
        self._hand_over_group()
        self._send("delete_after", rows)
        self._collect(until=0, wait=True)

    def finish(self) -> None:
        """Wait until every batch is loaded and the staging file is closed; raise any failure.

        The process may still be exiting; `kill` ends it."""
        self._hand_over_group()
        self._send("close")
        self._collect(until=0, wait=True)

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _hand_over_group(self) -> None:
        """Hand the grouped batches' JSON texts over as one JSON array."""
        group = self._group
        if group.info is not None:
            texts = [text[1:-1] for text in group.batches]
            self._hand_over(b"[" + b",".join(texts) + b"]", group.info, "json")
            group.clear()

    def _hand_over(self, payload: bytes, info: BatchInfo, kind: str = "pickle") -> None:
        path = self._batch_files.with_suffix(f".{self._files}.{kind}")
        path.write_bytes(payload)
        self._files += 1
        self._collect(until=_AHEAD, wait=True)
        self._send("load_file", path, info)

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
    _end_with_parent()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if hasattr(os, "nice"):
        os.nice(_NICENESS)
    with paced_for_batches():  # the loader holds a batch at a time, as the writer does
        _serve(sys.stdin.buffer, answers)


def _end_with_parent(interval: float = _PARENT_CHECK_SECONDS) -> None:
    """Exit as soon as the writer is gone, even in the middle of a load.

    A writer killed with SIGKILL closes the pipes, but a loader busy with a long DuckDB statement
    would only notice after it; the staging file it fills is useless by then. A killed parent
    makes the system re-parent this process, which is what the watchdog looks for.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="loader-parent-watchdog", daemon=True).start()


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
                layout, path, create = arguments
                loader = StageLoader(layout, path, create=create)
            elif loader is not None and not (failed and command == "load_file"):
                if command == "close":
                    loader.close()
                elif command == "load_file":
                    _load_file(loader, *arguments)
                else:
                    getattr(loader, command)(*arguments)
        except Exception as error:  # every failure goes back to the writer
            failed, answer = True, _picklable(error)
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()
        if command == "close":
            return


def _load_file(loader: StageLoader, path: Path, info: BatchInfo) -> None:
    """Load a batch the writer handed over as a JSON or pickle file, then delete the file."""
    try:
        if path.suffix == ".json":
            loader.load(orjson.loads(path.read_bytes()), info, text=path)
        else:
            loader.load(pickle.loads(path.read_bytes()), info)
    finally:
        path.unlink()


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # any failure to pickle means: send the text
        return WarehouseError(f"{type(error).__name__}: {error}")
    return error
