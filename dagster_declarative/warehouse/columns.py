"""Columns of a stream's table, derived from the stream's JSON schema.

Each destination maps the logical `ColumnType` to its own SQL type. Besides one column per schema
property the table has four system columns:

- `_dd_extras`: JSON object of whatever a record carried that has no typed column: fields missing
  from the schema, and values that do not fit their column's type (the column then holds NULL).
  Nothing a record carries is dropped.
- `_dd_extracted_at`: when the batch holding the record reached the writer (UTC).
- `_dd_partition`: the partition key the record was written for (NULL for unpartitioned assets).
- `_dd_run_id`: the run that wrote the record.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster_declarative.warehouse.naming import assign_column_names
from dagster_declarative.warehouse.spec import TableSpec

EXTRAS_COLUMN = "_dd_extras"
EXTRACTED_AT_COLUMN = "_dd_extracted_at"
PARTITION_COLUMN = "_dd_partition"
RUN_ID_COLUMN = "_dd_run_id"
SEQUENCE_COLUMN = "_dd_seq"
"""Staging-only column numbering records in arrival order, so the last record of a key wins."""


class ColumnType(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    JSON = "json"


@dataclass(frozen=True)
class Column:
    """A table column; `field` is the record field it holds (None for system columns)."""

    name: str
    type: ColumnType
    field: str | None = None


SYSTEM_COLUMNS = (
    Column(EXTRAS_COLUMN, ColumnType.JSON),
    Column(EXTRACTED_AT_COLUMN, ColumnType.TIMESTAMP),
    Column(PARTITION_COLUMN, ColumnType.STRING),
    Column(RUN_ID_COLUMN, ColumnType.STRING),
)
_RESERVED_NAMES = frozenset(column.name for column in SYSTEM_COLUMNS) | {SEQUENCE_COLUMN}


@dataclass(frozen=True)
class TableLayout:
    """A table as one write sees it: where it lives and the columns the write fills.

    `columns` are the data columns (in schema order) followed by the system columns; `described`
    lists every column the table has, with the database's type names, for the metadata.
    """

    schema: str | None
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    described: tuple[tuple[str, str], ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def data_columns(self) -> tuple[Column, ...]:
        return tuple(column for column in self.columns if column.field is not None)


def _declared_types(prop: Any) -> tuple[set[str], Mapping[str, Any]]:
    """The JSON types a property allows, looking into anyOf/oneOf branches."""
    if not isinstance(prop, Mapping):
        return set(), {}
    declared = prop.get("type")
    if isinstance(declared, str):
        return {declared}, prop
    if isinstance(declared, list):
        return {t for t in declared if isinstance(t, str)}, prop
    types: set[str] = set()
    for branch in [*prop.get("anyOf", ()), *prop.get("oneOf", ())]:
        branch_types, _ = _declared_types(branch)
        types |= branch_types
    return types, prop


def column_type(prop: Any) -> ColumnType:
    """The column type for one property schema; anything ambiguous or nested becomes JSON."""
    types, schema = _declared_types(prop)
    types.discard("null")
    if types == {"string"}:
        fmt = schema.get("format")
        if fmt == "date-time":
            return ColumnType.TIMESTAMP
        if fmt == "date":
            return ColumnType.DATE
        return ColumnType.STRING
    if types == {"integer"} or (types == {"number"} and schema.get("airbyte_type") == "integer"):
        return ColumnType.INTEGER
    if types in ({"number"}, {"integer", "number"}):
        return ColumnType.NUMBER
    if types == {"boolean"}:
        return ColumnType.BOOLEAN
    if types and "string" in types and not types & {"object", "array"}:
        return ColumnType.STRING
    return ColumnType.JSON


def plan_columns(table: TableSpec) -> tuple[list[Column], tuple[str, ...]]:
    """The columns the schema asks for, and the names of the primary-key columns.

    A primary-key field the schema does not declare still gets a (string) column, since rows are
    matched on it.
    """
    properties = table.json_schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    fields = [*properties, *(field for field in table.primary_key if field not in properties)]
    names = assign_column_names(fields, _RESERVED_NAMES)
    data = [
        Column(names[field], column_type(properties[field]), field)
        if field in properties
        else Column(names[field], ColumnType.STRING, field)
        for field in fields
    ]
    return [*data, *SYSTEM_COLUMNS], tuple(names[field] for field in table.primary_key)


def reconcile_columns(
    planned: Sequence[Column], existing: Mapping[str, Sequence[ColumnType]]
) -> tuple[list[Column], list[Column]]:
    """Fit the planned columns to an existing table: (columns to write, columns to add).

    `existing` maps each column of the table to the logical types its SQL type can hold, the
    natural one first. A column whose SQL type cannot hold the planned type keeps the table's type:
    values are converted to it and those that do not fit land in the extras column, so a schema
    change never breaks a load. A column of a type this package does not write (someone altered
    the table) is left alone, and its field goes to the extras column.
    """
    columns, missing = [], []
    for column in planned:
        holds = existing.get(column.name)
        if holds is None:
            missing.append(column)
            columns.append(column)
        elif column.type in holds:
            columns.append(column)
        elif holds:
            columns.append(Column(column.name, holds[0], column.field))
    return columns, missing
