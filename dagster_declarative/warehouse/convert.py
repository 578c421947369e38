"""Turning records into rows of typed column values.

A value is stored in its column when it converts without loss (the string "42" into an integer
column, 7 into a string column); otherwise the column gets NULL and the raw value goes to the
extras column, so a surprising API response never fails a load nor loses data. Timestamps are
stored in UTC; a timestamp without offset is taken as UTC.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any

import orjson
from dateutil.parser import isoparse

from dagster_declarative.warehouse.columns import ColumnType, TableLayout
from dagster_declarative.warehouse.errors import PrimaryKeyValueError
from dagster_declarative.warehouse.spec import Record

MISFIT = object()
"""Returned by a converter for a value its column type cannot hold."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _to_string(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind in (int, float):
        return str(value)
    return MISFIT


def _to_integer(value: Any) -> Any:
    kind = type(value)
    if (kind is float and value.is_integer()) or (kind is str and _INTEGER_TEXT.fullmatch(value)):
        value = int(value)
    elif kind is not int:
        return MISFIT
    return value if _INT64_MIN <= value <= _INT64_MAX else MISFIT


def _to_number(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return value
    if kind is int or (kind is str and _NUMBER_TEXT.fullmatch(value)):
        return float(value)
    return MISFIT


def _to_boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return MISFIT


def _to_timestamp(value: Any) -> Any:
    if type(value) is str:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            try:
                value = isoparse(value)
            except (ValueError, OverflowError):
                return MISFIT
    elif not isinstance(value, datetime):
        return MISFIT
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        return MISFIT


def _to_date(value: Any) -> Any:
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return MISFIT
    if type(value) is date:
        return value
    return MISFIT


def _as_is(value: Any) -> Any:
    return value


CONVERTERS: dict[ColumnType, Callable[[Any], Any]] = {
    ColumnType.STRING: _to_string,
    ColumnType.INTEGER: _to_integer,
    ColumnType.NUMBER: _to_number,
    ColumnType.BOOLEAN: _to_boolean,
    ColumnType.TIMESTAMP: _to_timestamp,
    ColumnType.DATE: _to_date,
    ColumnType.JSON: _as_is,
}


# Python types a column takes unchanged (integers still go through the 64-bit range check).
_ALREADY_FITS: dict[ColumnType, type] = {
    ColumnType.STRING: str,
    ColumnType.NUMBER: float,
    ColumnType.BOOLEAN: bool,
}


def _json_fallback(value: Any) -> Any:
    return str(value)


def encode_json(value: Any) -> bytes:
    """JSON text of `value`; integers beyond 64 bits, which orjson refuses, take the slow path."""
    try:
        return orjson.dumps(value, default=_json_fallback)
    except TypeError:
        return json.dumps(value, default=_json_fallback, separators=(",", ":")).encode()


class RowConverter:
    """Converts records into rows for one write of one table.

    A row holds, in `layout.columns` order, the data column values (JSON columns keep the raw
    Python value; each destination encodes it its own way), the extras dict (or None), the
    extraction time, the partition key and the run id, and finally the record's sequence number.
    """

    def __init__(self, layout: TableLayout, *, partition_key: str | None, run_id: str) -> None:
        data = layout.data_columns
        self._fields = [
            (column.field, CONVERTERS[column.type], _ALREADY_FITS.get(column.type))
            for column in data
        ]
        self._known_fields = frozenset(column.field for column in data)
        self._key_positions = [
            (position, column.field)
            for position, column in enumerate(data)
            if column.name in layout.key
        ]
        self._table = layout.qualified_name
        self.partition_key = partition_key
        self._run_id = run_id
        self.rows_converted = 0

    def convert_batch(self, batch: Sequence[Record]) -> list[list[Any]]:
        extracted_at = datetime.now(timezone.utc)
        return [self._convert(record, extracted_at) for record in batch]

    def _convert(self, record: Record, extracted_at: datetime) -> list[Any]:
        row: list[Any] = []
        extras: dict[str, Any] | None = None
        for field, convert, fits in self._fields:
            raw = record.get(field)
            if raw is None or type(raw) is fits:  # the common case: no conversion needed
                row.append(raw)
                continue
            value = convert(raw)
            if value is MISFIT:
                value = None
                extras = extras if extras is not None else {}
                extras[field] = raw
            row.append(value)
        unknown = record.keys() - self._known_fields
        if unknown:
            extras = extras if extras is not None else {}
            for field in record:  # record order, for a stable extras column
                if field in unknown:
                    extras[field] = record[field]
        for position, field in self._key_positions:
            if row[position] is None:
                got = reprlib.repr(record.get(field))
                raise PrimaryKeyValueError(
                    f"Record {self.rows_converted + 1} written to {self._table} has no usable "
                    f"value for primary-key field {field!r} (got {got}); every record must "
                    "carry its key so that re-runs replace it instead of adding a copy."
                )
        self.rows_converted += 1
        row += (extras, extracted_at, self.partition_key, self._run_id, self.rows_converted)
        return row
