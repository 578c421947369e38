"""A stream's partitioning (the engine's rule: ``engine/slicing/partitioning.py``) as Dagster
partitions, and Dagster partition keys back to the parts the engine turns into slices.

- a ``datetime`` dimension becomes calendar or cron time windows where a cadence reproduces the
  cursor's windows (the engine decides: ``engine/slicing/date_cadence.py``), else static keys
  listing the engine's own window starts (steps no cron ticks: ``P3D``, ``P365D``, ...), the
  running window included, since the engine reads it too. Either way a key selects one window;
- a ``list`` dimension becomes static partitions; a ``substream`` dimension dynamic partitions
  named ``<source>__<stream>``, registered when the parent is materialized or by the stream's
  discovery sensor; two dimensions multi-partitions.

A stream the engine cannot partition stays unpartitioned and reads incrementally from the state
table; a log line says so when the definitions are built.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

import dagster as dg

from engine import (
    Cadence,
    Dimension,
    PartitionError,
    Partitioning,
    Stream,
    StreamPartitions,
    Window,
    safe_name,
)

logger = logging.getLogger("dagster_declarative")


class PartitionMappingError(PartitionError, ValueError):
    """A stream's slices cannot be expressed as Dagster partitions; the message says what to do."""


def dynamic_partitions_name(source_name: str, stream_name: str) -> str:
    """Instance-global name of a stream's dynamic partitions: namespaced by source and stream."""
    return f"{safe_name(source_name)}__{safe_name(stream_name)}"


def partitions_def_for(
    partitioning: Partitioning, source_name: str, stream_name: str
) -> dg.PartitionsDefinition | None:
    """The default partitions of a stream (see the module doc); None when unpartitioned."""
    if partitioning.inexpressible is not None:
        logger.warning(
            "stream %r of source %r: its slicer (%s) has more than two dimensions or a kind "
            "Dagster partitions cannot express; the stream is unpartitioned and read "
            "incrementally from the state table",
            stream_name,
            source_name,
            partitioning.inexpressible,
        )
        return None
    dims = partitioning.dimensions
    if not dims:
        return None
    defs = [_dimension_def(d, source_name, stream_name) for d in dims]
    if len(defs) == 1:
        return defs[0]
    return dg.MultiPartitionsDefinition({d.name: p for d, p in zip(dims, defs, strict=True)})


def _dimension_def(dim: Dimension, source_name: str, stream_name: str) -> dg.PartitionsDefinition:
    if dim.kind == "datetime":
        return _date_partitions_def(dim, stream_name)
    if dim.kind == "list":
        return dg.StaticPartitionsDefinition(dim.keys)
    return dg.DynamicPartitionsDefinition(name=dynamic_partitions_name(source_name, stream_name))


def slices_for_partitions(
    stream: Stream,
    partitions_def: dg.PartitionsDefinition,
    keys: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, dict]]:
    """The engine slice of each partition key, in the order of ``keys``.

    Only the partitions definitions this module builds (or ones of the same shape) can be mapped:
    a time window per date dimension, static or dynamic keys per router, two of them in a
    multi-partitions definition.
    """
    partitions = StreamPartitions(stream)
    dims = partitions.describe().dimensions
    if not dims:
        raise PartitionMappingError(
            f"stream {stream.name!r} is partitioned in Dagster but its manifest has no slices "
            "that partitions could select; remove the partitions definition"
        )
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        if len(dims) != 2:
            raise PartitionMappingError(
                f"stream {stream.name!r} has multi-partitions but {len(dims)} slicing dimension(s)"
            )
        names = [d.name for d in dims]
        defs = {p.name: p.partitions_def for p in partitions_def.partitions_defs}
        if set(names) != set(defs):
            raise PartitionMappingError(
                f"stream {stream.name!r}: multi-partition dimensions {sorted(defs)} do not match "
                f"the stream's slicing dimensions {names}; name them alike"
            )
        parts = []
        for key in keys:
            by_dimension = _split_multi_key(partitions_def, key)
            parts.append(
                {d.name: _part(d, defs[d.name], by_dimension[d.name], stream.name) for d in dims}
            )
    elif len(dims) != 1:
        raise PartitionMappingError(
            f"stream {stream.name!r} is sliced on {len(dims)} dimensions but its partitions "
            "definition has one; use a MultiPartitionsDefinition"
        )
    else:
        (dim,) = dims
        parts = [{dim.name: _part(dim, partitions_def, key, stream.name)} for key in keys]
    slices = partitions.slices_for(parts, progress)
    return list(zip(keys, slices, strict=True))


def _part(
    dim: Dimension, partitions_def: dg.PartitionsDefinition, key: str, stream_name: str
) -> str | Window:
    """What the engine selects one dimension's slice part by: the window of a time-window key,
    else the key itself (a listed date window's start, a list value, a parent id)."""
    if dim.kind != "datetime" or isinstance(partitions_def, dg.StaticPartitionsDefinition):
        return key
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        window = partitions_def.time_window_for_partition_key(key)
        return (window.start, window.end)
    raise PartitionMappingError(
        f"stream {stream_name!r}: its date cursor needs time-window or listed-window partitions, "
        f"not {type(partitions_def).__name__}"
    )


def _split_multi_key(definition: dg.MultiPartitionsDefinition, key: str) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return dict(definition.get_partition_key_from_str(key).keys_by_dimension)


def _date_partitions_def(dimension: Dimension, stream_name: str) -> dg.PartitionsDefinition:
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
