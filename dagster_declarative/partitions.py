"""A stream's partitioning (the engine's rule: ``engine/slicing/partitioning.py``) as Dagster
partitions, and Dagster partition keys back to the parts the engine turns into slices.

- a ``datetime`` dimension becomes time-window or listed-window partitions
  (``date_partitions.py``);
- a ``list`` dimension becomes static partitions;
- a ``substream`` dimension becomes dynamic partitions named ``<source>__<stream>``, registered
  when the parent is materialized or by the stream's discovery sensor;
- two dimensions become multi-partitions.

A stream the engine cannot partition stays unpartitioned and reads incrementally from the state
table; a log line says so when the definitions are built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import dagster as dg

from dagster_declarative.date_partitions import (
    PartitionMappingError,
    date_part_for_key,
    date_partitions_def,
)
from engine import Dimension, Partitioning, Stream, StreamPartitions, Window, safe_name

logger = logging.getLogger("dagster_declarative")


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
        return date_partitions_def(dim, stream_name)
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
    """What the engine selects one dimension's slice part by: a date window, or the key."""
    if dim.kind == "datetime":
        return date_part_for_key(partitions_def, key, stream_name)
    return key


def _split_multi_key(definition: dg.MultiPartitionsDefinition, key: str) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    return dict(definition.get_partition_key_from_str(key).keys_by_dimension)
