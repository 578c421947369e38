"""Builders for stream slicers: the stream's incremental cursor and its partition routers."""

from __future__ import annotations

from typing import Any

from engine.errors import UnsupportedComponentError
from engine.factory.context import BuildContext
from engine.slicing.base import SingleSlice, Slicer


def build_slicer(
    ctx: BuildContext, stream: dict, retriever: dict, path: str
) -> tuple[Slicer, list[str]]:
    """The slicer of a stream, and the names of the parent streams it reads."""
    cursor: Any = stream.get("incremental_sync")
    routers: Any = retriever.get("partition_router")
    if cursor is None and not routers:
        return SingleSlice(), []
    raise UnsupportedComponentError(
        "stream slicing (incremental_sync / partition_router) is not supported yet",
        path=f"{path}.incremental_sync"
        if cursor is not None
        else f"{path}.retriever.partition_router",
    )
