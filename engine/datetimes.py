"""Datetime formats and durations of declarative manifests.

Manifests describe dates with ``strptime`` patterns extended by a few directives of their own
(``%s``, ``%ms``, ``%s_as_float``, ``%epoch_microseconds`` and ``%_ms``) and describe steps and
windows with ISO-8601 durations or the 2022 short form ``<n>y<n>m<n>w<n>d``. Cursor values are
parsed once per record, so each format string is compiled once into a small parser/formatter and
the common zero-padded numeric patterns skip ``strptime`` altogether.
"""

from __future__ import annotations

import calendar
import datetime
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from dateutil import parser as dateutil_parser

UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


class DatetimeFormatError(ValueError):
    """A value does not match the datetime format it was declared with."""


class DurationFormatError(ValueError):
    """A step, granularity or window is not a duration the manifest format allows."""


def now_utc() -> datetime.datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.datetime.now(UTC)


# --- datetime formats ---------------------------------------------------------------------------


def _as_int(value: str | int | float) -> int:
    """Epoch values arrive as ints, floats or their text; fractions of the unit are dropped."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not an epoch timestamp")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(value)
    except ValueError:
        return int(float(value))


class _EpochFormat:
    """Integer epoch timestamps in a fixed unit (``%s``, ``%ms``, ``%epoch_microseconds``)."""

    def __init__(self, unit: datetime.timedelta) -> None:
        self._unit = unit

    def parse(self, value: str | int | float) -> datetime.datetime:
        return _EPOCH + _as_int(value) * self._unit

    def format(self, dt: datetime.datetime) -> str:
        return str((_aware(dt) - _EPOCH) // self._unit)


class _FloatEpochFormat:
    """``%s_as_float``: epoch seconds with a fractional part, microsecond precision."""

    def parse(self, value: str | int | float) -> datetime.datetime:
        if isinstance(value, bool):
            raise TypeError("a boolean is not an epoch timestamp")
        return _EPOCH + datetime.timedelta(seconds=float(value))

    def format(self, dt: datetime.datetime) -> str:
        return str((_aware(dt) - _EPOCH).total_seconds())


# Directives the fast parser understands; a pattern using any other one goes to strptime.
_FAST_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "m": r"(?P<m>\d\d)",
    "d": r"(?P<d>\d\d)",
    "H": r"(?P<H>\d\d)",
    "M": r"(?P<M>\d\d)",
    "S": r"(?P<S>\d\d)",
    "f": r"(?P<f>\d{1,6})",
    "z": r"(?P<z>Z|[+-]\d\d:?\d\d)",
}
_DIRECTIVE = re.compile(r"%(_ms|.)", re.DOTALL)


@lru_cache(maxsize=64)
def _fixed_offset(text: str) -> datetime.tzinfo:
    if text == "Z":
        return UTC
    minutes = int(text[1:3]) * 60 + int(text[-2:])
    sign = -1 if text[0] == "-" else 1
    return datetime.timezone(sign * datetime.timedelta(minutes=minutes))


class _PatternFormat:
    """A ``strptime``/``strftime`` pattern, with ``%_ms`` standing for 3-digit milliseconds."""

    def __init__(self, fmt: str) -> None:
        # strptime reads the milliseconds like %f; strftime needs them spliced in by hand.
        self._strptime_pattern = _DIRECTIVE.sub(
            lambda m: "%f" if m.group(1) == "_ms" else m.group(0), fmt
        )
        self._strftime_chunks = _split_on_milliseconds(fmt)
        self._fast = _fast_regex(self._strptime_pattern)
        self._build = _fields_builder(self._fast) if self._fast is not None else None

    def parse(self, value: str | int | float) -> datetime.datetime:
        text = value if isinstance(value, str) else str(value)
        if self._fast is not None and self._build is not None:
            match = self._fast.fullmatch(text)
            if match is not None:
                parsed = self._build(match.groups())
                if parsed is not None:
                    return parsed
        parsed = datetime.datetime.strptime(text, self._strptime_pattern)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)

    def format(self, dt: datetime.datetime) -> str:
        if len(self._strftime_chunks) == 1:
            return dt.strftime(self._strftime_chunks[0])
        milliseconds = f"{dt.microsecond // 1000:03d}"
        return milliseconds.join(dt.strftime(chunk) for chunk in self._strftime_chunks)


def _split_on_milliseconds(fmt: str) -> list[str]:
    chunks, start = [], 0
    for match in _DIRECTIVE.finditer(fmt):
        if match.group(1) == "_ms":
            chunks.append(fmt[start : match.start()])
            start = match.end()
    chunks.append(fmt[start:])
    return chunks


def _fast_regex(pattern: str) -> re.Pattern[str] | None:
    """A strict regex for zero-padded numeric patterns, or None when strptime must handle it."""
    parts, seen, start = [], set(), 0
    for match in _DIRECTIVE.finditer(pattern):
        directive = match.group(1)
        parts.append(re.escape(pattern[start : match.start()]))
        start = match.end()
        if directive == "%":
            parts.append("%")
        elif directive in _FAST_DIRECTIVES and directive not in seen:
            seen.add(directive)
            parts.append(_FAST_DIRECTIVES[directive])
        else:
            return None
    parts.append(re.escape(pattern[start:]))
    return re.compile("".join(parts))


_FIELD_DEFAULTS = (("Y", "1900"), ("m", "1"), ("d", "1"), ("H", "0"), ("M", "0"), ("S", "0"))


def _fields_builder(regex: re.Pattern[str]) -> Callable[[tuple], datetime.datetime | None]:
    """The function that builds the datetime strptime would from a match's groups.

    Cursor values are parsed once per record, so the builder is compiled once per format into
    one constructor call that reads the groups by position (about twice as fast as reading a
    dict of named groups). Only group positions (integers) enter the source. It returns None for
    impossible dates, letting strptime report them.
    """
    where = {name: number - 1 for name, number in regex.groupindex.items()}
    arguments = [
        f"int(g[{where[name]}])" if name in where else default for name, default in _FIELD_DEFAULTS
    ]
    micro, zone = where.get("f"), where.get("z")
    arguments.append(
        f"int(g[{micro}].ljust(6, '0')) if g[{micro}] else 0" if micro is not None else "0"
    )
    arguments.append(
        f"fixed_offset(g[{zone}]) if g[{zone}] else UTC" if zone is not None else "UTC"
    )
    source = (
        "def build(g):\n"
        "    try:\n"
        f"        return datetime({', '.join(arguments)})\n"
        "    except ValueError:\n"
        "        return None\n"
    )
    namespace = {"datetime": datetime.datetime, "fixed_offset": _fixed_offset, "UTC": UTC}
    exec(compile(source, f"<datetime fields of {regex.pattern!r}>", "exec"), namespace)
    return namespace["build"]


_Format = _EpochFormat | _FloatEpochFormat | _PatternFormat
_SPECIAL_FORMATS: dict[str, _Format] = {
    "%s": _EpochFormat(datetime.timedelta(seconds=1)),
    "%ms": _EpochFormat(datetime.timedelta(milliseconds=1)),
    "%epoch_microseconds": _EpochFormat(_MICROSECOND),
    "%s_as_float": _FloatEpochFormat(),
}


# What strptime understands (the format both parses and formats), plus the format's own %_ms.
_KNOWN_DIRECTIVES = frozenset([*"aAwdbBmyYHIpMSfzZjUWcxXGuV%", "_ms"])


def unknown_directive(fmt: str) -> str | None:
    """The first directive of ``fmt`` that no date can be parsed with (``%Q``, a stray ``%``),
    or None: checked when the manifest is built, not when the first record arrives."""
    if fmt in _SPECIAL_FORMATS:
        return None
    for match in _DIRECTIVE.finditer(fmt):
        if match.group(1) not in _KNOWN_DIRECTIVES:
            return match.group(0)
    return "%" if "%" in _DIRECTIVE.sub("", fmt) else None


@lru_cache(maxsize=256)
def _compiled_format(fmt: str) -> _Format:
    return _SPECIAL_FORMATS.get(fmt) or _PatternFormat(fmt)


def _aware(dt: datetime.datetime) -> datetime.datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def parse_datetime(
    value: str | int | float, fmt: str, *, keep_offset: bool = True
) -> datetime.datetime:
    """Parse ``value`` with a manifest datetime format; the result is always timezone-aware.

    Naive results are UTC. ``keep_offset=False`` reproduces the 2022 framework, which ignored
    any offset in the text and labelled the wall-clock time as UTC.
    """
    try:
        parsed = _compiled_format(fmt).parse(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DatetimeFormatError(
            f"Cannot parse {value!r} with the datetime format {fmt!r}: {exc}"
        ) from exc
    return parsed if keep_offset else parsed.replace(tzinfo=UTC)


def parse_any_datetime(value: str | int | float, formats: Sequence[str]) -> datetime.datetime:
    """Parse with the first of ``formats`` that matches, else as ISO-8601 (cursor values)."""
    for fmt in formats:
        try:
            return _compiled_format(fmt).parse(value)
        except (ValueError, TypeError, OverflowError):
            continue
    try:
        return parse_iso_datetime(str(value))
    except DatetimeFormatError:
        raise DatetimeFormatError(
            f"{value!r} matches none of the datetime formats {list(formats)} "
            "and is not an ISO-8601 datetime either"
        ) from None


def format_datetime(dt: datetime.datetime, fmt: str) -> str:
    """Format ``dt`` with a manifest datetime format (the inverse of :func:`parse_datetime`).

    Epoch directives read naive datetimes as UTC; patterns format the wall-clock time given.
    """
    return _compiled_format(fmt).format(dt)


def parse_iso_datetime(text: str) -> datetime.datetime:
    """Parse an ISO-8601 datetime or date; naive results are UTC, offsets are kept."""
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = dateutil_parser.isoparse(text)
        except (ValueError, OverflowError) as exc:
            raise DatetimeFormatError(f"{text!r} is not an ISO-8601 datetime: {exc}") from exc
    return _aware(parsed)


def parse_lenient_datetime(text: str) -> datetime.datetime:
    """Parse ISO-8601 or any form dateutil recognises ("Jan 5 2021 10:00"); naive means UTC.

    The 2022 macros parsed strings with dateutil, so templates written then may pass such text.
    """
    try:
        return parse_iso_datetime(text)
    except DatetimeFormatError:
        pass
    try:
        return _aware(dateutil_parser.parse(text))
    except (ValueError, OverflowError) as exc:
        raise DatetimeFormatError(f"{text!r} is not a recognisable date or datetime") from exc


# --- durations ----------------------------------------------------------------------------------

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
