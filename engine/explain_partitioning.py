"""The Dagster partitioning a stream will get, for `explain`, from its built slicer.

The rules are those of ``dagster_declarative.partitions.dimensions_of``, restated here so that
the engine never imports Dagster.
"""

from __future__ import annotations

import itertools
from typing import Any

from engine.slicing.base import SingleSlice
from engine.slicing.combined import CartesianProductRouter
from engine.slicing.date_cadence import cadence_of
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.list_router import ListPartitionRouter
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import LastPartitionState, PartitionRouter
from engine.slicing.substream import SubstreamPartitionRouter

_EXAMPLE_KEYS = 3


def _dimensions(slicer: Any) -> list[dict[str, Any]] | None:
    """The partitionable axes of a slicer ([] when unsliced), or None when the integration reads
    it unpartitioned."""
    if isinstance(slicer, SingleSlice):
        return []
    if isinstance(slicer, LastPartitionState):
        return _dimensions(slicer.router)
    if isinstance(slicer, DatetimeBasedCursor):
        return [_date_dimension(slicer)] if slicer.windows_by_step else []
    if isinstance(slicer, PerPartitionCursor):
        routers = _router_dimensions(slicer.router)
        if routers is None or len(routers) != 1 or not slicer.datetime_cursor.windows_by_step:
            return None
        return [*routers, _date_dimension(slicer.datetime_cursor)]
    if isinstance(slicer, PartitionRouter):
        routers = _router_dimensions(slicer)
        return routers if routers is not None and len(routers) <= 2 else None
    return None


def _date_dimension(cursor: DatetimeBasedCursor) -> dict[str, Any]:
    """The cadence of the date partitions and how their first keys map to engine slices."""
    windows = cursor.describe()
    cadence = cadence_of(windows)
    dimension: dict[str, Any] = {"kind": cadence.kind, "step": str(windows.step)}
    if cadence.cron:
        dimension["cron"] = cadence.cron
    starts = [windows.start]
    for _ in range(_EXAMPLE_KEYS):
        starts.append(windows.step.add_to(starts[-1]))
    dimension["examples"] = [
        {
            "key": start.strftime(cadence.key_format),
            "slice": cursor.slice_for_window(start, end, clamp=False),
        }
        for start, end in itertools.pairwise(starts)
    ]
    return dimension


def _router_dimensions(router: Any) -> list[dict[str, Any]] | None:
    if isinstance(router, ListPartitionRouter):
        return [{"kind": "static", "by": router.cursor_field, "keys": len(router.values)}]
    if isinstance(router, SubstreamPartitionRouter):
        return [
            {
                "kind": "dynamic",
                "by": sorted({c.partition_field for c in router.parent_stream_configs}),
                "parents": list(router.parent_stream_names),
            }
        ]
    if isinstance(router, CartesianProductRouter):
        parts = [_router_dimensions(r) for r in router.routers]
        if any(p is None for p in parts):
            return None
        return [d for p in parts for d in p or ()]
    return None


def partitioning(slicer: Any) -> dict[str, Any]:
    """The Dagster partitioning a stream with this slicer gets from the integration."""
    dimensions = _dimensions(slicer)
    if dimensions is None:
        return {
            "kind": "none",
            "reason": f"its slicer ({type(slicer).__name__}) has more than two dimensions or a "
            "kind partitions cannot express: read unpartitioned, incrementally",
        }
    if not dimensions:
        return {"kind": "none", "reason": "the stream is not sliced"}
    if len(dimensions) == 1:
        return dimensions[0]
    return {"kind": "multi", "dimensions": dimensions}
