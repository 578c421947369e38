"""The INSERT statements that ingest one JSON batch file into a DuckDB write's staging table.

Two shapes of file reach the staging table through DuckDB's JSON reader, each read with the
table's column types:

- converted rows (`RowConverter(as_objects=True)`): keyed by column name, carrying their extras
  and sequence number;
- records as the API sent them (see `fits.py`): keyed by field name, extras under the check's
  extras key, numbered in file order (DuckDB keeps a JSON file's row order for a window with an
  empty OVER clause), or by a list of sequence numbers when the file holds a subset of a batch.
  Timestamps and dates are read as text and cast only when spelled as `fits.py` allows; any
  other spelling fails the INSERT (`error()`), so that the batch is converted in Python instead.

The extraction time, partition key and run id are the same for a whole batch: they are bound as
parameters instead of being written into every row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from dagster_declarative.warehouse.columns import (
    EXTRACTED_AT_COLUMN,
    EXTRAS_COLUMN,
    PARTITION_COLUMN,
    RUN_ID_COLUMN,
    SEQUENCE_COLUMN,
    ColumnType,
    TableLayout,
)
from dagster_declarative.warehouse.convert import BatchInfo
from dagster_declarative.warehouse.duckdb_sql import SQL_TYPES, literal, quote
from dagster_declarative.warehouse.fits import DATE_PATTERN, TIMESTAMP_PATTERN

STAGE_TABLE = "_dd_staging"
_PER_BATCH_COLUMNS = (PARTITION_COLUMN, EXTRACTED_AT_COLUMN, RUN_ID_COLUMN)
_NUMBERED = "row_number() OVER ()"
_SPELLINGS = {ColumnType.TIMESTAMP: TIMESTAMP_PATTERN, ColumnType.DATE: DATE_PATTERN}


class JsonInsert:
    """The INSERT of one JSON file into the staging table.

    `values` maps staging column names to the SQL expressions of their values (over the columns
    the file is read into), `types` each JSON key read to its DuckDB type. Columns without a
    value are NULL; without a value for the sequence column, rows are numbered in file order.
    """

    def __init__(
        self, layout: TableLayout, values: Mapping[str, str], types: Mapping[str, str]
    ) -> None:
        # None stands for a value the batch sets (see `_PER_BATCH_COLUMNS`).
        self._columns = [
            None if column.name in _PER_BATCH_COLUMNS else values.get(column.name, "NULL")
            for column in layout.columns
        ]
        self._names = [column.name for column in layout.columns]
        self._sequence = values.get(SEQUENCE_COLUMN)
        """The sequence column's expression, or None when rows are numbered in file order."""
        alias, taken = SEQUENCE_COLUMN, {key.lower() for key in types}
        while alias in taken:
            alias += "_"
        self._alias = quote(alias)
        read = ", ".join(f"{literal(key)}: {literal(kind)}" for key, kind in types.items())
        self._read = f", format = 'array', columns = {{{read}}})"

    @classmethod
    def converted(cls, layout: TableLayout) -> JsonInsert:
        """For rows made by `RowConverter(layout, as_objects=True)`."""
        names = [
            *(column.name for column in layout.columns if column.name not in _PER_BATCH_COLUMNS),
            SEQUENCE_COLUMN,
        ]
        types = {column.name: SQL_TYPES[column.type] for column in layout.columns}
        types[SEQUENCE_COLUMN] = "BIGINT"
        return cls(
            layout, {name: quote(name) for name in names}, {name: types[name] for name in names}
        )

    @classmethod
    def as_sent(cls, layout: TableLayout, extras_key: str) -> JsonInsert | None:
        """For records as the API sent them, undeclared fields under `extras_key`; None when
        the reader cannot take the field names (empty, or equal but for case: its columns)."""
        names = [str(column.field) for column in layout.data_columns] + [extras_key]
        if "" in names or len({name.lower() for name in names}) < len(names):
            return None
        values, types = {EXTRAS_COLUMN: quote(extras_key)}, {}
        for column in layout.data_columns:
            field = str(column.field)
            pattern = _SPELLINGS.get(column.type)
            types[field] = SQL_TYPES[column.type] if pattern is None else "VARCHAR"
            values[column.name] = quote(field) if pattern is None else _cast(field, column.type)
        types[extras_key] = SQL_TYPES[ColumnType.JSON]
        return cls(layout, values, types)

    def run(
        self,
        connection: duckdb.DuckDBPyConnection,
        path: Path,
        info: BatchInfo,
        sequences: Sequence[int] | None = None,
    ) -> None:
        """Ingest `path`. Rows without a sequence key are numbered from the batch's first
        sequence number, or take `sequences` in file order. A file of several partitions'
        records (`info.later_partitions`) gives each row its partition by its sequence number.
        """
        source = f"read_json({literal(str(path))}{self._read}"
        inner: list[object] = []
        sequence = self._sequence
        if sequence is None:
            numbered = (
                f"? + {_NUMBERED}" if sequences is None else f"CAST(? AS BIGINT[])[{_NUMBERED}]"
            )
            inner.append(info.first_sequence - 1 if sequences is None else list(sequences))
            source = f"(SELECT *, {numbered} AS {self._alias} FROM {source})"
            sequence = self._alias
        batch_values = {
            PARTITION_COLUMN: info.partition_key,
            EXTRACTED_AT_COLUMN: info.extracted_at,
            RUN_ID_COLUMN: info.run_id,
        }
        selected, parameters = [], []
        for name, expression in zip(self._names, self._columns, strict=True):
            if expression is not None:
                selected.append(expression)
            elif name == PARTITION_COLUMN and info.later_partitions:
                selected.append(_partition_by_sequence(sequence, info))
            else:
                selected.append("?")
                parameters.append(batch_values[name])
        selected.append(sequence)
        sql = f"INSERT INTO {quote(STAGE_TABLE)} SELECT {', '.join(selected)} FROM {source}"
        connection.execute(sql, parameters + inner)


def _partition_by_sequence(sequence: str, info: BatchInfo) -> str:
    """The partition key of a row of a file holding consecutive partitions' records."""
    branches = []
    key = info.partition_key
    for first, later_key in info.later_partitions:
        branches.append(f"WHEN {sequence} < {int(first)} THEN {_text(key)}")
        key = later_key
    return f"CASE {' '.join(branches)} ELSE {_text(key)} END"


def _text(value: str | None) -> str:
    return "NULL" if value is None else literal(value)


def _cast(field: str, column_type: ColumnType) -> str:
    """The text of `field` cast to `column_type`, or an error when it is spelled otherwise."""
    text = quote(field)
    spelled = f"regexp_full_match({text}, {literal(_SPELLINGS[column_type])})"
    return (
        f"CASE WHEN {text} IS NULL THEN NULL"
        f" WHEN {spelled} AND NOT starts_with({text}, '0000')"
        f" THEN CAST({text} AS {SQL_TYPES[column_type]})"
        f" ELSE error({literal('a ' + column_type.value + ' spelled otherwise')}) END"
    )
