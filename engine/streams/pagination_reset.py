"""SimpleRetriever.pagination_reset: starting pagination over when an API caps how many records
one pagination may reach (``limits.number_of_records``), as airbyte-cdk 7 does.

After each page, once the records read since the last (re)start reach the limit, the next
request is the first page again:

- ``RESET`` asks the same slice again; a slice may be restarted once, a second time fails;
- ``SPLIT_USING_CURSOR`` (records must come in ascending cursor order) asks the slice again
  from the newest cursor value read in it so far (formatted as the cursor formats windows);
  a restart that would ask the very same slice again fails.

The check comes before the paginator's own end, so a last page that reaches the limit restarts
too. Records already emitted stay emitted (the overlap is read twice).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.datetimes import format_datetime
from engine.errors import ReadError
from engine.slicing.datetime_cursor import DatetimeBasedCursor


@dataclass(frozen=True)
class PaginationReset:
    limit: int | None
    cursor: DatetimeBasedCursor | None = None
    """The stream's date cursor, with SPLIT_USING_CURSOR."""

    def tracker(self) -> ResetTracker:
        return ResetTracker(self)


@dataclass
class ResetTracker:
    """The records of one slice's read, counted since the last (re)start."""

    settings: PaginationReset
    count: int = 0
    _newest: datetime.datetime | None = field(default=None, init=False)
    _same_slice: int = field(default=0, init=False)

    def observe(self, record: Mapping[str, Any]) -> None:
        self.count += 1
        cursor = self.settings.cursor
        if cursor is None:
            return
        value = record.get(cursor.cursor_field)
        if value is None or value == "":
            return
        try:
            moment = cursor.parse(value)
        except ReadError:  # an unparsable value moves nothing, as in the reference
            return
        if self._newest is None or moment > self._newest:
            self._newest = moment

    def reached(self) -> bool:
        return self.settings.limit is not None and self.count >= self.settings.limit

    def restart(
        self, previous: Mapping[str, Any], original: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """The slice to read from the first page again; fails when no progress is possible."""
        cursor = self.settings.cursor
        restarted = previous
        if cursor is not None:
            restarted = original
            if self._newest is not None:
                start = format_datetime(self._newest, cursor.datetime_format)
                restarted = {**original, cursor.partition_field_start: start}
        if restarted == previous:
            self._same_slice += 1
            allowed = 1 if cursor is not None else 2
            if self._same_slice >= allowed:
                raise ReadError(
                    f"pagination_reset: the API still caps pagination after {self._same_slice} "
                    "restart(s) of the same slice; a smaller step (or a cursor that moves) is "
                    "needed"
                )
        else:
            self._same_slice = 0
        self.count = 0
        return restarted
