"""How a date cursor cuts windows and keeps its cursor: three rule sets, chosen by name.

Manifests written against each runtime depend on its exact window boundaries, so the cursor
follows one of these. Normalisation picks the rules (a 2022-dialect slicer gets one of the text
cursor rules, see :mod:`engine.manifest.legacy`); the cursor only asks them what to do.

- :data:`DATETIME_CURSOR` (the default, today's runtime): windows ``[start, start + step -
  granularity]``, the last one ends exactly at the end boundary and none starts at or after it;
  a read resumes at the state cursor less the lookback; the cursor is the newest datetime seen
  inside its window, and the state says where a read started even when it saw no record.
- :data:`TEXT_CURSOR` (``text_cursor``: the 2022 runtime from January 2023, with a
  ``cursor_granularity``): windows end one granularity before the next start and may start at
  the end; a read resumes at the later of start and state cursor, less the lookback; offsets
  in dates are ignored and the cursor is the largest value seen as text, in any window.
- :data:`TEXT_CURSOR_DAY_WINDOWS` (``text_cursor_day_windows``: the 2022 runtime before,
  without a granularity): as above, but windows end one day before the next start and a read
  resumes the day after the state cursor (the lookback moves the start date only).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from engine.durations import Duration

_ONE_DAY = datetime.timedelta(days=1)
Window = tuple[datetime.datetime, datetime.datetime]


@dataclass(frozen=True)
class DateRules:
    """Today's rules; the text cursor rules override what differs."""

    name: str = "datetime_cursor"

    @property
    def text_cursor(self) -> bool:
        """Cursor values are text, compared as text and parsed with offsets ignored (the
        2022 runtime); otherwise datetimes that count only inside their window."""
        return False

    def starts_window(self, start: datetime.datetime, end: datetime.datetime, strict: bool) -> bool:
        """Whether a window starts at ``start``: today's rule never starts one at the end."""
        return start < end

    def window_end(
        self, next_start: datetime.datetime, granularity: Duration | None
    ) -> datetime.datetime:
        """Where a window ends, given where the next one starts."""
        return granularity.subtract_from(next_start) if granularity is not None else next_start

    def slice_granularity(self, granularity: Duration | None) -> Duration | None:
        """The gap between one window's end and the next window's start."""
        return granularity

    def windows(
        self,
        start: datetime.datetime,
        end: datetime.datetime,
        step: Duration | None,
        granularity: Duration | None,
        strict: bool,
    ) -> Iterator[Window]:
        """Windows ``[start, start + step - granularity]``, but the last one ends exactly at
        the end boundary, and no window starts at or after it (a P1M step from 2023-12-01 to
        an end of 2024-01-01T00:00:00 is one window, not a second empty one)."""
        while self.starts_window(start, end, strict):
            upper = end if step is None else min(_step_from(step, start, end), end)
            yield start, (upper if upper >= end else self.window_end(upper, granularity))
            start = upper

    def first_start(
        self,
        start: datetime.datetime,
        end: datetime.datetime,
        cursor: datetime.datetime | None,
        lookback: Duration | None,
        runtime_lookback: datetime.timedelta | None,
    ) -> datetime.datetime:
        """Where a read starts: the configured ``start`` (not after ``end``), or the state's
        ``cursor`` less the lookback (and less how long the previous read took, for a
        partition that starts from the global cursor) when that is later."""
        start = min(start, end)
        if cursor is not None:
            floor = lookback.subtract_from(cursor) if lookback else cursor
            if runtime_lookback:
                floor = min(floor, cursor - runtime_lookback)
            start = max(start, floor)
        return start


@dataclass(frozen=True)
class _TextCursor(DateRules):
    name: str = "text_cursor"

    @property
    def text_cursor(self) -> bool:
        return True

    def starts_window(self, start: datetime.datetime, end: datetime.datetime, strict: bool) -> bool:
        """A window may start at the end itself, unless ``is_compare_strictly``."""
        return start < end if strict else start <= end

    def windows(
        self,
        start: datetime.datetime,
        end: datetime.datetime,
        step: Duration | None,
        granularity: Duration | None,
        strict: bool,
    ) -> Iterator[Window]:
        """Each window ends where :meth:`window_end` says, or at the end if sooner."""
        if step is None:
            if self.starts_window(start, end, strict):
                yield start, end
            return
        while self.starts_window(start, end, strict):
            following = _step_from(step, start, end)
            yield start, min(self.window_end(following, granularity), end)
            start = following

    def first_start(
        self,
        start: datetime.datetime,
        end: datetime.datetime,
        cursor: datetime.datetime | None,
        lookback: Duration | None,
        runtime_lookback: datetime.timedelta | None,
    ) -> datetime.datetime:
        """The later of start and cursor, less the lookback wherever the start came from."""
        start = min(start, end)
        start = max(start, cursor) if cursor is not None else start
        return lookback.subtract_from(start) if lookback is not None else start


@dataclass(frozen=True)
class _TextCursorDayWindows(_TextCursor):
    name: str = "text_cursor_day_windows"

    def window_end(
        self, next_start: datetime.datetime, granularity: Duration | None
    ) -> datetime.datetime:
        return next_start - _ONE_DAY

    def slice_granularity(self, granularity: Duration | None) -> Duration | None:
        return _ONE_DAY_DURATION

    def first_start(
        self,
        start: datetime.datetime,
        end: datetime.datetime,
        cursor: datetime.datetime | None,
        lookback: Duration | None,
        runtime_lookback: datetime.timedelta | None,
    ) -> datetime.datetime:
        """The start date less the lookback, or the day after the state cursor if later."""
        if lookback is not None:
            start = lookback.subtract_from(start)
        start = min(start, end)
        return max(start, cursor + _ONE_DAY) if cursor is not None else start


def _step_from(
    step: Duration, start: datetime.datetime, end: datetime.datetime
) -> datetime.datetime:
    """The next window's start; a step past year 9999 ends the windows at ``end``."""
    try:
        return step.add_to(start)
    except OverflowError:
        return end + _ONE_DAY


_ONE_DAY_DURATION = Duration(0, _ONE_DAY)
DATETIME_CURSOR = DateRules()
TEXT_CURSOR = _TextCursor()
TEXT_CURSOR_DAY_WINDOWS = _TextCursorDayWindows()
DATE_RULES = {
    rules.name: rules for rules in (DATETIME_CURSOR, TEXT_CURSOR, TEXT_CURSOR_DAY_WINDOWS)
}
