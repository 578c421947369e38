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
        selected = []
        self._parameters = []
        for column in layout.columns:
            if column.name in _PER_BATCH_COLUMNS:
                selected.append("?")
                self._parameters.append(column.name)
            else:
                selected.append(values.get(column.name, "NULL"))
        self._numbered = SEQUENCE_COLUMN not in values
        if not self._numbered:
            selected.append(values[SEQUENCE_COLUMN])
        read = ", ".join(f"{literal(key)}: {literal(kind)}" for key, kind in types.items())
        # The sequence expression, when rows are numbered, ends the select list (see `run`).
        self._head = f"INSERT INTO {quote(STAGE_TABLE)} SELECT {', '.join(selected)}"
        self._tail = f", format = 'array', columns = {{{read}}})"

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
        sequence number, or take `sequences` in file order."""
        values = {
            PARTITION_COLUMN: info.partition_key,
            EXTRACTED_AT_COLUMN: info.extracted_at,
            RUN_ID_COLUMN: info.run_id,
        }
        parameters: list[object] = [values[name] for name in self._parameters]
        sql = self._head
        if self._numbered and sequences is None:
            sql += f", ? + {_NUMBERED}"
            parameters.append(info.first_sequence - 1)
        elif self._numbered:
            sql += f", CAST(? AS BIGINT[])[{_NUMBERED}]"
            parameters.append(list(sequences))
        connection.execute(sql + " FROM read_json(" + literal(str(path)) + self._tail, parameters)


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
