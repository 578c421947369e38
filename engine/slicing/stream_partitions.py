"""A stream's partitions turned back into its slices, its per-partition state, and the
partitioning ``explain`` shows (the rule itself: ``partitioning.py``)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from engine.slicing.base import Slice
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.partitioning import (
    HASHED_KEY,
    Axis,
    PartitionError,
    Partitioning,
    Window,
    axes_of,
    partition_key,
    partition_value,
)
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import partition_of
from engine.streams.stream import Stream

_EXAMPLE_KEYS = 3


class StreamPartitions:
    """A stream's partitions (the rule: ``partitioning.py``), from its built slicer: what they
    are, the slice each selects, and the state each keeps."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._axes = axes_of(stream.slicer)

    def describe(self) -> Partitioning:
        if self._axes is None:
            return Partitioning(inexpressible=type(self._stream.slicer).__name__)
        return Partitioning(tuple(axis.dimension for axis in self._axes))

    def slices_for(
        self,
        partitions: Sequence[Mapping[str, str | Window]],
        progress: Callable[[int], None] | None = None,
    ) -> list[Slice]:
        """The slice of each partition, in order. A partition names a part for every dimension:
        a date window, or the key of a listed window or of a router partition. Router keys
        that need the parents read are looked up in one lazy read, only until every key asked
        for is found (``progress`` hears how many partitions were read)."""
        axes = self._axes or []
        if not axes:
            raise PartitionError(
                f"stream {self._stream.name!r} has no slices that partitions could select"
            )
        keys = {axis.dimension.name: _AxisKeys(axis, self._stream.name, progress) for axis in axes}
        result = []
        for partition in partitions:
            merged: dict[str, Any] = {}
            for axis in reversed(axes):  # earlier dimensions win, as in the engine's product
                merged.update(keys[axis.dimension.name].slice_for(partition[axis.dimension.name]))
            result.append(merged)
        return result

    def keys_of(self, dimension: str) -> list[str]:
        """Every key of a router dimension now (reads the parent streams of a substream)."""
        (axis,) = [a for a in self._axes or () if a.dimension.name == dimension]
        return list(
            dict.fromkeys(partition_key(partition_value(p)) for p in axis.slicer.partitions({}))
        )

    def resume_slice(self, state: Mapping[str, Any], window: Window) -> Slice | None:
        """The rest of a date window whose read stopped at ``state`` (its stored cursor, less
        the lookback), or None when that position is not inside the window."""
        cursor = self._stream.cursor
        if not isinstance(cursor, DatetimeBasedCursor):
            return None
        value = state.get(cursor.cursor_field)
        if not value:
            return None
        position = cursor.parse(value)
        if cursor.lookback_window is not None:
            position = cursor.lookback_window.subtract_from(position)
        start, end = window
        if not start <= position < end:
            return None
        return cursor.slice_for_window(position, end)

    def state_for(
        self, stream_slice: Slice | None, previous: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The cursor state that belongs to one partition's slice after a read (``None``: the
        whole read's state); ``previous`` when the read left that partition's state as it was.

        One cursor may read many windows in a run: a window without records of its own keeps
        the state it had (the cursor's position then lies in an earlier window).
        """
        cursor = self._stream.cursor
        if cursor is None:
            return None
        if stream_slice is None:
            return cursor.state()
        if isinstance(cursor, PerPartitionCursor):
            dates = cursor.datetime_cursor
            state = cursor.state()
            if cursor.global_cursor:
                return state.get("state") or previous
            partition = partition_of(
                stream_slice, (dates.partition_field_start, dates.partition_field_end)
            )
            entries = [e["cursor"] for e in state.get("states", []) if e["partition"] == partition]
            return entries[0] if entries else previous
        if isinstance(cursor, DatetimeBasedCursor):
            position = cursor.position()
            if position is None:
                return previous
            if isinstance(position, dt.datetime):
                start, end = cursor.bounds(stream_slice)
                return cursor.state() if start <= position <= end else previous
        return cursor.state()

    def explain(self) -> dict[str, Any]:
        """The partitioning as ``explain`` shows it, with the first keys of a date dimension
        and the slices they select (whole windows: the config is made up)."""
        partitioning = self.describe()
        if partitioning.inexpressible is not None:
            return {
                "kind": "none",
                "reason": f"its slicer ({partitioning.inexpressible}) has more than two "
                "dimensions or a kind partitions cannot express: read unpartitioned, "
                "incrementally",
            }
        shown = [_explained(axis) for axis in self._axes or ()]
        if not shown:
            return {"kind": "none", "reason": "the stream is not sliced"}
        return shown[0] if len(shown) == 1 else {"kind": "multi", "dimensions": shown}


def _explained(axis: Axis) -> dict[str, Any]:
    dimension = axis.dimension
    if dimension.kind == "list":
        return {"kind": "static", "by": dimension.by[0], "keys": len(dimension.values)}
    if dimension.kind == "substream":
        parents = list(dict.fromkeys(parent.stream for parent in dimension.parents))
        return {"kind": "dynamic", "by": list(dimension.by), "parents": parents}
    windows, cadence = dimension.windows, dimension.cadence
    assert windows is not None and windows.step is not None and cadence is not None
    shown: dict[str, Any] = {"kind": cadence.kind, "step": str(windows.step)}
    if cadence.cron:
        shown["cron"] = cadence.cron
    starts = [windows.start]
    for _ in range(_EXAMPLE_KEYS):
        starts.append(windows.step.add_to(starts[-1]))
    shown["examples"] = [
        {
            "key": start.strftime(cadence.key_format),
            "slice": axis.slicer.slice_for_window(start, end, clamp=False),
        }
        for start, end in itertools.pairwise(starts)
    ]
    return shown


class _AxisKeys:
    """Parts of one dimension to the part of the slice they select.

    A parent id is turned into its slice directly when the id is all the slice holds
    (:meth:`SubstreamPartitionRouter.partition_for_value`); otherwise the router's partitions
    are read lazily, only until the key asked for is found.
    """

    def __init__(
        self, axis: Axis, stream_name: str, progress: Callable[[int], None] | None
    ) -> None:
        self.axis, self.stream_name, self._progress = axis, stream_name, progress
        self._found: dict[str, Slice] = {}
        self._partitions: Iterator[Slice] | None = None
        self._listed: dict[str, Window] | None = None
        self._read = 0

    def slice_for(self, part: str | Window) -> Slice:
        dimension, slicer = self.axis.dimension, self.axis.slicer
        if dimension.kind == "datetime":
            return slicer.slice_for_window(*self._window(part))
        assert isinstance(part, str), f"a {dimension.kind} dimension is selected by its keys"
        if dimension.kind == "substream" and not HASHED_KEY.fullmatch(part):
            direct = slicer.partition_for_value(part)
            if direct is not None:
                return direct
        found = self._scan(part)
        if found is None:
            raise PartitionError(
                f"stream {self.stream_name!r} has no slice for partition {part!r}: the "
                f"{dimension.kind} router no longer yields it (the parent record or list value "
                "is gone, or the manifest changed since the key was registered)"
            )
        return found

    def _window(self, part: str | Window) -> Window:
        if not isinstance(part, str):
            return part
        if self._listed is None:
            try:
                self._listed = self.axis.dimension.listed_windows()  # listed when built
            except PartitionError as error:
                raise PartitionError(f"stream {self.stream_name!r}: {error}") from None
        found = self._listed.get(part)
        if found is None:
            windows = self.axis.dimension.windows
            assert windows is not None
            raise PartitionError(
                f"stream {self.stream_name!r} has no date window starting at {part!r} (step "
                f"{windows.step}); its windows start at {windows.start.isoformat()}"
            )
        return found

    def _scan(self, key: str) -> Slice | None:
        if self._partitions is None:
            self._partitions = iter(self.axis.slicer.iter_partitions({}))
        while key not in self._found:
            partition = next(self._partitions, None)
            if partition is None:
                break
            self._found.setdefault(partition_key(partition_value(partition)), partition)
            self._read += 1
            if self._progress is not None:
                self._progress(self._read)
        return self._found.get(key)
