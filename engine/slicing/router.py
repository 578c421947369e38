"""What partition routers share: partitions of a stream, possibly read from parent streams.

A router's slices are its partitions (``{"repo": "a"}``, ``{"project_id": 7, "parent_slice":
{...}}``). Routers that read parent streams incrementally keep the parents' states; the stream's
cursor stores them inside its own state under ``parent_state`` and hands them back on the next
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.slicing.base import Slice, Slicer

# Slice keys that carry information for templates but do not identify a partition.
EXTRA_FIELDS = "extra_fields"


class PartitionRouter(Slicer):
    parent_stream_names: tuple[str, ...] = ()

    def partitions(self, parent_state: Mapping[str, Any]) -> list[Slice]:
        """Every partition, reading parents from ``parent_state`` where they are incremental."""
        raise NotImplementedError

    def slices(self, state: Mapping[str, Any] | None = None) -> list[Slice]:
        return self.partitions(dict((state or {}).get("parent_state") or {}))

    def parent_state(self) -> dict[str, Any]:
        """States of the parents read incrementally by the last :meth:`partitions` call."""
        return {}


def partition_of(stream_slice: Mapping[str, Any], cursor_keys: tuple[str, ...] = ()) -> Slice:
    """The part of a slice that names its partition (no window, no extra fields)."""
    return {k: v for k, v in stream_slice.items() if k not in cursor_keys and k != EXTRA_FIELDS}
