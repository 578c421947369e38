"""The write algorithm every destination shares.

A write runs in three steps, so that the database is locked only briefly and memory holds one
batch at a time, however long the stream:

1. prepare the table (create schema and table, add the columns new schema fields ask for) in a
   short transaction of its own, and learn the column types the table really has;
2. stage: convert each batch as it arrives and append it to a staging area with the database's
   bulk path;
3. merge: in one transaction, replace the affected rows by the staged ones (see `merge.py`), count
   the table, call `before_commit`, commit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from dagster_declarative.warehouse.collector import paced_for_batches
from dagster_declarative.warehouse.columns import TableLayout
from dagster_declarative.warehouse.convert import BatchInfo
from dagster_declarative.warehouse.errors import PartialWriteError
from dagster_declarative.warehouse.merge import check_mode
from dagster_declarative.warehouse.spec import (
    BeforeCommit,
    Record,
    TableSpec,
    WriteMode,
    WriteResult,
)


class Stage(Protocol):
    """Where one write's rows wait until they are merged into the table."""

    def append(self, records: Sequence[Record], info: BatchInfo) -> None:
        """Convert a batch of records (see `RowConverter`) and add the rows to the staging area.

        A stage may convert and load in the background; a failure there is raised by a later
        `append`, or by `merge`, which then writes nothing.
        """
        ...

    def rewind(self, rows: int) -> None:
        """Forget every staged row after the first `rows` (a part that failed midway)."""
        ...

    def merge(
        self,
        mode: WriteMode,
        partition_keys: Sequence[str | None],
        before_commit: BeforeCommit | None,
    ) -> int:
        """Move the staged rows into the table in one transaction; return its row count."""
        ...


class BaseDestination(ABC):
    """Runs the prepare, stage and merge steps; subclasses supply the database-specific parts."""

    def write(
        self,
        table: TableSpec,
        batches: Iterable[Sequence[Record]],
        *,
        mode: WriteMode,
        partition_key: str | None,
        run_id: str,
        before_commit: BeforeCommit | None = None,
    ) -> WriteResult:
        return self.write_partitions(
            table, [(partition_key, batches)], mode=mode, run_id=run_id, before_commit=before_commit
        )

    def write_partitions(
        self,
        table: TableSpec,
        parts: Iterable[tuple[str | None, Iterable[Sequence[Record]]]],
        *,
        mode: WriteMode,
        run_id: str,
        before_commit: BeforeCommit | None = None,
    ) -> WriteResult:
        check_mode(mode, table)
        layout = self._prepare_table(table)
        rows_by_partition: dict[str | None, int] = {}
        staged = 0
        with paced_for_batches(), self._open_stage(layout) as stage:
            failure: Exception | None = None
            for partition_key, batches in parts:
                before = staged
                try:
                    for batch in batches:
                        if batch:
                            stage.append(batch, BatchInfo(partition_key, run_id, staged + 1))
                            staged += len(batch)
                except Exception as error:  # the parts before it are still written
                    stage.rewind(before)
                    staged = before
                    failure = error
                    break
                rows_by_partition[partition_key] = (
                    rows_by_partition.get(partition_key, 0) + staged - before
                )
            if failure is not None and not rows_by_partition:
                raise failure
            row_count = stage.merge(mode, list(rows_by_partition), before_commit)
        result = WriteResult(
            table_name=layout.qualified_name,
            rows_written=staged,
            row_count=row_count,
            columns=list(layout.described),
            rows_by_partition=rows_by_partition,
        )
        if failure is not None:
            raise PartialWriteError(result, failure) from failure
        return result

    @abstractmethod
    def _prepare_table(self, table: TableSpec) -> TableLayout:
        """Create or evolve the table for `table` and describe it."""

    @abstractmethod
    def _open_stage(self, layout: TableLayout) -> AbstractContextManager[Stage]:
        """A staging area for one write, cleaned up when the context exits."""
