"""Slices to partitions and back: each partition key names exactly one slice the engine reads.

- a date cursor becomes partitions whose windows are the engine's windows, for any step
  (``date_partitions.py``);
- a list router becomes static partitions;
- a parent-stream (substream) router becomes dynamic partitions named ``<source>__<stream>``,
  registered when the parent is materialized or by the stream's discovery sensor;
- two of these at once (two routers, or a router with a date cursor inside each partition)
  become multi-partitions.

Anything else (three dimensions, grouped routers, custom routers) stays unpartitioned and reads
incrementally from the state table; a log line says so when the definitions are built.

Keys are the raw partition values when those are safe for Dagster (``[A-Za-z0-9_.:@-]{1,255}``,
no ``...``), else a stable hash (``id_<sha1>``); the raw value is recovered by asking the router
for its partitions and matching their keys (:func:`router_slices`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from dagster_declarative.date_partitions import (
    PartitionMappingError,
    date_partitions_def,
    date_slice_for_key,
)
from engine.slicing.base import SingleSlice
from engine.slicing.combined import CartesianProductRouter
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.list_router import ListPartitionRouter
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import EXTRA_FIELDS, LastPartitionState, PartitionRouter
from engine.slicing.substream import SubstreamPartitionRouter

if TYPE_CHECKING:
    from dagster_declarative.translator import StreamDescription
    from engine.stream import Stream

logger = logging.getLogger("dagster_declarative")

_SAFE_KEY = re.compile(r"[A-Za-z0-9_.:@-]{1,255}")
_HASHED_KEY = re.compile(r"id_[0-9a-f]{20}")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_]+")
DATE_DIMENSION = "date"


# -- what a stream is sliced by ----------------------------------------------------------------


def slicer_kind(stream: Stream) -> str:
    """``none``, ``datetime``, ``list``, ``substream``, ``product`` (two dimensions) or
    ``other`` (sliced, but read unpartitioned)."""
    dims = dimensions_of(stream.slicer)
    if dims is None:
        return "other"
    if not dims:
        return "none"
    if len(dims) == 2:
        return "product"
    return dims[0].kind


@dataclass(frozen=True)
class Dimension:
    """One axis of a stream's slices: a date cursor or one router."""

    kind: str  # datetime, list or substream
    name: str
    slicer: Any


def dimensions_of(slicer: Any) -> list[Dimension] | None:
    """The partitionable axes of a slicer (``[]``: unsliced), or None when at most two axes of
    date/list/substream kind cannot describe it."""
    if isinstance(slicer, SingleSlice):
        return []
    if isinstance(slicer, LastPartitionState):  # a 2022 router that also reports state
        return dimensions_of(slicer.router)
    if isinstance(slicer, DatetimeBasedCursor):
        # one window up to now, or calendar windows: an incremental read, not partitions
        return [Dimension("datetime", DATE_DIMENSION, slicer)] if slicer.windows_by_step else []
    if isinstance(slicer, PerPartitionCursor):
        routers = _router_dims(slicer.router)
        if routers is None or len(routers) != 1 or not slicer.datetime_cursor.windows_by_step:
            return None
        return [*routers, Dimension("datetime", DATE_DIMENSION, slicer.datetime_cursor)]
    if isinstance(slicer, PartitionRouter):
        routers = _router_dims(slicer)
        return routers if routers is not None and len(routers) <= 2 else None
    return None


def _router_dims(router: PartitionRouter) -> list[Dimension] | None:
    if isinstance(router, ListPartitionRouter):
        return [Dimension("list", _dimension_name(router.cursor_field), router)]
    if isinstance(router, SubstreamPartitionRouter):
        fields = {c.partition_field for c in router.parent_stream_configs}
        return [Dimension("substream", _dimension_name("_".join(sorted(fields))), router)]
    if isinstance(router, CartesianProductRouter):
        parts = [_router_dims(r) for r in router.routers]
        if any(p is None for p in parts):
            return None
        return [d for p in parts for d in p or ()]
    return None


def _dimension_name(field: str) -> str:
    return _UNSAFE_NAME.sub("_", field).strip("_") or "partition"


# -- keys -------------------------------------------------------------------------------------


def sanitize_key(value: Any) -> str:
    """A partition key safe for ranges, multi-partitions and the UI.

    Safe ids are kept as they are; others become ``id_`` and a hash of their text, the same for
    the same value in every process.
    """
    text = str(value)
    if _SAFE_KEY.fullmatch(text) and "..." not in text:
        return text
    return "id_" + hashlib.sha1(text.encode()).hexdigest()[:20]  # matches _HASHED_KEY


def dynamic_partitions_name(source_name: str, stream_name: str) -> str:
    """Instance-global name of a stream's dynamic partitions: namespaced by source and stream."""
    return f"{_dimension_name(source_name)}__{_dimension_name(stream_name)}"


def partition_value(stream_slice: Mapping[str, Any]) -> Any:
    """The raw value a router partition is keyed by (the entries that are not parent slices,
    extra fields or windows)."""
    values = [v for k, v in stream_slice.items() if k not in ("parent_slice", EXTRA_FIELDS)]
    return values[0] if len(values) == 1 else "|".join(str(v) for v in values)


# -- definitions ------------------------------------------------------------------------------


