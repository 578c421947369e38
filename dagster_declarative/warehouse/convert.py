"""Turning records into rows of typed column values.

A value is stored in its column when it converts without loss (the string "42" into an integer
column, 7 into a string column); otherwise the column gets NULL and the raw value goes to the
extras column, so a surprising API response never fails a load nor loses data. Timestamps are
stored in UTC; a timestamp without offset is taken as UTC.

Conversion runs once per record and field, so it is the writer's hot loop: `RowConverter` compiles
one straight-line function per table (see `_compile`), which checks each field's type inline and
calls a converter only for a value that does not already fit.
"""

from __future__ import annotations

import dataclasses
import json
import re
import reprlib
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timezone
from itertools import count
from typing import Any

import orjson
from dateutil.parser import isoparse

from dagster_declarative.warehouse.columns import (
    EXTRAS_COLUMN,
    SEQUENCE_COLUMN,
    ColumnType,
    TableLayout,
)
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


def _json_fallback(value: Any) -> Any:
    return str(value)


def encode_json(value: Any) -> bytes:
    """JSON text of `value`; integers beyond 64 bits, which orjson refuses, take the slow path."""
    try:
        return orjson.dumps(value, default=_json_fallback)
    except TypeError:
        return json.dumps(value, default=_json_fallback, separators=(",", ":")).encode()


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    """What is the same for every row of one batch, and where the batch starts in the write."""

    partition_key: str | None
    run_id: str
    first_sequence: int
    """Sequence number of the batch's first record (they number the write's records from 1)."""
    extracted_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(timezone.utc))
    later_partitions: tuple[tuple[int, str | None], ...] = ()
    """When one load gathers consecutive batches of several partitions (DuckDB's stage): the
    first sequence number and the key of each partition after `partition_key`, in order."""


class RowConverter:
    """Converts records into rows for one table.

    A list row holds, in `layout.columns` order, the data column values (JSON columns keep the raw
    Python value; each destination encodes it its own way), the extras dict (or None), the
    extraction time, the partition key and the run id, and finally the record's sequence number.
    `as_objects=True` makes dicts of the data columns, the extras column and the sequence number
    instead, for a stage that loads JSON objects and adds the per-batch columns itself.
    """

    def __init__(self, layout: TableLayout, *, as_objects: bool = False) -> None:
        self._convert = _compile(layout, as_objects)
        self._as_objects = as_objects

    def convert(
        self, records: Sequence[Record], info: BatchInfo, sequences: Iterable[int] | None = None
    ) -> list[Any]:
        """Rows for `records`, numbered from the batch's first sequence number or by
        `sequences` (a stage that converts only some records of a batch)."""
        convert = self._convert
        # count() has no end: `strict` would fail; `sequences`, when given, is as long as `records`.
        numbers = count(info.first_sequence) if sequences is None else sequences
        if self._as_objects:
            return [convert(record, seq) for seq, record in zip(numbers, records, strict=False)]
        extracted_at, partition_key, run_id = info.extracted_at, info.partition_key, info.run_id
        return [
            convert(record, seq, extracted_at, partition_key, run_id)
            for seq, record in zip(numbers, records, strict=False)
        ]


# The inline test that a value already fits its column, per column type (`{v}` is the variable).
# Dates always go through their converter; timestamps have `_TIMESTAMP_INLINE`.
FITS_INLINE = {
    ColumnType.STRING: "type({v}) is str",
    ColumnType.INTEGER: f"type({{v}}) is int and {_INT64_MIN} <= {{v}} <= {_INT64_MAX}",
    ColumnType.NUMBER: "type({v}) is float",
    ColumnType.BOOLEAN: "type({v}) is bool",
}
# Most API timestamps are ISO 8601 in UTC, which `datetime.fromisoformat` parses in C and returns
# with the `timezone.utc` singleton; anything else takes `_to_timestamp` through `{call}`.
_TIMESTAMP_INLINE = """\
    if {v} is not None:
        try:
            parsed = fromisoformat({v}) if type({v}) is str else None
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is UTC:
            {v} = parsed
        else:
            {v}, extras = {call}"""


