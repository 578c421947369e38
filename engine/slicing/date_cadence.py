"""How a scheduler can cut time into a date cursor's windows, for any step.

The rule lives here, without any scheduler imported, so that ``explain`` and the Dagster
integration agree on it:

- ``hourly``, ``daily``, ``weekly``, ``monthly``: a step of one calendar unit, ticking at the
  start's minute, hour, weekday or day of month (a monthly start after the 28th is clamped by the
  engine, which no calendar schedule does, so it is listed instead);
- ``cron``: one cron line ticks at every window start (minutes that divide an hour, hours that
  divide a day, months that divide a year);
- ``listed``: anything else (``P3D``, ``P2W``, ``P30D``, ``P365D``, ``PT7H``, a UTC offset that
  is no time zone): the windows are listed from the engine's own boundaries, one per start.

A window's key is its start written with ``key_format``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from engine.durations import Duration
from engine.slicing.date_windows import DateWindows

CadenceKind = Literal["hourly", "daily", "weekly", "monthly", "cron", "listed"]
_DAY = dt.timedelta(days=1)
_MINUTE = dt.timedelta(minutes=1)
_KEY_FORMATS = {
    "hourly": "%Y-%m-%d-%H:%M",
    "daily": "%Y-%m-%d",
    "weekly": "%Y-%m-%d",
    "monthly": "%Y-%m-%d",
    "cron": "%Y-%m-%dT%H:%M",
}
_UNIT_KINDS: dict[str, CadenceKind] = {
    "hour": "hourly",
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
}


@dataclass(frozen=True)
class Cadence:
    """A scheduler's way to reproduce a cursor's windows (see the module doc)."""

    kind: CadenceKind
    key_format: str
    cron: str | None = None


def cadence_of(windows: DateWindows) -> Cadence:
    step, start = windows.step, windows.start
    assert step is not None, "a cursor without a step has one window"
    whole_minute = not start.second and not start.microsecond
    if windows.timezone[:1] not in "+-" and whole_minute:
        unit = step.calendar_unit
        if unit is not None and not (unit == "month" and start.day > 28):
            kind = _UNIT_KINDS[unit]
            return Cadence(kind, _KEY_FORMATS[kind])
        cron = _cron_for(start, step)
        if cron is not None:
            return Cadence("cron", _KEY_FORMATS["cron"], cron)
    return Cadence("listed", _listed_key_format(start, step))


def _listed_key_format(start: dt.datetime, step: Duration) -> str:
    """No more precision than the start and step need."""
    if not step.delta % _DAY and start.time() == dt.time(0):
        return "%Y-%m-%d"
    if not step.delta % _MINUTE and not start.second and not start.microsecond:
        return "%Y-%m-%dT%H:%M"
    return "%Y-%m-%dT%H:%M:%S"


def _cron_for(start: dt.datetime, step: Duration) -> str | None:
    """A cron ticking at every window start, when one line of cron can."""
    if step.months and not step.delta:
        if 12 % step.months or start.day > 28:
            return None
        months = sorted((start.month - 1 + k) % 12 + 1 for k in range(0, 12, step.months))
        return f"{start.minute} {start.hour} {start.day} {_list(months)} *"
    if step.months or step.delta % _MINUTE or step.delta >= _DAY or step.delta <= dt.timedelta(0):
        return None
    minutes = int(step.delta.total_seconds()) // 60
    if 60 % minutes == 0:
        return f"{_list(range(start.minute % minutes, 60, minutes))} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return f"{start.minute} {_list(range(start.hour % hours, 24, hours))} * * *"
    return None


def _list(values: range | list[int]) -> str:
    return ",".join(str(v) for v in values)
