"""Running a stream inside its asset's op: slices read, rows written, state saved, events yielded.

A run covers one or more *units*: a partition (one engine slice) or, for an unpartitioned stream,
the whole incremental read (all its slices, resumed from the state table). The engine reads every
slice of the run through one `iter_slices` pipeline (concurrently when configured); each unit's
records stream into its own warehouse write, and the unit's cursor state is saved only after
that write committed — inside the same transaction when warehouse and state share a database —
so a crash never leaves state ahead of data. Each unit then yields its own materialization.
"""

from __future__ import annotations

import datetime
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_declarative.checks import SchemaChecker
from dagster_declarative.parent_ids import ChildKeys
from dagster_declarative.partitions import slices_for_partitions
from dagster_declarative.resource import DeclarativeSourceResource
from dagster_declarative.translator import StreamDescription, sanitize_name
from dagster_declarative.warehouse import Destination, TableSpec, WriteMode
from engine import DeclarativeSource, EngineError, Manifest
from engine.http.client import RequestStats
from engine.reader import DONE, SliceEvent, iter_slices
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import partition_of
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
    children: tuple[ChildKeys, ...] = ()
    """Child streams whose dynamic partitions this stream's record ids feed."""


@dataclass
class _Unit:
    partition_key: str | None
    slices: list[dict]
    state: dict[str, Any] | None = None
    resumed: bool = False
    """A date window read from its stored cursor onwards (upserted, not replaced)."""


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
        units = [
            _Unit(key, [dict(s)])
            for key, s in slices_for_partitions(self.stream, partitions_def, keys)
        ]
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            for unit in units:
                self._resume_open_window(unit, partitions_def, store)
        return units

    def _resume_open_window(
        self, unit: _Unit, partitions_def: dg.TimeWindowPartitionsDefinition, store: StateStore
    ) -> None:
        """A window that was still open when last read continues from its stored cursor.

        Closed windows are always re-read whole (a backfill repairs them); the running window of
        an hourly schedule only fetches what is new. Resuming needs a primary key, because the
        rows before the cursor stay and the new ones are upserted.
        """
        cursor = self.stream.cursor
        if not isinstance(cursor, DatetimeBasedCursor) or not self.data.primary_key:
            return
        stored = store.get(self.data.source_name, self.data.stream_name, unit.partition_key or "")
        if stored is None:
            return
        window = partitions_def.time_window_for_partition_key(unit.partition_key or "")
        value = stored.state.get(cursor.cursor_field)
        if stored.updated_at >= window.end or not value:
            return
        position = cursor.parse(value)
        if cursor.lookback_window is not None:
            position = cursor.lookback_window.subtract_from(position)
        if not window.start <= position < window.end:
            return
        unit.slices = [cursor.slice_for_window(position, window.end)]
        unit.state, unit.resumed = stored.state, True

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
                    if done == len(indexes):
                        unit.state = self._unit_state(unit)
                    continue
                record = event.record or {}
                if self.checker is not None:
                    self.checker.observe(record)
                batch.append(record)
                if len(batch) >= self.resource.batch_size:
                    self._collect_child_keys(batch, child_keys)
                    yield batch
                    batch = []
            if batch:
                self._collect_child_keys(batch, child_keys)
                yield batch

        child_keys: dict[str, dict[str, None]] = {}

        save_state = self._state_saver(unit, store)
        shares_database = destination.same_database(self.resource.get_state_url())
        result = destination.write(
            self._table_spec(),
            batches(),
            mode=WriteMode.UPSERT if unit.resumed else self._mode(),
            partition_key=unit.partition_key,
            run_id=self.context.run.run_id,
            before_commit=save_state if shares_database else None,
        )
        if not shares_database:
            save_state(None)
        for name, keys in child_keys.items():
            self.context.instance.add_dynamic_partitions(name, list(keys))
            self.context.log.info(f"[{label}] registered {len(keys)} partition key(s) of {name}")
        return self._materialization(unit, totals, result, time.monotonic() - started)

    def _collect_child_keys(self, batch: list[dict], found: dict[str, dict[str, None]]) -> None:
        for child in self.target.children:
            found.setdefault(child.partitions_name, {}).update(dict.fromkeys(child.keys(batch)))

    def _unit_state(self, unit: _Unit) -> dict[str, Any] | None:
        """The cursor state that belongs to this unit only.

        In a range run one cursor reads every window; a window without records of its own keeps
        the state it had (the cursor's position then lies in an earlier window).
        """
        cursor = self.stream.cursor
        if cursor is None:
            return None
        if unit.partition_key is None:
            return cursor.state()
        stream_slice = unit.slices[0]
        if isinstance(cursor, PerPartitionCursor):
            dates = cursor.datetime_cursor
            state = cursor.state()
            if cursor.global_cursor:
                return state.get("state") or unit.state
            partition = partition_of(
                stream_slice, (dates.partition_field_start, dates.partition_field_end)
            )
            entries = [e["cursor"] for e in state.get("states", []) if e["partition"] == partition]
            return entries[0] if entries else unit.state
        if isinstance(cursor, DatetimeBasedCursor):
            position = cursor.position()
            if position is None:
                return unit.state
            if isinstance(position, datetime.datetime):
                start, end = cursor.bounds(stream_slice)
                return cursor.state() if start <= position <= end else unit.state
        return cursor.state()

    def _state_saver(self, unit: _Unit, store: StateStore) -> Any:
        def save(connection: Any) -> None:
            if unit.state is None:
                return
            store.save(
                self.data.source_name,
                self.data.stream_name,
                unit.partition_key or UNPARTITIONED,
                unit.state,
                run_id=self.context.run.run_id,
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
