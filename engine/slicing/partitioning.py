"""A stream's slices as partitions a scheduler can select, and partitions back to slices.

The rule lives here once; ``explain`` and the Dagster integration both read it:

- a date cursor whose windows are steps from its start is one ``datetime`` dimension (its
  windows and the cadence that reproduces them, see ``date_cadence.py``); a cursor with one
  window up to now, or clamped to the calendar, is read incrementally instead;
- a list router is a ``list`` dimension, a parent-stream (substream) router a ``substream``
  dimension whose keys are the parents' record ids;
- two of these at once (two routers, or one router with a date cursor inside each partition)
  are two dimensions.

Anything else (three dimensions, grouped routers, custom routers) cannot be expressed as
partitions: the stream is read unpartitioned, incrementally.

A router partition's key is its raw value when that is a safe name
(``[A-Za-z0-9_.:@-]{1,255}``, no ``...``), else a stable hash (``id_<sha1>``): see
:func:`partition_key`. ``stream_partitions.py`` turns keys back into slices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from engine.errors import EngineError
from engine.slicing.base import SingleSlice
from engine.slicing.combined import CartesianProductRouter
from engine.slicing.date_cadence import Cadence, cadence_of
from engine.slicing.datetime_cursor import DatetimeBasedCursor, DateWindows
from engine.slicing.list_router import ListPartitionRouter
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import EXTRA_FIELDS, LastPartitionState, PartitionRouter
from engine.slicing.substream import SubstreamPartitionRouter, dig

DATE_DIMENSION = "date"
LISTED_WINDOWS_LIMIT = 25_000
"""More date windows than this (a minute step over years) are not listed as partitions: a
scheduler's UI and backfills slow down far earlier than their own limits."""
_SAFE_KEY = re.compile(r"[A-Za-z0-9_.:@-]{1,255}")
HASHED_KEY = re.compile(r"id_[0-9a-f]{20}")
"""What a hashed key looks like (:func:`partition_key`)."""
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_]+")
_ABSENT = dig({}, ("absent",))

Window = tuple[dt.datetime, dt.datetime]
"""A date window ``[start, end)``, as a scheduler's time partition spans it."""


class PartitionError(EngineError):
    """A partition the stream's slices cannot give (the message says why and what to do)."""


def partition_key(value: Any) -> str:
    """The key of a router partition whose value is ``value`` (see the module doc): the same
    for the same value in every process."""
    text = str(value)
    if _SAFE_KEY.fullmatch(text) and "..." not in text:
        return text
    return "id_" + hashlib.sha1(text.encode()).hexdigest()[:20]  # matches HASHED_KEY


def safe_name(text: str, empty: str = "partition") -> str:
    """``text`` with every run of characters other than ASCII letters, digits and ``_`` as one
    ``_`` (a dimension's name, or a part of one); ``empty`` when none is left."""
    return _UNSAFE_NAME.sub("_", text).strip("_") or empty


@dataclass(frozen=True)
class ParentLink:
    """Where a substream partition's key comes from: a value in the parent's records."""

    stream: str
    path: tuple[str, ...]

    def keys(self, records: Iterable[Mapping[str, Any]]) -> list[str]:
        """The partition keys the parent's ``records`` give the child, each once."""
        found = (dig(record, self.path) for record in records)
        return list(dict.fromkeys(partition_key(v) for v in found if v is not _ABSENT))


@dataclass(frozen=True)
class Dimension:
    """One axis of a stream's partitions (see the module doc)."""

    kind: Literal["datetime", "list", "substream"]
    name: str
    windows: DateWindows | None = None
    """datetime: how the cursor cuts time."""
    cadence: Cadence | None = None
    """datetime: how a scheduler reproduces the windows."""
    window_starts: tuple[dt.datetime, ...] = ()
    """datetime with a ``listed`` cadence: every window's start up to now, then the next one
    (at most ``LISTED_WINDOWS_LIMIT + 2``: more means too many)."""
    values: tuple[Any, ...] = ()
    """list: the router's values."""
    by: tuple[str, ...] = ()
    """list and substream: the slice field(s) holding the partition's value."""
    parents: tuple[ParentLink, ...] = ()
    """substream: the parent streams and where their records hold the keys."""

    @property
    def keys(self) -> list[str]:
        """list: the partition keys, in the router's order."""
        return list(dict.fromkeys(partition_key(v) for v in self.values))

    def listed_windows(self) -> dict[str, Window]:
        """datetime with a ``listed`` cadence: each window by its key."""
        assert self.windows is not None and self.cadence is not None
        starts, step = self.window_starts, self.windows.step
        if len(starts) > LISTED_WINDOWS_LIMIT + 1:
            raise PartitionError(
                f"a date step of {step} from {self.windows.start.isoformat()} makes more than "
                f"{LISTED_WINDOWS_LIMIT} windows; use a later start date or a longer step"
            )
        fmt = self.cadence.key_format
        listed = {start.strftime(fmt): (start, end) for start, end in itertools.pairwise(starts)}
        if len(listed) != len(starts) - 1:
            raise PartitionError(f"a date step of {step} is shorter than a second")
        return listed


