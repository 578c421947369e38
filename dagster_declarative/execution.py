"""Running a stream inside its asset's op: slices read, rows written, state saved, events yielded.

A run covers one or more *units*: a partition (one engine slice) or, for an unpartitioned stream,
the whole incremental read (all its slices, resumed from the state table). The engine reads every
slice of the run through one `iter_slices` pipeline (concurrently when configured); each unit's
records stream into its own warehouse write, and the unit's cursor state is saved only after
that write committed — inside the same transaction when warehouse and state share a database —
so a crash never leaves state ahead of data. Each unit then yields its own materialization.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_declarative.checks import SchemaChecker
from dagster_declarative.partitions import slices_for_partitions
from dagster_declarative.resource import DeclarativeSourceResource
from dagster_declarative.translator import StreamDescription, sanitize_name
from dagster_declarative.warehouse import Destination, TableSpec, WriteMode
from engine import DeclarativeSource, EngineError, Manifest
from engine.http.client import RequestStats
from engine.reader import DONE, SliceEvent, iter_slices
from engine.state.store import StateStore
from engine.stream import Stream

UNPARTITIONED = ""
"""Partition name of an unpartitioned stream's row in the state table."""


@dataclass(frozen=True)
class StreamTarget:
    """Everything an op needs to materialize one stream (fixed when definitions are built)."""

    manifest: Manifest
    description: StreamDescription
    asset_key: dg.AssetKey
    partitions_def: dg.PartitionsDefinition | None
    check_schema: bool


@dataclass
class _Unit:
    partition_key: str | None
    slices: list[dict]
    state: dict[str, Any] | None = None


def materialize_stream(
    context: dg.AssetExecutionContext, resource: DeclarativeSourceResource, target: StreamTarget
) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
    source = resource.open_source(target.manifest)
    try:
        yield from _Run(context, resource, source, target).execute()
    except EngineError as error:
        raise dg.Failure(description=source.masker.mask(str(error))) from None
    finally:
        source.close()


