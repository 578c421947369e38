"""What every slicer offers the retriever, and the trivial one-slice slicer.

A slicer produces the slices of a stream (plain dicts such as ``{"start_time": ..., "end_time":
...}`` or ``{"project_id": 7, "parent_slice": {...}}``) and the request options a slice adds.
Slicers that keep a cursor (date windows) also observe records and report state; those are
:class:`Cursor` objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.http.options import EMPTY, RequestOptions

# At most this many distinct unparsable cursor values are reported per stream and read.
MAX_UNPARSABLE_REPORTED = 10


class UnparsableValues:
    """Cursor values of records that did not parse: each is reported once (the record is kept,
    and the state does not move past it, as in the reference runner). Shared by the per-partition
    copies of a cursor, so a read reports each value once."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._pending: list[str] = []

    def note(self, field: str, value: Any) -> None:
        text = repr(value)[:80]
        if text in self._seen or len(self._seen) >= MAX_UNPARSABLE_REPORTED:
            return
        self._seen.add(text)
        self._pending.append(
            f"the cursor field {field!r} holds {text}, which does not parse: the record is "
            "emitted and the state does not move past it"
        )

    def take(self) -> list[str]:
        taken, self._pending = self._pending, []
        return taken


Slice = dict[str, Any]

# Slice keys that carry information for templates but do not identify a partition.
EXTRA_FIELDS = "extra_fields"
CHILD_RESPONSE = "child_response"
"""The extra field holding the body a lazily read child takes as its first page (a parent's
``lazy_read_pointer``)."""


class Slicer:
    def slices(self, state: Mapping[str, Any] | None = None) -> Iterable[Slice]:
        return [{}]

    def partition(self, stream_slice: Mapping[str, Any]) -> Slice:
        """The part of one of this slicer's slices that names a partition (the reference's
        ``StreamSlice.partition``): router keys, never a date window or extra fields. A child
        stream keys its partitions by it (``parent_slice``), so it must not change between
        reads."""
        return {k: v for k, v in stream_slice.items() if k != EXTRA_FIELDS}

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        return EMPTY


class SingleSlice(Slicer):
    """A stream without a router or cursor: one slice, ``{}``."""


class Cursor(Slicer):
    """A slicer that tracks the highest cursor value seen, per slice, and reports state."""

    cursor_field: str = ""

    def partition(self, stream_slice: Mapping[str, Any]) -> Slice:
        """A cursor's slices are windows of one partition: they name none."""
        return {}

    def observe(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        """Note a record read in ``stream_slice``."""

    def take_warnings(self) -> list[str]:
        """Warnings met since the last call (cursor values that did not parse), then forgotten."""
        return []

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        """All records of ``stream_slice`` were emitted; fold its cursor into the state."""

    def state(self) -> dict[str, Any]:
        return {}

    def current_state(self, stream_slice: Mapping[str, Any]) -> dict[str, Any]:
        """The state while ``stream_slice`` is read: what the 2022 runtime handed request
        options as ``stream_state``. By default the state of the closed slices."""
        return self.state()

    def set_initial_state(self, state: Mapping[str, Any]) -> None:
        """Start from a previous read's state."""

    def keep(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        """Client-side incremental filtering; by default every record is kept."""
        return True

    def feed_exhausted(self, stream_slice: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
        """For data feeds (newest first): this record is older than the state, stop paging."""
        return False
