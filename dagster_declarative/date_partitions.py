"""A date cursor's windows as Dagster partitions, for any step the manifest declares.

The engine decides how a scheduler can cut time into the cursor's windows
(``engine/slicing/date_cadence.py``); this module builds the Dagster definition for it:
Hourly / Daily / Weekly / Monthly partitions offset to the start's minute, hour and day, a
cron-based time-window definition, or, for steps no cron ticks (``P3D``, ``P2W``, ``P30D``,
``P365D``, ...), static partitions listed from the engine's own window boundaries: one key per
window start, the running window included, since the engine reads it too (up to now).

Either way a partition key selects exactly one engine window (:func:`date_part_for_key`).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from engine import Cadence, Dimension, PartitionError, Window


class PartitionMappingError(PartitionError, ValueError):
    """A stream's slices cannot be expressed as Dagster partitions; the message says what to do."""


def date_partitions_def(dimension: Dimension, stream_name: str) -> dg.PartitionsDefinition:
    """Partitions whose windows are the dimension's windows (see the module doc)."""
    windows, cadence = dimension.windows, dimension.cadence
    assert windows is not None and cadence is not None, "a datetime dimension"
    if cadence.kind == "listed":
        try:
            listed = dimension.listed_windows()
        except PartitionError as error:
            raise PartitionMappingError(
                f"stream {stream_name!r}: {error}, or override "
                "DeclarativeTranslator.get_partitions_def"
            ) from None
        return dg.StaticPartitionsDefinition(list(listed))
    definition = _cadence_def(windows.start, cadence, windows.timezone)
    if windows.end is None:
        return definition
    last = definition.time_window_for_partition_key(
        definition.get_partition_key_for_timestamp(windows.end.timestamp())
    )
    return _cadence_def(windows.start, cadence, windows.timezone, last.end)


def date_part_for_key(
    partitions_def: dg.PartitionsDefinition, key: str, stream_name: str
) -> str | Window:
    """What selects a date partition's window in the engine: the window of a time-window key,
    or the key itself of a listed window (the engine lists its windows)."""
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        window = partitions_def.time_window_for_partition_key(key)
        return (window.start, window.end)
    if isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return key
    raise PartitionMappingError(
        f"stream {stream_name!r}: its date cursor needs time-window or listed-window partitions, "
        f"not {type(partitions_def).__name__}"
    )


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
