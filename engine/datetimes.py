"""Datetime formats of declarative manifests (durations: :mod:`engine.durations`).

Manifests describe dates with ``strptime`` patterns extended by a few directives of their own
(``%s``, ``%ms``, ``%s_as_float``, ``%epoch_microseconds`` and ``%_ms``). Cursor values are
parsed once per record, so each format string is compiled once into a small parser/formatter and
the common zero-padded numeric patterns skip ``strptime`` altogether.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


class DatetimeFormatError(ValueError):
    """A value does not match the datetime format it was declared with."""


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
        from dateutil import parser as dateutil_parser  # on first use: ~10 ms of start-up

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
    from dateutil import parser as dateutil_parser

    try:
        return _aware(dateutil_parser.parse(text))
    except (ValueError, OverflowError) as exc:
        raise DatetimeFormatError(f"{text!r} is not a recognisable date or datetime") from exc
