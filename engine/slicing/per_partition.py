"""A date cursor inside every partition of a router, with the per-partition state format.

Slices are the partitions crossed with each partition's own windows, merged into one dict
(``{"repo": "a", "start_time": ..., "end_time": ...}``). The state is::

    {"use_global_cursor": false,
     "states": [{"partition": {"repo": "a"}, "cursor": {"updated_at": "..."}}],
     "state": {"updated_at": "..."},          # the latest cursor of all partitions
     "parent_state": {"repos": {...}}}        # parents read with incremental_dependency

A flat state (``{"updated_at": ...}``, written by a stream before it had partitions) and the
global ``state`` are where partitions without a state of their own start. ``global_cursor``
keeps one cursor for all partitions (``global_substream_cursor``): its state only moves when
every slice of the read is closed, because partitions interleave in time.

The parents' states and the global state move only once all slices of the read are closed:
before that, some partition of the new parents could still be unread.

``lookback_window`` is how many seconds the previous read took: a partition that starts from the
global cursor (it had no state of its own) re-reads that much before it, because the global
cursor may have moved past records that changed while the previous read was running. Past
``switch_to_global_after`` partitions (10,000) the cursor goes global for good
(``use_global_cursor: true``), so that the state stays small.

Slices come lazily: a connection check that takes the first slice reads only the first page of
the parent stream.
"""

from __future__ import annotations

import datetime
import json
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from engine.http.options import RequestOptions
from engine.slicing.base import Cursor, Slice
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.router import PartitionRouter, partition_of

_STATE_KEYS = ("states", "state", "use_global_cursor", "parent_state", "lookback_window")
SWITCH_TO_GLOBAL_AFTER = 10_000