class _Run:
    def __init__(
        self,
        context: dg.AssetExecutionContext,
        resource: DeclarativeSourceResource,
        source: DeclarativeSource,
        target: StreamTarget,
    ) -> None:
        self.context, self.resource, self.source, self.target = context, resource, source, target
        self.data = target.description
        self.stream: Stream = source.stream(self.data.stream_name)
        self.mask = source.masker.mask
        self.checker = SchemaChecker(self.data.json_schema) if target.check_schema else None

    def execute(self) -> Iterator[dg.AssetMaterialization | dg.AssetCheckResult]:
        self.source.validate_config()
        store = self.resource.open_state_store()
        destination = self.resource.open_destination()
        try:
            units = self._units(store)
            flat = [s for unit in units for s in unit.slices]
            events = iter_slices(self.stream, flat, self.source.concurrency)
            pending: dict[int, deque[SliceEvent]] = defaultdict(deque)
            first = 0
            for unit in units:
                indexes = range(first, first + len(unit.slices))
                first += len(unit.slices)
                yield self._write_unit(unit, indexes, events, pending, store, destination)
        finally:
            destination.close()
            store.dispose()
        if self.checker is not None:
            yield self.checker.result(self.target.asset_key)

    def _units(self, store: StateStore) -> list[_Unit]:
        partitions_def = self.target.partitions_def
        if partitions_def is None:
            state = store.load(self.data.source_name, self.data.stream_name, UNPARTITIONED)
            slices = self.stream.slices(state if self.stream.cursor is not None else None)
            return [_Unit(None, [dict(s) for s in slices])]
        keys = list(self.context.partition_keys)
        return [
            _Unit(key, [dict(s)])
            for key, s in slices_for_partitions(self.stream, partitions_def, keys)
        ]

    def _write_unit(
        self,
        unit: _Unit,
        indexes: range,
        events: Iterator[SliceEvent],
        pending: dict[int, deque[SliceEvent]],
        store: StateStore,
        destination: Destination,
    ) -> dg.AssetMaterialization:
        label = unit.partition_key or "all slices"
        totals, started = RequestStats(), time.monotonic()
        for stream_slice in unit.slices:
            self.context.log.info(self.mask(f"[{label}] slice {_bounds(stream_slice)}: started"))

        def batches() -> Iterator[list[dict]]:
            batch: list[dict] = []
            done = 0
            while done < len(indexes):
                event = _next_event(indexes, events, pending)
                if event.kind == DONE:
                    done += 1
                    totals.add(event.stats)
                    self._log_slice_done(label, event)
                    if done == len(indexes) and self.stream.cursor is not None:
                        unit.state = self.stream.cursor.state()
                    continue
                record = event.record or {}
                if self.checker is not None:
                    self.checker.observe(record)
                batch.append(record)
                if len(batch) >= self.resource.batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch

        save_state = self._state_saver(unit, store)
        shares_database = destination.same_database(self.resource.get_state_url())
        result = destination.write(
            self._table_spec(),
            batches(),
            mode=self._mode(),
            partition_key=unit.partition_key,
            run_id=self.context.run_id,
            before_commit=save_state if shares_database else None,
        )
        if not shares_database:
            save_state(None)
        return self._materialization(unit, totals, result, time.monotonic() - started)

    def _state_saver(self, unit: _Unit, store: StateStore) -> Any:
        def save(connection: Any) -> None:
            if unit.state is None:
                return
            store.save(
                self.data.source_name,
                self.data.stream_name,
                unit.partition_key or UNPARTITIONED,
                unit.state,
                run_id=self.context.run_id,
                connection=connection,
            )

        return save

    def _log_slice_done(self, label: str, event: SliceEvent) -> None:
        stats = event.stats
        message = (
            f"[{label}] slice {_bounds(event.stream_slice)}: done, {stats.records} records, "
            f"{stats.pages} pages, {stats.requests} requests, {stats.retries} retries, "
            f"{event.seconds:.2f}s"
        )
        log = self.context.log.warning if stats.retries else self.context.log.info
        log(self.mask(message))

    def _table_spec(self) -> TableSpec:
        return TableSpec(
            namespace=sanitize_name(self.data.source_name),
            name=sanitize_name(self.data.stream_name),
            json_schema=self.data.json_schema,
            primary_key=self.data.flat_primary_key,
        )

    def _mode(self) -> WriteMode:
        if self.target.partitions_def is not None:
            return WriteMode.REPLACE_PARTITION
        return WriteMode.UPSERT if self.data.primary_key else WriteMode.REPLACE_TABLE

    def _materialization(
        self, unit: _Unit, stats: RequestStats, result: Any, seconds: float
    ) -> dg.AssetMaterialization:
        metadata: dict[str, Any] = {
            "records": stats.records,
            "rows_written": result.rows_written,
            "pages": stats.pages,
            "requests": stats.requests,
            "retries": stats.retries,
            "bytes": stats.bytes,
            "seconds": round(seconds, 3),
            "slices": len(unit.slices),
            "dagster/table_name": result.table_name,
            "dagster/row_count": result.row_count,
        }
        if unit.state is not None:
            metadata["cursor"] = dg.MetadataValue.json(unit.state)
        if len(unit.slices) == 1:
            metadata.update(_slice_bounds(unit.slices[0]))
        return dg.AssetMaterialization(
            asset_key=self.target.asset_key,
            partition=unit.partition_key,
            metadata={k: _masked(v, self.mask) for k, v in metadata.items()},
        )


def _next_event(
    indexes: range, events: Iterator[SliceEvent], pending: dict[int, deque[SliceEvent]]
) -> SliceEvent:
    """The next event of a slice in ``indexes``; events of later units wait in ``pending``."""
    for index in indexes:
        if pending[index]:
            return pending[index].popleft()
    for event in events:
        if event.index in indexes:
            return event
        pending[event.index].append(event)
    raise RuntimeError("the engine stopped before every slice of the run was read")


def _slice_bounds(stream_slice: dict) -> dict[str, str]:
    """Slice fields as metadata (``slice/start_time`` ...), leaving out parents' own slices."""
    return {f"slice/{k}": str(v) for k, v in stream_slice.items() if k != "parent_slice"}


def _bounds(stream_slice: dict) -> str:
    fields = _slice_bounds(stream_slice)
    return ", ".join(f"{k[6:]}={v}" for k, v in fields.items()) or "{}"


def _masked(value: Any, mask: Any) -> Any:
    return mask(value) if isinstance(value, str) else value
