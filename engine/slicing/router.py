"""What partition routers share: partitions of a stream, possibly read from parent streams.

A router's slices are its partitions (``{"repo": "a"}``, ``{"project_id": 7, "parent_slice":
{...}}``). Routers that read parent streams incrementally keep the parents' states; the stream's
cursor stores them inside its own state under ``parent_state`` and hands them back on the next
read.

Partitions come one at a time from :meth:`PartitionRouter.iter_partitions`, so a caller that
needs only the first (a connection check) reads only the first page of a parent stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.http.options import RequestOptions
from engine.slicing.base import EXTRA_FIELDS, Cursor, Slice, Slicer

__all__ = ["EXTRA_FIELDS", "LastPartitionState", "PartitionRouter", "partition_of"]


class PartitionRouter(Slicer):
    parent_stream_names: tuple[str, ...] = ()

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        """The partitions one by one, reading parents from ``parent_state`` where they are
        incremental; parents are read only as far as the partitions taken need."""
        raise NotImplementedError

    def partitions(self, parent_state: Mapping[str, Any]) -> list[Slice]:
        """Every partition (all parents read in full)."""
        return list(self.iter_partitions(parent_state))

    def slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        return self.iter_partitions(dict((state or {}).get("parent_state") or {}))

    def parent_state(self) -> dict[str, Any]:
        """States of the parents read incrementally by the last :meth:`partitions` call."""
        return {}


def partition_of(stream_slice: Mapping[str, Any], cursor_keys: tuple[str, ...] = ()) -> Slice:
    """The part of a slice that names its partition (no window, no extra fields)."""
    return {k: v for k, v in stream_slice.items() if k not in cursor_keys and k != EXTRA_FIELDS}


class LastPartitionState(Cursor):
    """The 2022 state of a list or parent slicer in a stream that names a ``cursor_field``: the
    partition of the last slice read (``{"repo": "b"}``). It is informational: the next read
    still reads every partition, as the 2022 runtime did.

    Everything else (``values``, ``parent_stream_names``...) is the router's, so schedulers see
    the router they know.
    """

    def __init__(self, router: PartitionRouter, cursor_field: str) -> None:
        self.router = router
        self.cursor_field = cursor_field
        self._state: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this class lacks: those of the router it stands for.
        return getattr(self.__dict__["router"], name)

    def slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        return self.router.slices(state)

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        return self.router.request_options(stream_slice)

    def partition(self, stream_slice: Mapping[str, Any]) -> Slice:
        return self.router.partition(stream_slice)

    def set_initial_state(self, state: Mapping[str, Any]) -> None:
        self._state = dict(state or {})

    def close_slice(self, stream_slice: Mapping[str, Any]) -> None:
        self._state = {k: v for k, v in partition_of(stream_slice).items() if k != "parent_slice"}

    def state(self) -> dict[str, Any]:
        return dict(self._state)