class PerPartitionCursor(Cursor):
    def __init__(
        self,
        router: PartitionRouter,
        datetime_cursor: DatetimeBasedCursor,
        *,
        global_cursor: bool = False,
        switch_to_global_after: int = SWITCH_TO_GLOBAL_AFTER,
    ) -> None:
        self.router = router
        self.datetime_cursor = datetime_cursor
        self.cursor_field = datetime_cursor.cursor_field
        self.configured_global = global_cursor
        self.switch_to_global_after = switch_to_global_after
        self._window_keys = (
            datetime_cursor.partition_field_start,
            datetime_cursor.partition_field_end,
        )
        self._reset({})

    def _reset(self, state: Mapping[str, Any]) -> None:
        state = dict(state or {})
        if not any(key in state for key in _STATE_KEYS):
            state = {"state": state} if state else {}  # a flat state: the start of every partition
        self._states: dict[str, tuple[Slice, dict[str, Any]]] = {
            _identity(entry.get("partition") or {}): (
                dict(entry.get("partition") or {}),
                dict(entry.get("cursor") or {}),
            )
            for entry in state.get("states") or []
        }
        self._global: dict[str, Any] = dict(state.get("state") or {})
        self.global_cursor = self.configured_global or bool(state.get("use_global_cursor"))
        self._lookback_seconds = int(state.get("lookback_window") or 0)
        self._started = time.monotonic()
        self._exhausted = True
        self._parent_state: dict[str, Any] = dict(state.get("parent_state") or {})
        self._pending_parent_state: dict[str, Any] = self._parent_state
        self._cursors: dict[str, tuple[Slice, DatetimeBasedCursor]] = {}
        self._slice_partition: dict[int, tuple[Slice, str]] = {}
        self._open = 0

    # -- slices ------------------------------------------------------------------------------

    def set_initial_state(self, state: Mapping[str, Any] | None) -> None:
        self._reset(state or {})

    def slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        self._reset(state or {})
        self._exhausted = False
        return self._windows()

    def _windows(self) -> Iterator[Slice]:
        for partition in self.router.iter_partitions(self._parent_state):
            identity = _identity(partition_of(partition))
            if identity in self._cursors:
                # A partition listed twice (a parent returned a record twice) is read once. The
                # reference reads it again from its cursor's state at that moment, which depends
                # on how far its concurrent reads have come: no rule to follow.
                continue
            for window in self._start_partition(partition, identity):
                merged = {**partition, **window}
                self._slice_partition[id(merged)] = (merged, identity)
                self._open += 1
                yield merged
        self._pending_parent_state = {**self._parent_state, **self.router.parent_state()}
        self._exhausted = True
        if self._open == 0:
            self._finish()

    def _start_partition(self, partition: Slice, identity: str) -> list[Slice]:
        """A new partition's cursor (from its own state, or the global one) and its windows."""
        if len(self._cursors) >= self.switch_to_global_after:
            self.global_cursor = True
        known = self._states.get(identity)
        own = known is not None and not self.global_cursor
        runtime_lookback = datetime.timedelta(seconds=self._lookback_seconds)
        cursor = self.datetime_cursor.fresh(None if own else runtime_lookback)
        self._cursors[identity] = (partition_of(partition), cursor)
        return list(cursor.slices(known[1] if own else self._global))  # type: ignore[index]

    def partition(self, stream_slice: Mapping[str, Any]) -> Slice:
        return partition_of(stream_slice, self._window_keys)

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        return self.router.request_options(stream_slice).merge(
            self.datetime_cursor.request_options(stream_slice)
        )

    # -- records -----------------------------------------------------------------------------

    def _cursor_of(self, stream_slice: Mapping[str, Any]) -> DatetimeBasedCursor:
        known = self._slice_partition.get(id(stream_slice))
        identity = (
            known[1]
            if known is not None and known[0] is stream_slice
            else _identity(partition_of(stream_slice, self._window_keys))
        )
        entry = self._cursors.get(identity)
        if entry is None:  # a slice built elsewhere (a scheduler's partition): start it now
            partition = partition_of(stream_slice, self._window_keys)
            known_state = self._states.get(identity)
            cursor = self.datetime_cursor.fresh()
            cursor.set_initial_state(known_state[1] if known_state else self._global)
            entry = self._cursors.setdefault(identity, (partition, cursor))
        return entry[1]

    def keep(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        return self._cursor_of(stream_slice).keep(stream_slice, record)

    def feed_exhausted(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        return self._cursor_of(stream_slice).feed_exhausted(stream_slice, record)

    def observe(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        self._cursor_of(stream_slice).observe(stream_slice, record)

    def take_warnings(self) -> list[str]:
        return self.datetime_cursor.take_warnings()  # the partitions' cursors share its notes

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        cursor = self._cursor_of(stream_slice)
        cursor.close_slice(stream_slice)
        if not self.global_cursor:
            partition = partition_of(stream_slice, self._window_keys)
            self._states[_identity(partition)] = (partition, cursor.state())
        self._open -= 1
        if self._open == 0 and self._exhausted:
            self._finish()

    def _finish(self) -> None:
        """Every slice of the read is closed: the global cursor and parents may move on."""
        self._parent_state = self._pending_parent_state
        self._lookback_seconds = math.ceil(time.monotonic() - self._started)
        latest = self._latest()
        if latest:
            self._global = latest

    def _latest(self) -> dict[str, Any]:
        # One cursor for all partitions moves only with records; per partition, a partition's
        # state counts from where it started (as the reference's global state does).
        candidates = [
            c
            for _, c in self._cursors.values()
            if c.position() is not None and (c.advanced or not self.global_cursor)
        ]
        if self._global:
            baseline = self.datetime_cursor.fresh()
            baseline.set_initial_state(self._global)
            candidates.append(baseline)
        if not candidates:
            return {}
        return max(candidates, key=lambda c: c.position()).state()

    # -- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"use_global_cursor": self.global_cursor}
        if not self.global_cursor:
            state["states"] = [
                {"partition": partition, "cursor": cursor}
                for partition, cursor in self._states.values()
                if cursor
            ]
        if self._global:
            state["state"] = dict(self._global)
        state["lookback_window"] = self._lookback_seconds
        state["parent_state"] = dict(self._parent_state)  # {} without incremental parents
        return state


def _identity(partition: Mapping[str, Any]) -> str:
    return json.dumps(partition, sort_keys=True, default=str)