def partitions_def_for(data: StreamDescription) -> dg.PartitionsDefinition | None:
    """The default partitions of a stream (see the module doc); None when unpartitioned."""
    dims = dimensions_of(data.slicer)
    if dims is None:
        logger.warning(
            "stream %r of source %r: its slicer (%s) has more than two dimensions or a kind "
            "Dagster partitions cannot express; the stream is unpartitioned and read "
            "incrementally from the state table",
            data.stream_name,
            data.source_name,
            type(data.slicer).__name__,
        )
        return None
    if not dims:
        return None
    defs = [_dimension_def(d, data) for d in dims]
    if len(defs) == 1:
        return defs[0]
    names = _unique([d.name for d in dims])
    return dg.MultiPartitionsDefinition(dict(zip(names, defs, strict=True)))


def _unique(names: list[str]) -> list[str]:
    return names if len(set(names)) == len(names) else [f"{n}_{i}" for i, n in enumerate(names)]


def _dimension_def(dim: Dimension, data: StreamDescription) -> dg.PartitionsDefinition:
    if dim.kind == "datetime":
        return date_partitions_def(dim.slicer, data.stream_name)
    if dim.kind == "list":
        keys = list(dict.fromkeys(sanitize_key(v) for v in dim.slicer.values))
        return dg.StaticPartitionsDefinition(keys)
    return dg.DynamicPartitionsDefinition(
        name=dynamic_partitions_name(data.source_name, data.stream_name)
    )


# -- keys back to slices ----------------------------------------------------------------------


def router_slices(router: PartitionRouter) -> dict[str, dict]:
    """Every partition of a router by its key (reads parent streams for substream routers)."""
    return {sanitize_key(partition_value(p)): p for p in router.partitions({})}


def slices_for_partitions(
    stream: Stream,
    partitions_def: dg.PartitionsDefinition,
    keys: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> list[tuple[str, dict]]:
    """The engine slice of each partition key, in the order of ``keys``.

    Only the partitions definitions this module builds (or ones of the same shape) can be mapped:
    a time window per date cursor, static or dynamic keys per router, two of them in a
    multi-partitions definition.
    """
    dims = dimensions_of(stream.slicer)
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
        names = _unique([d.name for d in dims])
        defs = {p.name: p.partitions_def for p in partitions_def.partitions_defs}
        if set(names) != set(defs):
            raise PartitionMappingError(
                f"stream {stream.name!r}: multi-partition dimensions {sorted(defs)} do not match "
                f"the stream's slicing dimensions {names}; name them alike"
            )
        mappers = {
            n: _DimensionKeys(d, defs[n], stream.name, progress)
            for n, d in zip(names, dims, strict=True)
        }
        result = []
        for key in keys:
            parts = _split_multi_key(partitions_def, key)
            merged: dict = {}
            for name in reversed(names):  # earlier dimensions win, as in the engine's product
                merged.update(mappers[name].slice_for(parts[name]))
            result.append((key, merged))
        return result
    if len(dims) != 1:
        raise PartitionMappingError(
            f"stream {stream.name!r} is sliced on {len(dims)} dimensions but its partitions "
            "definition has one; use a MultiPartitionsDefinition"
        )
    mapper = _DimensionKeys(dims[0], partitions_def, stream.name, progress)
    return [(key, mapper.slice_for(key)) for key in keys]


def _split_multi_key(definition: dg.MultiPartitionsDefinition, key: str) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return dict(definition.get_partition_key_from_str(key).keys_by_dimension)


class _DimensionKeys:
    """Keys of one dimension to the part of the slice they select.

    A parent id is turned into its slice directly when the id is all the slice holds
    (:meth:`SubstreamPartitionRouter.partition_for_value`); otherwise the router's partitions
    are read lazily, only until every key asked for is found (``progress`` hears about a long
    parent read).
    """

    def __init__(
        self,
        dim: Dimension,
        partitions_def: Any,
        stream_name: str,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.dim, self.partitions_def, self.stream_name = dim, partitions_def, stream_name
        self._found: dict[str, dict] = {}
        self._partitions: Iterator[dict] | None = None
        self._read = 0
        self._progress = progress

    def slice_for(self, key: str) -> dict:
        if self.dim.kind == "datetime":
            return date_slice_for_key(self.dim.slicer, self.partitions_def, key, self.stream_name)
        if self.dim.kind == "substream" and not _HASHED_KEY.fullmatch(key):
            direct = self.dim.slicer.partition_for_value(key)
            if direct is not None:
                return direct
        found = self._scan(key)
        if found is None:
            raise PartitionMappingError(
                f"stream {self.stream_name!r} has no slice for partition {key!r}: the "
                f"{self.dim.kind} router no longer yields it (the parent record or list value "
                "is gone, or the manifest changed since the key was registered)"
            )
        return found

    def _scan(self, key: str) -> dict | None:
        if self._partitions is None:
            self._partitions = iter(self.dim.slicer.iter_partitions({}))
        while key not in self._found:
            partition = next(self._partitions, None)
            if partition is None:
                break
            self._found.setdefault(sanitize_key(partition_value(partition)), partition)
            self._read += 1
            if self._progress is not None:
                self._progress(self._read)
        return self._found.get(key)
