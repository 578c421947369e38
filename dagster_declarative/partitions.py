"""Slices to partitions and back: each partition key names exactly one slice the engine reads.

Date cursors become time-window partitions with the manifest's start and time zone (hourly, daily,
weekly or monthly definitions for steps of one such unit, a cron-based definition for other steps
that divide a day); a list router becomes static partitions. Streams without slices stay
unpartitioned and read incrementally from the state table. Parent-stream (substream) routers and
products of two routers are read whole, unpartitioned, until their partition keys can be
registered from the parent (see the report in the package README).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    from dagster_declarative.translator import StreamDescription
    from engine.stream import Stream

_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@-]+")
_MAX_KEY = 255
_HOUR_FMT = "%Y-%m-%d-%H:%M"
_DAY_FMT = "%Y-%m-%d"


class PartitionMappingError(ValueError):
    """A stream's slices cannot be expressed as Dagster partitions; the message says what to do."""


def slicer_kind(stream: Stream) -> str:
    """Which kind of slicing a stream uses, judged by what its slicer offers."""
    slicer = stream.slicer
    if hasattr(slicer, "slice_for_window"):
        return "datetime"
    if stream.parent_streams:
        return "substream"
    if hasattr(slicer, "values"):
        return "list"
    if type(slicer).__name__ == "SingleSlice":
        return "none"
    return "product"


def sanitize_key(value: Any) -> str:
    """A partition key safe for ranges, multi-partitions and the UI (no ``...``, ``,|[]``)."""
    text = _KEY_UNSAFE.sub("_", str(value)).replace("...", "_")
    return text[:_MAX_KEY] or "_"


def partitions_def_for(data: StreamDescription) -> dg.PartitionsDefinition | None:
    if data.slicer_kind == "datetime":
        return _time_window_def(data.slicer.describe(), data.stream_name)
    if data.slicer_kind == "list":
        return dg.StaticPartitionsDefinition([sanitize_key(v) for v in data.slicer.values])
    return None


def _time_window_def(description: Any, stream_name: str) -> dg.TimeWindowPartitionsDefinition:
    start: dt.datetime = description.start
    timezone = str(getattr(description, "timezone", None) or "UTC")
    step = description.step
    unit = step.calendar_unit
    if unit == "hour":
        return dg.HourlyPartitionsDefinition(
            start_date=start.strftime(_HOUR_FMT), timezone=timezone
        )
    if unit == "day":
        return dg.DailyPartitionsDefinition(start_date=start.strftime(_DAY_FMT), timezone=timezone)
    if unit == "week":
        return dg.WeeklyPartitionsDefinition(
            start_date=start.strftime(_DAY_FMT), timezone=timezone, day_offset=_cron_weekday(start)
        )
    if unit == "month":
        return dg.MonthlyPartitionsDefinition(
            start_date=start.strftime(_DAY_FMT), timezone=timezone, day_offset=start.day
        )
    return dg.TimeWindowPartitionsDefinition(
        start=start.strftime("%Y-%m-%dT%H:%M"),
        fmt="%Y-%m-%dT%H:%M",
        cron_schedule=_cron_for_step(step, stream_name),
        timezone=timezone,
    )


def _cron_weekday(start: dt.datetime) -> int:
    """Cron counts Sunday as 0; windows start on the weekday the manifest's start falls on."""
    return (start.weekday() + 1) % 7


def _cron_for_step(step: Any, stream_name: str) -> str:
    """A cron whose ticks reproduce the windows of a sub-daily step that divides a day."""
    seconds = int(step.delta.total_seconds()) if not step.months else 0
    if seconds and seconds % 60 == 0 and 86400 % seconds == 0:
        minutes = seconds // 60
        if minutes < 60:
            return f"*/{minutes} * * * *"
        return f"0 */{minutes // 60} * * *"
    raise PartitionMappingError(
        f"stream {stream_name!r}: a date step of {step} has no equivalent Dagster partition "
        "schedule (only steps of an hour, a day, a week, a month, or that divide a day exactly); "
        "override DeclarativeTranslator.get_partitions_def for this stream"
    )


def slices_for_partitions(
    stream: Stream, partitions_def: dg.PartitionsDefinition, keys: Sequence[str]
) -> list[tuple[str, dict]]:
    """The engine slice of each partition key, in the order of ``keys``."""
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        cursor: Any = stream.slicer
        result = []
        for key in keys:
            window = partitions_def.time_window_for_partition_key(key)
            result.append((key, cursor.slice_for_window(window.start, window.end)))
        return result
    by_key = {sanitize_key(_partition_value(s)): s for s in stream.slices()}
    missing = [key for key in keys if key not in by_key]
    if missing:
        raise PartitionMappingError(
            f"stream {stream.name!r} has no slice for partition(s) {', '.join(missing)}; "
            "the manifest's slices changed since these partitions were defined"
        )
    return [(key, by_key[key]) for key in keys]


def _partition_value(stream_slice: dict) -> Any:
    """The value a router slices on: the one entry that is not the parent's own slice."""
    values = [v for k, v in stream_slice.items() if k != "parent_slice"]
    return values[0] if len(values) == 1 else "|".join(str(v) for v in values)