def _compile(layout: TableLayout, as_objects: bool) -> Callable[..., Any]:
    """Build the conversion function for `layout`, as Python source compiled once per write.

    The generated function does what a loop over the columns would, without the loop: per field
    one dict lookup and one inline type test in the common case. Field and column names enter
    the source only as `repr()` string literals, so no name from a schema can inject code.
    """
    data = layout.data_columns
    lines = ["def convert(record, seq, extracted_at=None, partition_key=None, run_id=None):"]
    lines += ["    get = record.get", "    extras = None"]
    for position, column in enumerate(data):
        v = f"v{position}"
        lines.append(f"    {v} = get({column.field!r})")
        if column.type is ColumnType.JSON:
            continue
        call = f"convert_field({column.field!r}, CONVERT[{position}], {v}, extras)"
        if column.type is ColumnType.TIMESTAMP:
            lines.append(_TIMESTAMP_INLINE.format(v=v, call=call))
            continue
        fits = FITS_INLINE.get(column.type)
        test = f"{v} is not None" + (f" and not ({fits.format(v=v)})" if fits else "")
        lines += [f"    if {test}:", f"        {v}, extras = {call}"]
    for position, column in enumerate(data):
        if column.name in layout.key:
            lines += [
                f"    if v{position} is None:",
                f"        missing_key({column.field!r}, record, seq)",
            ]
    lines += [
        "    if not record.keys() <= KNOWN:",
        "        extras = add_unknown(KNOWN, record, extras)",
    ]
    values = [f"v{position}" for position in range(len(data))]
    if as_objects:
        pairs = [f"{column.name!r}: {value}" for column, value in zip(data, values, strict=True)]
        pairs += [f"{EXTRAS_COLUMN!r}: extras", f"{SEQUENCE_COLUMN!r}: seq"]
        lines.append("    return {" + ", ".join(pairs) + "}")
    else:
        values += ["extras", "extracted_at", "partition_key", "run_id", "seq"]
        lines.append("    return [" + ", ".join(values) + "]")
    namespace: dict[str, Any] = {
        "CONVERT": [CONVERTERS[column.type] for column in data],
        "KNOWN": frozenset(column.field for column in data),
        "convert_field": _convert_field,
        "fromisoformat": datetime.fromisoformat,
        "UTC": timezone.utc,
        "add_unknown": _add_unknown,
        "missing_key": _missing_key(layout.qualified_name),
    }
    exec(compile("\n".join(lines), f"<converter for {layout.qualified_name}>", "exec"), namespace)
    return namespace["convert"]


def _convert_field(
    field: str, convert: Callable[[Any], Any], raw: Any, extras: dict[str, Any] | None
) -> tuple[Any, dict[str, Any] | None]:
    """(column value, extras): a value that does not fit is kept in the extras instead."""
    value = convert(raw)
    if value is not MISFIT:
        return value, extras
    extras = extras if extras is not None else {}
    extras[field] = raw
    return None, extras


def _add_unknown(
    known: frozenset[str], record: Record, extras: dict[str, Any] | None
) -> dict[str, Any]:
    """Add the fields the schema does not declare, in record order (a stable extras column)."""
    extras = extras if extras is not None else {}
    for field, value in record.items():
        if field not in known:
            extras[field] = value
    return extras


def _missing_key(table: str) -> Callable[[str, Record, int], None]:
    def missing_key(field: str, record: Record, seq: int) -> None:
        got = reprlib.repr(record.get(field))
        raise PrimaryKeyValueError(
            f"Record {seq} written to {table} has no usable value for primary-key field "
            f"{field!r} (got {got}); every record must carry its key so that re-runs replace "
            "it instead of adding a copy."
        )

    return missing_key
