"""Durations as manifests write them: ISO-8601 (``P1D``, ``PT1H``, ``P1M``) or the 2022 short
form (``1d``, ``2w``), calendar-aware so that a month step from Jan 31 lands on Feb 28."""

from __future__ import annotations

import calendar
import datetime
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal


class DurationFormatError(ValueError):
    """A step, granularity or window is not a duration the manifest format allows."""


_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = re.compile(
    rf"(?P<sign>[-+])?P(?:(?P<years>{_NUMBER})Y)?(?:(?P<months>{_NUMBER})M)?"
    rf"(?:(?P<weeks>{_NUMBER})W)?(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)
_SHORT_DURATION = re.compile(
    r"(?:(?P<years>\d+)y)?(?:(?P<months>\d+)m)?(?:(?P<weeks>\d+(?:\.\d+)?)w)?"
    r"(?:(?P<days>\d+(?:\.\d+)?)d)?"
)
_MICROSECONDS_PER = {
    "weeks": 604_800_000_000,
    "days": 86_400_000_000,
    "hours": 3_600_000_000,
    "minutes": 60_000_000,
    "seconds": 1_000_000,
}
_AVERAGE_MONTH_SECONDS = 365.2425 / 12 * 86_400
_EXACT_UNITS = {
    datetime.timedelta(hours=1): "hour",
    datetime.timedelta(days=1): "day",
    datetime.timedelta(weeks=1): "week",
}


def _add_months(dt: datetime.datetime, months: int) -> datetime.datetime:
    """Move by whole months, clamping the day to the target month's length (Jan 31 -> Feb 28)."""
    years, month_index = divmod(dt.month - 1 + months, 12)
    year, month = dt.year + years, month_index + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar-aware duration: whole months (years are 12 months) plus an exact timedelta.

    Months are applied first and clamp the day of month, like ISO-8601 date arithmetic.
    ``datetime + Duration`` and ``datetime - Duration`` work too, so templates can use it.
    """

    months: int = 0
    delta: datetime.timedelta = datetime.timedelta(0)

    def add_to(self, dt: datetime.datetime) -> datetime.datetime:
        moved = _add_months(dt, self.months) if self.months else dt
        return moved + self.delta

    def subtract_from(self, dt: datetime.datetime) -> datetime.datetime:
        return (-self).add_to(dt)

    def total_seconds_estimate(self) -> float:
        """Length in seconds counting a month as an average Gregorian month (for sizing only)."""
        return self.months * _AVERAGE_MONTH_SECONDS + self.delta.total_seconds()

    @property
    def is_zero(self) -> bool:
        return not self.months and not self.delta

    @property
    def calendar_unit(self) -> Literal["hour", "day", "week", "month"] | None:
        """The calendar unit this duration is exactly one of (PT1H, P1D, P1W, P1M), else None.

        Lets callers map a step onto hourly/daily/weekly/monthly partitions.
        """
        if self.months == 0:
            return _EXACT_UNITS.get(self.delta)  # type: ignore[return-value]
        return "month" if self.months == 1 and not self.delta else None

    def __neg__(self) -> Duration:
        return Duration(-self.months, -self.delta)

    def __str__(self) -> str:
        """ISO-8601 text (``P365D``, ``PT6H``, ``P3M``), as a manifest author would write it."""
        if self.months < 0 or (not self.months and self.delta < datetime.timedelta(0)):
            return "-" + str(-self)
        years, months = divmod(self.months, 12)
        days, seconds = self.delta.days, self.delta.seconds
        hours, rest = divmod(seconds, 3600)
        minutes, whole = divmod(rest, 60)
        second_text = f"{whole}.{self.delta.microseconds:06d}".rstrip("0").rstrip(".")
        date = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (days, "D")) if n)
        time = "".join(
            f"{n}{u}"
            for n, u in ((hours, "H"), (minutes, "M"), (second_text, "S"))
            if n and n != "0"
        )
        return "P" + date + (f"T{time}" if time else "") if date or time else "P0D"

    def __radd__(self, other: object) -> datetime.datetime:
        if isinstance(other, datetime.date):
            return self.add_to(other)  # type: ignore[arg-type]
        return NotImplemented

    def __rsub__(self, other: object) -> datetime.datetime:
        if isinstance(other, datetime.date):
            return self.subtract_from(other)  # type: ignore[arg-type]
        return NotImplemented


def _microseconds(number: str, unit: str) -> int:
    return int((Decimal(number.replace(",", ".")) * _MICROSECONDS_PER[unit]).to_integral_value())


@lru_cache(maxsize=256)
def parse_duration(text: str) -> Duration:
    """Parse an ISO-8601 duration (``P1D``, ``PT1H``, ``P1M``, ``P1W``, ``PT0.000001S``) or the
    2022 short form ``<n>y<n>m<n>w<n>d`` (``1d``, ``2w``, ``1y2m``; ``m`` means months)."""
    if not isinstance(text, str):
        raise DurationFormatError(
            f"A duration must be a string such as 'P1D', got {type(text).__name__} {text!r}"
        )
    stripped = text.strip()
    match = _ISO_DURATION.fullmatch(stripped) or _SHORT_DURATION.fullmatch(stripped)
    parts = {k: v for k, v in match.groupdict().items() if v and k != "sign"} if match else {}
    if not parts:
        raise DurationFormatError(
            f"Invalid duration {text!r}: expected ISO-8601 such as 'P1D', 'PT1H', 'P1W', 'P1M', "
            "'PT0.000001S', or the 2022 short form '<n>y<n>m<n>w<n>d' such as '1d', '2w', '1y2m'"
        )
    try:
        months = int(parts.pop("years", 0)) * 12 + int(parts.pop("months", 0))
    except ValueError:
        raise DurationFormatError(
            f"Invalid duration {text!r}: years and months must be whole numbers"
        ) from None
    micros = sum(_microseconds(number, unit) for unit, number in parts.items())
    duration = Duration(months, datetime.timedelta(microseconds=micros))
    return -duration if match and match.groupdict().get("sign") == "-" else duration
