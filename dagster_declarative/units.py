"""A run's units (a partition, or an unpartitioned stream's whole read) and their events.

``execution.py`` reads and writes the units; this module holds what a unit is and the
materialization a finished unit yields (its metadata holds what a slice's log line would: see
``run_log.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dagster_declarative.translator import column_schema
from dagster_declarative.warehouse import WriteResult
from engine import RequestStats, SchemaVerdict


@dataclass
class Unit:
    """One partition of a run (``partition_key``), or an unpartitioned stream's read (None)."""

    partition_key: str | None
    slices: list[dict]
    state: dict[str, Any] | None = None
    resumed: bool = False
    """A date window read from its stored cursor onwards (upserted, not replaced)."""
    indexes: range = range(0)
    """Positions of the unit's slices in the run's one read."""
    stats: RequestStats = field(default_factory=RequestStats)
    started: float = 0.0
    seconds: float = 0.0
    complete: bool = False
    verdict: SchemaVerdict | None = None
    """The schema check's verdict on the unit's records, when the run checks them."""


def materialization(
    unit: Unit,
    result: WriteResult,
    *,
    asset_key: dg.AssetKey,
    json_schema: Mapping[str, Any],
    with_columns: bool,
    mask: Callable[[str], str],
) -> dg.AssetMaterialization:
    """The unit's event; ``with_columns`` adds the table's columns as the database has them
    (once per chunk: the UI shows those of the latest materialization).

    Dagster serialises every metadata entry of every event several times (a backfill of a year
    writes 365 of them), so the request numbers travel as one JSON entry, ``read``, rather than
    five; the rows a partition wrote are its ``dagster/partition_row_count`` (an unpartitioned
    read's are ``rows_written``)."""
    stats = unit.stats
    rows = result.rows_by_partition.get(unit.partition_key, 0)
    read: dict[str, Any] = {
        "pages": stats.pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "bytes": stats.bytes,
        "seconds": round(unit.seconds, 3),
    }
    if len(unit.slices) != 1:
        read["slices"] = len(unit.slices)
    metadata: dict[str, Any] = {
        "records": stats.records,
        "dagster/partition_row_count" if unit.partition_key is not None else "rows_written": rows,
        "dagster/table_name": result.table_name,
        "dagster/row_count": result.row_count,
        "read": dg.MetadataValue.json(read),
    }
    if with_columns:
        metadata["dagster/column_schema"] = column_schema(json_schema, result.columns)
    if unit.state is not None:
        metadata["cursor"] = dg.MetadataValue.json(unit.state)
    if len(unit.slices) == 1:
        metadata.update(_slice_bounds(unit.slices[0]))
    if unit.verdict is not None:  # records that break the stream's schema (none: the usual)
        metadata["schema_violations"] = unit.verdict.violations
        if unit.verdict.examples:
            metadata["schema_examples"] = dg.MetadataValue.json(unit.verdict.examples)
    return dg.AssetMaterialization(
        asset_key=asset_key,
        partition=unit.partition_key,
        description=mask(_summary(unit)),
        metadata={k: mask(v) if isinstance(v, str) else v for k, v in metadata.items()},
    )


def unit_title(unit: Unit) -> str:
    """How the run log names a unit: ``[2024-01-01] slice start_time=..., end_time=...``, or
    ``[all slices] 12 slices``."""
    count = len(unit.slices)
    what = f"slice {_bounds(unit.slices[0])}" if count == 1 else f"{count} slices"
    return f"[{unit.partition_key or 'all slices'}] {what}"


def _slice_bounds(stream_slice: dict) -> dict[str, str]:
    """Slice fields as metadata (``slice/start_time`` ...), leaving out parents' own slices."""
    return {f"slice/{k}": str(v) for k, v in stream_slice.items() if k != "parent_slice"}


def _summary(unit: Unit) -> str:
    """The materialization's description: the run log shows it as the event's message, so that a
    partition's one event reads as its slice's log line (filter the run's logs by "slice")."""
    stats = unit.stats
    return (
        f"{unit_title(unit)}: done, {stats.records} records, {stats.pages} pages, "
        f"{stats.requests} requests, {stats.retries} retries, {unit.seconds:.2f}s"
    )


def _bounds(stream_slice: dict) -> str:
    fields = _slice_bounds(stream_slice)
    return ", ".join(f"{k[6:]}={v}" for k, v in fields.items()) or "{}"
