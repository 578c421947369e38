"""Telling apart the records a database can load exactly as JSON holds them.

Most API records already carry every field in its column's type: a string for a string column,
a 64-bit integer for an integer column, a boolean for a boolean column. For those, `RowConverter`
would change nothing, and a database's JSON reader can load the record's JSON text directly,
typed by the table's columns, at a fraction of the cost of converting in Python. `FitCheck` sorts
a batch: records that fit as they are; records that fit once their undeclared fields are moved
under one extras key; and the rest, which go through `RowConverter`, the reference for what a
value becomes.

"Fits" is deliberately narrow: a number in a string column, a string holding a number in an
integer column, a float in an integer column all take the converter. Timestamp and date columns
only need a string here; the reader checks its spelling (`TIMESTAMP_PATTERN`, `DATE_PATTERN`:
the forms that have one meaning for both the reader and Python) and refuses the batch otherwise,
which then takes the converter whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from dagster_declarative.warehouse.columns import ColumnType, TableLayout
from dagster_declarative.warehouse.convert import FITS_INLINE
from dagster_declarative.warehouse.spec import Record

# The spellings a reader may cast itself: ISO 8601 in UTC, to the second or with 3 or 6 fraction
# digits, and plain dates. The reader must also refuse year 0, which Python has not.
TIMESTAMP_PATTERN = r"\d{4}-\d\d-\d\dT([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3}|\.\d{6})?(Z|\+00:00)"
DATE_PATTERN = r"\d{4}-\d\d-\d\d"
# The inline test that a present value fits as JSON holds it, per column type (`{v}` is the
# variable). A number column takes integers too: the database widens them as Python would.
_FITS_AS_JSON = {
    **FITS_INLINE,
    ColumnType.NUMBER: "type({v}) is float or type({v}) is int",
    ColumnType.TIMESTAMP: "type({v}) is str",
    ColumnType.DATE: "type({v}) is str",
}


@dataclasses.dataclass(frozen=True)
class Sorted:
    """One batch, sorted by `FitCheck.sort`."""

    as_is: bool
    """Every record fits as it is: the batch's own JSON text can be loaded."""
    fitting: list[Record]
    """When not `as_is`: the records that fit, undeclared fields moved under the extras key."""
    fitting_at: list[int]
    """Their positions in the batch."""
    unfit_at: list[int]
    """Positions of the records that need `RowConverter`."""


class FitCheck:
    """Sorts batches for one table (see the module docstring).

    `extras_key` is the key that carries a fitting record's undeclared fields, as a JSON object
    in their record order (what `RowConverter` would put in the extras column); it is chosen
    so that no declared field has that name, whatever the case.
    """

    def __init__(self, layout: TableLayout) -> None:
        known = frozenset(column.field for column in layout.data_columns)
        extras_key, taken = "_dd_extras", {field.lower() for field in known}
        while extras_key in taken:  # (some databases' column names ignore case)
            extras_key += "_"
        self.extras_key = extras_key
        self._known = known
        self._positions = _compile(layout, known)

    def sort(self, records: Sequence[Record]) -> Sorted:
        unfit_at, undeclared_at = self._positions(records)
        if not unfit_at and not undeclared_at:
            return Sorted(True, [], [], [])
        fitting, fitting_at = [], []
        skip, undeclared = set(unfit_at), set(undeclared_at)
        for position, record in enumerate(records):
            if position in skip:
                continue
            if position in undeclared:
                record = self._moved(record)
            fitting.append(record)
            fitting_at.append(position)
        return Sorted(False, fitting, fitting_at, unfit_at)

    def _moved(self, record: Record) -> Record:
        """`record` with its undeclared fields under the extras key, in record order."""
        known = self._known
        moved = {field: value for field, value in record.items() if field in known}
        moved[self.extras_key] = {
            field: value for field, value in record.items() if field not in known
        }
        return moved


def _compile(
    layout: TableLayout, known: frozenset[str]
) -> Callable[[Sequence[Record]], tuple[list[int], list[int]]]:
    """The batch test, as straight-line Python compiled once per write, as `RowConverter` is
    (names enter the source only as `repr()` literals): it returns the positions of the records
    that do not fit, and of those that fit but carry undeclared fields."""
    lines = [
        "def positions(records):",
        "    unfit, undeclared = [], []",
        "    for position, record in enumerate(records):",
        "        get = record.get",
    ]
    tests = []
    for index, column in enumerate(layout.data_columns):
        is_key = column.name in layout.key
        if column.type is ColumnType.JSON and not is_key:
            continue
        v = f"v{index}"
        lines.append(f"        {v} = get({column.field!r})")
        fits = None if column.type is ColumnType.JSON else _FITS_AS_JSON[column.type].format(v=v)
        if is_key:  # a missing key is the converter's error to raise
            tests.append(f"{v} is not None" + (f" and ({fits})" if fits else ""))
        elif fits:
            tests.append(f"({v} is None or {fits})")
    lines += [
        f"        if not ({' and '.join(tests) or 'True'}):",
        "            unfit.append(position)",
        "        elif not known.issuperset(record):",
        "            undeclared.append(position)",
        "    return unfit, undeclared",
    ]
    namespace: dict[str, Any] = {"known": known}
    exec(compile("\n".join(lines), f"<fit check for {layout.qualified_name}>", "exec"), namespace)
    return namespace["positions"]
