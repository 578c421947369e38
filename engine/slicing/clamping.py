"""Date windows clamped to whole days, weeks or months (``DatetimeBasedCursor.clamping``).

Some APIs only accept ranges that begin and end on a period boundary (a report per calendar
month, say). airbyte-cdk 7 then cuts windows this way:

- the end of the read is rounded *down* to a boundary, minus ``cursor_granularity`` (one
  second for DAY, one day for WEEK and MONTH when the cursor has none), so the last window
  covers whole periods only;
- a window's start is rounded *up* to a boundary; so is its end, except the end of the read;
  a window ends where the next one starts (less the granularity), and the windows stop as
  soon as rounding leaves a window empty or reaches the end;
- a read that would fit in one step is one window from the rounded start to the end (rounded
  up too when the cursor has no granularity).

A moment already on a boundary stays where it is. Weeks begin on ``target_details.weekday``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Literal

from engine.durations import Duration

Target = Literal["DAY", "WEEK", "MONTH"]
TARGETS: tuple[str, ...] = ("DAY", "WEEK", "MONTH")
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
Window = tuple[datetime.datetime, datetime.datetime]


@dataclass(frozen=True)
class Clamping:
    target: Target
    weekday: int = 0  # Monday, as datetime.weekday() counts

    def up(self, moment: datetime.datetime) -> datetime.datetime:
        """Rounded up: to the next midnight (DAY, unless already midnight), to the day
        ``weekday`` on or after the date (WEEK), to the 1st of the next month unless the date
        is a 1st (MONTH). Weeks and months look at the date only, as the reference does."""
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.target == "DAY":
            return midnight if midnight == moment else midnight + _DAY
        if self.target == "WEEK":
            return midnight + (self.weekday - moment.weekday()) % 7 * _DAY
        if moment.day == 1:
            return midnight
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        return midnight.replace(year=year, month=month, day=1)

    def down(self, moment: datetime.datetime) -> datetime.datetime:
        """Rounded down to midnight, to the day ``weekday`` on or before, or to the 1st."""
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.target == "DAY":
            return midnight
        if self.target == "WEEK":
            return midnight - (moment.weekday() - self.weekday) % 7 * _DAY
        return midnight.replace(day=1)

    def read_end(self, end: datetime.datetime, granularity: Duration | None) -> datetime.datetime:
        """Where a clamped read ends: the boundary before ``end``, less one granularity."""
        floor = self.down(end)
        if granularity is not None:
            return granularity.subtract_from(floor)
        return floor - (datetime.timedelta(seconds=1) if self.target == "DAY" else _DAY)


_DAY = datetime.timedelta(days=1)


def clamped_windows(
    clamping: Clamping,
    lower: datetime.datetime,
    upper: datetime.datetime,
    step: Duration | None,
    granularity: Duration | None,
    *,
    strict: bool,
) -> list[Window]:
    """The windows of a read from ``lower`` to the (already clamped) end ``upper``."""
    if lower > upper or (lower == upper and granularity is None):
        return []
    lower = clamping.up(lower)
    if lower > upper or (lower == upper and strict):
        return []
    if step is None or step.add_to(lower) >= upper:
        return [(lower, upper if granularity is not None else clamping.up(upper))]
    windows: list[Window] = []
    start = lower
    while True:
        stepped = min(step.add_to(start), upper)
        end = clamping.up(stepped) if stepped != upper else stepped
        last = stepped >= upper or end == upper
        start = clamping.up(start)
        if start >= end:
            break
        if granularity is not None and not last:
            windows.append((start, granularity.subtract_from(end)))
        else:
            windows.append((start, end))
        start = end
        if last:
            break
    return windows
