"""A date cursor's windows as Dagster partitions, for any step the manifest declares.

The engine decides how a scheduler can cut time into the cursor's windows
(``engine/slicing/date_cadence.py``); this module builds the Dagster definition for it:
Hourly / Daily / Weekly / Monthly partitions offset to the start's minute, hour and day, a
cron-based time-window definition, or, for steps no cron ticks (``P3D``, ``P2W``, ``P30D``,
``P365D``, ...), static partitions listed from the engine's own window boundaries: one key per
window start, the running window included, since the engine reads it too (up to now).

Either way a partition key selects exactly one engine window (:func:`date_slice_for_key`).
"""

from __future__ import annotations

import datetime as dt
import itertools

import dagster as dg

from engine.slicing.date_cadence import Cadence, cadence_of
from engine.slicing.datetime_cursor import DatetimeBasedCursor

MAX_LISTED_WINDOWS = 25_000
"""More windows than this (a minute step over years) are refused: Dagster's UI and backfills
slow down far before its own limit of 100,000 partitions."""


class PartitionMappingError(ValueError):
    """A stream's slices cannot be expressed as Dagster partitions; the message says what to do."""


def date_partitions_def(cursor: DatetimeBasedCursor, stream_name: str) -> dg.PartitionsDefinition:
    """Partitions whose windows are the cursor's windows (see the module doc)."""
    windows = cursor.describe()
    cadence = cadence_of(windows)
    if cadence.kind == "listed":
        return dg.StaticPartitionsDefinition(list(_listed_windows(cursor, stream_name)))
    definition = _cadence_def(windows.start, cadence, windows.timezone)
    if windows.end is None:
        return definition
    last = definition.time_window_for_partition_key(
        definition.get_partition_key_for_timestamp(windows.end.timestamp())
    )
    return _cadence_def(windows.start, cadence, windows.timezone, last.end)


def date_slice_for_key(
    cursor: DatetimeBasedCursor, partitions_def: dg.PartitionsDefinition, key: str, stream: str
) -> dict:
    """The engine slice a date partition key selects, for either kind of definition."""
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        window = partitions_def.time_window_for_partition_key(key)
        return cursor.slice_for_window(window.start, window.end)
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        found = _listed_windows(cursor, stream).get(key)
        if found is None:
            raise PartitionMappingError(
                f"stream {stream!r} has no date window starting at {key!r} (step "
                f"{cursor.step}); its windows start at {cursor.describe().start.isoformat()}"
            )
        return cursor.slice_for_window(*found)
    raise PartitionMappingError(
        f"stream {stream!r}: its date cursor needs time-window or listed-window partitions, "
        f"not {type(partitions_def).__name__}"
    )


def _listed_windows(
    cursor: DatetimeBasedCursor, stream_name: str
) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    starts = cursor.window_starts(MAX_LISTED_WINDOWS)
    if len(starts) > MAX_LISTED_WINDOWS + 1:
        raise PartitionMappingError(
            f"stream {stream_name!r}: a date step of {cursor.step} from "
            f"{cursor.describe().start.isoformat()} makes more than {MAX_LISTED_WINDOWS} windows; "
            "use a later start date or a longer step, or override "
            "DeclarativeTranslator.get_partitions_def"
        )
    fmt = cadence_of(cursor.describe()).key_format
    listed = {start.strftime(fmt): (start, end) for start, end in itertools.pairwise(starts)}
    if len(listed) != len(starts) - 1:
        raise PartitionMappingError(
            f"stream {stream_name!r}: a date step of {cursor.step} is shorter than a second"
        )
    return listed


_CALENDAR_DEFS: dict[str, type] = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "weekly": dg.WeeklyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def _cadence_def(
    start: dt.datetime, cadence: Cadence, timezone: str, end: dt.datetime | None = None
) -> dg.TimeWindowPartitionsDefinition:
    """The calendar or cron definition ticking at the cursor's window starts."""
    first = start.strftime(cadence.key_format)
    if cadence.kind not in _CALENDAR_DEFS:
        return dg.TimeWindowPartitionsDefinition(
            start=first,
            end=end,
            fmt=cadence.key_format,
            cron_schedule=cadence.cron,
            timezone=timezone,
        )
    offsets: dict[str, int] = {"minute_offset": start.minute}
    if cadence.kind != "hourly":
        offsets["hour_offset"] = start.hour
    if cadence.kind == "weekly":
        offsets["day_offset"] = (start.weekday() + 1) % 7  # cron counts Sunday as 0
    if cadence.kind == "monthly":
        offsets["day_offset"] = start.day
    return _CALENDAR_DEFS[cadence.kind](
        start_date=first, end_date=end, timezone=timezone, **offsets
    )