@dataclass(frozen=True)
class Partitioning:
    """How a stream's slices split into partitions: no dimension (``dimensions == ()``), one or
    two, or ``inexpressible`` (the slicer's type) when partitions cannot express them."""

    dimensions: tuple[Dimension, ...] = ()
    inexpressible: str | None = None

    @property
    def kind(self) -> str:
        """``none``, ``datetime``, ``list``, ``substream``, ``product`` (two dimensions) or
        ``other`` (sliced, but read unpartitioned)."""
        if self.inexpressible is not None:
            return "other"
        if not self.dimensions:
            return "none"
        return "product" if len(self.dimensions) == 2 else self.dimensions[0].kind


# -- from the slicer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """A dimension and the live slicer part it describes (never leaves the engine)."""

    dimension: Dimension
    slicer: Any


def axes_of(slicer: Any) -> list[Axis] | None:
    """The partitionable axes of a slicer ([] when unsliced), or None when inexpressible;
    two dimensions of one name (two list routers on ``id``) are told apart by position."""
    axes = _axes(slicer)
    if axes is None or len({axis.dimension.name for axis in axes}) == len(axes):
        return axes
    return [
        Axis(replace(axis.dimension, name=f"{axis.dimension.name}_{index}"), axis.slicer)
        for index, axis in enumerate(axes)
    ]


def _axes(slicer: Any) -> list[Axis] | None:
    if isinstance(slicer, SingleSlice):
        return []
    if isinstance(slicer, LastPartitionState):  # a 2022 router that also reports state
        return _axes(slicer.router)
    if isinstance(slicer, DatetimeBasedCursor):
        return [_date_axis(slicer)] if slicer.windows_by_step else []
    if isinstance(slicer, PerPartitionCursor):
        routers = _router_axes(slicer.router)
        if routers is None or len(routers) != 1 or not slicer.datetime_cursor.windows_by_step:
            return None
        return [*routers, _date_axis(slicer.datetime_cursor)]
    if isinstance(slicer, PartitionRouter):
        routers = _router_axes(slicer)
        return routers if routers is not None and len(routers) <= 2 else None
    return None


def _date_axis(cursor: DatetimeBasedCursor) -> Axis:
    windows = cursor.describe()
    cadence = cadence_of(windows)
    starts = cursor.window_starts(LISTED_WINDOWS_LIMIT) if cadence.kind == "listed" else []
    dimension = Dimension(
        "datetime", DATE_DIMENSION, windows=windows, cadence=cadence, window_starts=tuple(starts)
    )
    return Axis(dimension, cursor)


def _router_axes(router: Any) -> list[Axis] | None:
    if isinstance(router, ListPartitionRouter):
        field = router.cursor_field
        dimension = Dimension("list", safe_name(field), values=tuple(router.values), by=(field,))
        return [Axis(dimension, router)]
    if isinstance(router, SubstreamPartitionRouter):
        configs = router.parent_stream_configs
        fields = tuple(sorted({c.partition_field for c in configs}))
        parents = tuple(ParentLink(c.stream.name, tuple(c.parent_key)) for c in configs)
        dimension = Dimension("substream", safe_name("_".join(fields)), by=fields, parents=parents)
        return [Axis(dimension, router)]
    if isinstance(router, CartesianProductRouter):
        parts = [_router_axes(r) for r in router.routers]
        if any(p is None for p in parts):
            return None
        return [axis for part in parts for axis in part or ()]
    return None


def partition_value(stream_slice: Mapping[str, Any]) -> Any:
    """The raw value a router partition is keyed by (the entries that are not parent slices,
    extra fields or windows)."""
    values = [v for k, v in stream_slice.items() if k not in ("parent_slice", EXTRA_FIELDS)]
    return values[0] if len(values) == 1 else "|".join(str(v) for v in values)
