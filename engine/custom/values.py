"""The reference's value types at the boundary: our slices as its ``StreamSlice``, our records
as its ``Record``, and the other way round.

Our slices are plain dicts: partition keys, ``parent_slice``, the date window's bounds and, for
substreams, ``extra_fields``. The reference splits the same values into ``partition``,
``cursor_slice`` and ``extra_fields``; the window's keys are the cursor part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import EngineError, ReadError
from engine.slicing.router import EXTRA_FIELDS

# The default partition_field_start / partition_field_end of a date cursor.
WINDOW_KEYS = frozenset({"start_time", "end_time"})


def stream_slice(value: Mapping[str, Any] | None) -> Any:
    """Our slice as the reference's ``StreamSlice`` (None stays None)."""
    from airbyte_cdk.sources.types import StreamSlice

    if value is None:
        return None
    if isinstance(value, StreamSlice):
        return value
    partition = {k: v for k, v in value.items() if k not in WINDOW_KEYS and k != EXTRA_FIELDS}
    cursor = {k: v for k, v in value.items() if k in WINDOW_KEYS}
    extra = dict(value.get(EXTRA_FIELDS) or getattr(value, "extra_fields", None) or {})
    return StreamSlice(partition=partition, cursor_slice=cursor, extra_fields=extra)


def our_slice(value: Any) -> dict[str, Any]:
    """A reference ``StreamSlice`` (or any mapping) as our plain-dict slice."""
    partition = getattr(value, "partition", None)
    if partition is None:
        return dict(value or {})
    result = {**dict(partition), **dict(value.cursor_slice or {})}
    if value.extra_fields:
        result[EXTRA_FIELDS] = dict(value.extra_fields)
    return result


def record(data: Mapping[str, Any], slice_value: Any = None, stream_name: str = "") -> Any:
    """A record as the reference hands it to components (a ``Record`` mapping)."""
    from airbyte_cdk.sources.types import Record

    return Record(data=data, stream_name=stream_name, associated_slice=slice_value)


def plain(value: Any) -> dict[str, Any]:
    """A record a component returned, as the plain dict the rest of the engine expects."""
    data = getattr(value, "data", None)
    if isinstance(data, Mapping):
        return dict(data)
    return value if type(value) is dict else dict(value)


def failure(component: Any, error: Exception) -> Exception:
    """An exception a custom component raised, as a read error naming its class (our own
    errors pass through: they already say what happened)."""
    if isinstance(error, EngineError):
        return error
    kind = type(component)
    return ReadError(
        f"custom component {kind.__module__}.{kind.__qualname__} failed: "
        f"{type(error).__name__}: {error}"
    )
