"""A date cursor's bounds (``MinMaxDatetime``) and its windows as a scheduler sees them.

A bound is a template with an optional floor and ceiling, parsed with its own format or the
cursor's. :class:`DateWindows` describes how a cursor cuts time, for schedulers that partition
by time (Dagster); its time zone is named by :func:`zone_name`.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.datetimes import UTC, DatetimeFormatError, parse_any_datetime
from engine.durations import Duration
from engine.errors import ConfigError
from engine.templates.interpolation import InterpolatedString

DEFAULT_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"
# Macros whose value depends on the clock: an end built from them means "now" to a scheduler.
CLOCK_MACROS = re.compile(r"\b(now_utc|now_local|today_utc|today_with_timezone|day_delta)\s*\(")


@dataclass(frozen=True)
class MinMaxDatetime:
    """A datetime template with optional lower and upper bounds, all parsed with one format."""

    datetime: InterpolatedString
    datetime_format: str = ""
    min_datetime: InterpolatedString | None = None
    max_datetime: InterpolatedString | None = None

    def with_default_format(self, fmt: str) -> MinMaxDatetime:
        """Inherit the cursor's format when this one declares none (the format's rule)."""
        if self.datetime_format:
            return self
        return MinMaxDatetime(self.datetime, fmt, self.min_datetime, self.max_datetime)

    def get(
        self, config: Mapping[str, Any], *, keep_offset: bool = True, **context: Any
    ) -> datetime.datetime:
        fmt = self.datetime_format or DEFAULT_DATETIME_FORMAT
        value = self._parse(self.datetime, config, fmt, keep_offset, context)
        if value is None:
            raise ConfigError(
                f"the date {self.datetime.raw!r} is empty: the config has no value for the key "
                "it names"
            )
        lower = self._parse(self.min_datetime, config, fmt, keep_offset, context)
        upper = self._parse(self.max_datetime, config, fmt, keep_offset, context)
        if lower is not None and value < lower:
            value = lower
        if upper is not None and value > upper:
            value = upper
        return value

    @staticmethod
    def _parse(
        template: InterpolatedString | None,
        config: Mapping[str, Any],
        fmt: str,
        keep_offset: bool,
        context: dict[str, Any],
    ) -> datetime.datetime | None:
        if template is None:
            return None
        text = template.eval_str(config, **context)
        if text == "":
            return None
        try:
            parsed = parse_any_datetime(text, [fmt])
        except DatetimeFormatError:
            raise ConfigError(
                f"the date {text!r} (from {template.raw!r}) matches neither the datetime "
                f"format {fmt!r} nor ISO-8601"
            ) from None
        return parsed if keep_offset else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DateWindows:
    """How a cursor cuts time into windows, for schedulers that partition by time (Dagster).

    ``end`` is None when the windows run up to the present (no end, or an end computed from the
    clock). ``timezone`` is an IANA name ("UTC", a zone key, or "Etc/GMT+5" for a fixed UTC-5
    offset), or "+05:30" style text when no IANA name fits the start's offset.
    """

    cursor_field: str
    start: datetime.datetime
    end: datetime.datetime | None
    step: Duration | None
    granularity: Duration | None
    datetime_format: str
    partition_field_start: str
    partition_field_end: str
    timezone: str


def aware(moment: datetime.datetime) -> datetime.datetime:
    """``moment``, read as UTC when it has no offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def zone_name(moment: datetime.datetime) -> str:
    """An IANA name for the time zone of ``moment`` (see :class:`DateWindows`)."""
    key = getattr(moment.tzinfo, "key", None)
    if key:
        return str(key)
    offset = moment.utcoffset() or datetime.timedelta(0)
    if not offset:
        return "UTC"
    hours, remainder = divmod(offset, datetime.timedelta(hours=1))
    if not remainder:
        return f"Etc/GMT{-hours:+d}"  # IANA's Etc zones count the sign the other way
    sign = "-" if offset < datetime.timedelta(0) else "+"
    minutes = abs(offset) // datetime.timedelta(minutes=1)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
