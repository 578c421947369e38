"""Loading a DuckDB write's batches into its staging file.

Records whose fields already have their columns' types (see `fits.py`; most records of most
APIs) are ingested from their JSON text by DuckDB's JSON reader, typed by the table's columns
(see `duckdb_ingest.py`); the others are converted in Python first (`RowConverter`, the
reference for what a value becomes). Should the reader refuse records that passed the check (a
timestamp on 30 February), or should JSON be unable to carry a value exactly, the whole batch is
converted instead.

`StageLoader` does the loading. A long write runs it in a loader process of its own (see
`duckdb_loader_process.py`); the writer then only writes each batch's JSON text to a file.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar

import duckdb
import orjson

from dagster_declarative.warehouse.columns import SEQUENCE_COLUMN, TableLayout
from dagster_declarative.warehouse.convert import BatchInfo, RowConverter, encode_json
from dagster_declarative.warehouse.duckdb_ingest import STAGE_TABLE, JsonInsert
from dagster_declarative.warehouse.duckdb_sql import STAGING_MEMORY, definition, quote
from dagster_declarative.warehouse.fits import FitCheck
from dagster_declarative.warehouse.spec import Record

# orjson options that make it refuse, rather than turn into text, the Python values JSON would
# not give back as they were: datetimes, dataclasses, subclasses of str, int, dict or list (it
# also refuses integers beyond 64 bits, non-string keys and invalid strings). A float NaN or
# infinity, which JSON cannot hold, still becomes null.
EXACT_JSON = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# Records per DuckDB load: at least (see `BatchGroup`), and at most while a loader process is busy.
GROUP_RECORDS, GROUP_MAX = 5_000, 20_000
# Refusals that concern the table rather than a batch: stop trying its records as sent.
_NAMES_REFUSED = (duckdb.BinderException, duckdb.ParserException)


Batch = TypeVar("Batch")


class BatchGroup(Generic[Batch]):
    """Consecutive batches of a write, gathered into one load: DuckDB's reader spends about
    5 ms on every statement whatever its size (measured: 300,000 records ingest in 0.81 s as 60
    files, 0.56 s as 15), so small batches must not each cost one, nor small partitions (a
    backfill of a year of daily partitions of a few hundred records each).

    The group loads with its first batch's details (extraction time among them) and the
    sequence numbers where later partitions start (`BatchInfo.later_partitions`); its records
    are numbered on from the first batch's first sequence number, which holds since batches of
    a write arrive in order.
    """

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.records = 0
        self.info: BatchInfo | None = None

    def add(self, batch: Batch, records: int, info: BatchInfo) -> None:
        self.batches.append(batch)
        self.records += records
        if self.info is None:
            self.info = info
            return
        later = self.info.later_partitions
        current = later[-1][1] if later else self.info.partition_key
        if info.partition_key != current:
            later = (*later, (info.first_sequence, info.partition_key))
            self.info = dataclasses.replace(self.info, later_partitions=later)

    def clear(self) -> None:
        """Forget the batches, once loaded (a failed load keeps them, to fail again)."""
        self.batches, self.records, self.info = [], 0, None


class StageLoader:
    """Appends batches to the staging table of the file at `path`."""

    def __init__(self, layout: TableLayout, path: Path, *, create: bool) -> None:
        self._connection = duckdb.connect(str(path), config=STAGING_MEMORY)
        if create:
            columns = ", ".join(definition(column) for column in layout.columns)
            self._connection.execute(
                f"CREATE TABLE {quote(STAGE_TABLE)} ({columns}, {quote(SEQUENCE_COLUMN)} BIGINT)"
            )
        self._check = FitCheck(layout)
        self._converter = RowConverter(layout, as_objects=True)
        self._converted = JsonInsert.converted(layout)
        self._as_sent = JsonInsert.as_sent(layout, self._check.extras_key)
        """None when the table's field names cannot be read as sent (see `JsonInsert.as_sent`)."""
        self._batch_file = path.with_suffix(f".{os.getpid()}.json")

    def load(self, records: Sequence[Record], info: BatchInfo, text: Path | None = None) -> None:
        """Append one batch; `text`, when given, is a file holding it as JSON."""
        first = info.first_sequence
        unfit_at: Sequence[int] = range(len(records))
        if self._as_sent is not None:
            try:
                unfit_at = self._load_fitting(self._as_sent, records, info, text)
            except TypeError:  # a value JSON would not give back as it is
                pass
            except duckdb.Error as error:  # a value the reader refuses; converting will tell
                if isinstance(error, _NAMES_REFUSED):
                    self._as_sent = None
        if unfit_at:
            rows = self._converter.convert(
                [records[at] for at in unfit_at], info, [first + at for at in unfit_at]
            )
            self._converted.run(self._connection, self._write(encode_json(rows)), info)

    def _load_fitting(
        self, insert: JsonInsert, records: Sequence[Record], info: BatchInfo, text: Path | None
    ) -> Sequence[int]:
        """Ingest the records that fit as they are; return the positions of the others."""
        batch = self._check.sort(records)
        if batch.as_is:
            if text is None:
                text = self._write(orjson.dumps(records, option=EXACT_JSON))
            insert.run(self._connection, text, info)
        elif batch.fitting:
            fitting = self._write(orjson.dumps(batch.fitting, option=EXACT_JSON))
            first = info.first_sequence
            insert.run(self._connection, fitting, info, [first + at for at in batch.fitting_at])
        return batch.unfit_at

    def delete_after(self, rows: int) -> None:
        """Forget the staged rows after the first `rows` of the write."""
        self._connection.execute(
            f"DELETE FROM {quote(STAGE_TABLE)} WHERE {quote(SEQUENCE_COLUMN)} > ?", [rows]
        )

    def close(self) -> None:
        self._connection.close()

    def _write(self, text: bytes) -> Path:
        self._batch_file.write_bytes(text)
        return self._batch_file
