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
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dagster_declarative.checks import check_output_name, evaluations
from dagster_declarative.parent_ids import ChildKeys
from dagster_declarative.partitions import slices_for_partitions
from dagster_declarative.resource import DeclarativeSourceResource
from dagster_declarative.run_log import RunLog
from dagster_declarative.translator import StreamDescription, sanitize_name
from dagster_declarative.units import Unit, materialization, unit_title
from dagster_declarative.warehouse import (
    Destination,
    PartialWriteError,
    TableSpec,
    WriteMode,
)
from dagster_declarative.warehouse.collector import heap_frozen
from engine import (
    DONE,
    DeclarativeSource,
    LeaseKeeper,
    LeasesHeld,
    Manifest,
    SchemaCheck,
    SecretMasker,
    SliceGroups,
    StateStore,
    StoredState,
    Stream,
    StreamPartitions,
    failure_text,
    iter_slices,
)

UNPARTITIONED = ""
"""Partition name of an unpartitioned stream's row in the state table."""
# A range run commits its partitions in chunks: often enough that materializations show up
# while a long backfill runs, seldom enough that per-commit costs (a warehouse merge, a state
# transaction) stay small next to the reading. A year of daily partitions fits one chunk.
CHUNK_UNITS = 400
CHUNK_SECONDS = 30.0

Event = dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.Output
"""What a run yields: a materialization and a schema check evaluation per unit, the check's
output once (Dagster expects every selected check's output)."""


@dataclass(frozen=True)
class StreamTarget:
    """Everything an op needs to materialize one stream (fixed when definitions are built)."""

    manifest: Manifest
    description: StreamDescription
    asset_key: dg.AssetKey
    partitions_def: dg.PartitionsDefinition | None
    check_schema: bool
    """Report each unit's schema verdict as the asset check's evaluation of its partition."""
    children: tuple[ChildKeys, ...] = ()
    """Child streams whose dynamic partitions this stream's record ids feed."""


def materialize_stream(
    context: dg.AssetExecutionContext, resource: DeclarativeSourceResource, target: StreamTarget
) -> Iterator[Event]:
    """Read the target's slices into the warehouse, yielding a materialization per partition.

    Whatever fails (the engine, ``requests``, a decoder, the warehouse, this module) fails the
    step with a masked message and no chained exception, so no secret reaches the event log.
    """
    masker = SecretMasker(resource.secret_values())
    try:
        # heap_frozen: Dagster's heap stays out of the run's collections
        with resource.open_source(target.manifest, masker) as source, heap_frozen():
            yield from _Run(context, resource, source, target).execute()
    except dg.Failure as failure:
        raise dg.Failure(description=masker.mask(failure.description or "")) from None
    except Exception as error:
        raise dg.Failure(description=masker.mask(failure_text(error))) from None


class _Run:
    def __init__(
        self,
        context: dg.AssetExecutionContext,
        resource: DeclarativeSourceResource,
        source: DeclarativeSource,
        target: StreamTarget,
    ) -> None:
        self.context, self.resource, self.target = context, resource, target
        self.data = target.description
        self.check_output = check_output_name(context) if target.check_schema else None
        self.checker = SchemaCheck(self.data.json_schema) if self.data.judges_records else None
        self.log = RunLog(context.log, lambda text: self.mask(text))
        self._use(source)

    def _use(self, source: DeclarativeSource) -> None:
        """Read with ``source`` from now on."""
        self.source = source
        self.stream: Stream = source.stream(self.data.stream_name)
        self.partitions = StreamPartitions(self.stream)
        self.mask = source.masker.mask
        source.client.on_wait = self.log.retry_wait

    def execute(self) -> Iterator[Event]:
        self.source.validate_config()
        store = self.resource.open_state_store()
        destination = self.resource.open_destination()
        keys = self._partition_keys()
        leases = LeaseKeeper(
            store,
            self.data.source_name,
            self.data.stream_name,
            self.context.run.run_id,
            ttl_seconds=self.resource.lease_ttl_seconds,
        )
        try:
            with leases, self.log:
                claims = leases.claim_in_turn(
                    [key or UNPARTITIONED for key in keys], self.resource.lease_wait_seconds
                )
                for turn, claimed in enumerate(claims):
                    if turn:  # a fresh cursor: the first turn's read moved it past these windows
                        self._reopen_source()
                    claimed_keys = claimed if keys != [None] else keys
                    yield from self._sync(claimed_keys, store, destination, leases)
                    leases.release(claimed)  # committed: a run waiting for them may go on
        except LeasesHeld as held:
            raise dg.Failure(description=str(held)) from None
        finally:
            destination.close()
            store.dispose()
            self.source.close()  # one a later turn reopened (closing the caller's twice is safe)
        if self.check_output is not None:  # each unit's evaluation is yielded with its chunk
            yield dg.Output(None, output_name=self.check_output)

    def _sync(
        self,
        keys: list[str | None],
        store: StateStore,
        destination: Destination,
        leases: LeaseKeeper,
    ) -> Iterator[Event]:
        """Read and write the units of ``keys`` (all leased by this run) in chunks."""
        units = self._units(store, keys)
        self.log.expect(len(units))
        flat = [s for unit in units for s in unit.slices]
        reading = SliceGroups(iter_slices(self.stream, flat, self.source.concurrency, pages=True))
        position = 0
        for unit in units:
            unit.indexes = range(position, position + len(unit.slices))
            position += len(unit.slices)
        queue = deque(units)
        while queue:
            yield from self._write_chunk(queue, reading, store, destination, leases)

    def _partition_keys(self) -> list[str | None]:
        """The run's partition keys, or ``[None]`` for an unpartitioned stream."""
        if self.target.partitions_def is None:
            return [None]
        return list(self.context.partition_keys)

    def _reopen_source(self) -> None:
        self.source.close()
        self._use(self.resource.open_source(self.target.manifest))

    def _units(self, store: StateStore, keys: list[str | None]) -> list[Unit]:
        partitions_def = self.target.partitions_def
        if partitions_def is None:
            state = store.load(self.data.source_name, self.data.stream_name, UNPARTITIONED)
            slices = self.stream.slices(state if self.stream.cursor is not None else None)
            return [Unit(None, [dict(s) for s in slices])]
        progress = self.log.parent_progress(f"the parent stream(s) of {self.data.stream_name}")
        units = [
            Unit(key, [dict(s)])
            for key, s in slices_for_partitions(self.stream, partitions_def, keys, progress)
        ]
        if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
            stored = store.get_many(self.data.source_name, self.data.stream_name, keys)
            for unit in units:
                self._resume_open_window(unit, partitions_def, stored.get(unit.partition_key or ""))
        return units

    def _resume_open_window(
        self,
        unit: Unit,
        partitions_def: dg.TimeWindowPartitionsDefinition,
        stored: StoredState | None,
    ) -> None:
        """A window that was still open when last read continues from its stored cursor.

        Closed windows are always re-read whole (a backfill repairs them); the running window of
        an hourly schedule only fetches what is new. Resuming needs a primary key, because the
        rows before the cursor stay and the new ones are upserted.
        """
        if stored is None or not self.data.primary_key:
            return
        window = partitions_def.time_window_for_partition_key(unit.partition_key or "")
        if stored.updated_at >= window.end:
            return
        resumed = self.partitions.resume_slice(stored.state, (window.start, window.end))
        if resumed is not None:
            unit.slices = [resumed]
            unit.state, unit.resumed = stored.state, True

    def _write_chunk(
        self,
        queue: deque[Unit],
        reading: SliceGroups,
        store: StateStore,
        destination: Destination,
        leases: LeaseKeeper,
    ) -> Iterator[Event]:
        """Write the next units of ``queue`` in one transaction; yield their materializations
        (and schema check evaluations).

        A single-run backfill writes its partitions in chunks (at most ``CHUNK_UNITS`` units, or
        what arrives within ``CHUNK_SECONDS``) instead of one transaction per partition, which
        costs the warehouse one merge per chunk. State of every unit in the chunk is saved only
        once the chunk's rows are committed.
        """
        mode = self._unit_mode(queue[0])
        written: list[Unit] = []
        started = time.monotonic()
        child_keys: dict[str, dict[str, None]] = {}

        def parts() -> Iterator[tuple[str | None, Iterator[list[dict]]]]:
            while queue and self._unit_mode(queue[0]) is mode:
                if written and (
                    len(written) >= CHUNK_UNITS or time.monotonic() - started >= CHUNK_SECONDS
                ):
                    return
                unit = queue.popleft()
                written.append(unit)
                yield unit.partition_key, self._unit_batches(unit, reading, child_keys)

        def completed() -> list[Unit]:
            return [unit for unit in written if unit.complete]

        def save_states(connection: Any) -> None:
            states = {
                unit.partition_key or UNPARTITIONED: unit.state
                for unit in completed()
                if unit.state is not None
            }
            store.save_many(
                self.data.source_name,
                self.data.stream_name,
                states,
                run_id=self.context.run.run_id,
                connection=connection,
            )

        shares_database = destination.same_database(self.resource.get_state_url())

        def before_commit(connection: Any) -> None:
            # A run whose leases lapsed (it stalled) and were taken over commits nothing more.
            leases.check([unit.partition_key or UNPARTITIONED for unit in completed()])
            if shares_database:
                save_states(connection)

        failure: Exception | None = None
        try:
            result = destination.write_partitions(
                self._table_spec(),
                parts(),
                mode=mode,
                run_id=self.context.run.run_id,
                before_commit=before_commit,
            )
        except PartialWriteError as partial:
            # The partitions read before the failing one are committed: keep them.
            result, failure = partial.result, partial.cause
        if not shares_database:
            store.create_tables()
            with store.engine.begin() as connection:  # one transaction for the chunk's states
                save_states(connection)
        for name, keys in child_keys.items():
            self.context.instance.add_dynamic_partitions(name, list(keys))
            self.context.log.info(f"registered {len(keys)} partition key(s) of {name}")
        done = completed()
        for index, unit in enumerate(done):
            yield materialization(
                unit,
                result,
                asset_key=self.target.asset_key,
                json_schema=self.data.json_schema,
                with_columns=index == len(done) - 1,
                mask=self.mask,
            )
        if self.check_output is not None:
            verdicts = [
                (unit.partition_key, unit.verdict) for unit in done if unit.verdict is not None
            ]
            yield from evaluations(self.context, verdicts)
        if failure is not None:
            raise failure

    def _unit_batches(
        self, unit: Unit, reading: SliceGroups, child_keys: dict[str, dict[str, None]]
    ) -> Iterator[list[dict]]:
        unit.started = time.monotonic()
        self.log.unit_started(unit_title(unit))
        batch: list[dict] = []
        size = self.resource.batch_size
        for event in reading.events(unit.indexes):
            if event.kind == DONE:
                unit.stats.add(event.stats)
                continue
            batch += event.records or ()
            if len(batch) >= size:  # a page of millions still goes to the writer in batches
                for start in range(0, len(batch), size):
                    part = batch[start : start + size]
                    self._took(part, child_keys)
                    yield part
                batch = []
        self.log.unit_done(unit.stats.records)
        # Pages without their records field (an error envelope sent with a 200), records that
        # are not objects, cursor values that do not parse: a run that looks done may not be.
        pages = [f"stream {self.stream.name!r}: {warning}" for warning in unit.stats.warnings]
        for warning in [*pages, *self.stream.take_warnings()]:
            self.context.log.warning(self.source.masker.mask(warning))
        unit.state = self._unit_state(unit)
        unit.seconds = time.monotonic() - unit.started
        if batch:
            self._took(batch, child_keys)
            yield batch
        if self.checker is not None:
            unit.verdict = self.checker.take()
            if unit.verdict.violations:
                self.context.log.warning(
                    self.mask(
                        f"{unit_title(unit)}: {unit.verdict.violations} of {unit.verdict.records}"
                        f" records break the stream's schema, e.g. {unit.verdict.examples[0]}"
                    )
                )
        unit.complete = True  # runs once the writer has taken (and converted) every batch

    def _took(self, batch: list[dict], found: dict[str, dict[str, None]]) -> None:
        """A batch on its way to the warehouse: checked, and its child partition keys kept."""
        if self.checker is not None:
            self.checker.observe(batch)
        for child in self.target.children:
            keys = child.parent.keys(batch)
            found.setdefault(child.partitions_name, {}).update(dict.fromkeys(keys))

    def _unit_state(self, unit: Unit) -> dict[str, Any] | None:
        """The cursor state that belongs to this unit only (the engine's rule)."""
        stream_slice = unit.slices[0] if unit.partition_key is not None else None
        return self.partitions.state_for(stream_slice, unit.state)

    def _table_spec(self) -> TableSpec:
        return TableSpec(
            namespace=sanitize_name(self.data.source_name),
            name=sanitize_name(self.data.stream_name),
            json_schema=self.data.json_schema,
            primary_key=self.data.flat_primary_key,
        )

    def _unit_mode(self, unit: Unit) -> WriteMode:
        if unit.resumed:
            return WriteMode.UPSERT
        if self.target.partitions_def is not None:
            return WriteMode.REPLACE_PARTITION
        return WriteMode.UPSERT if self.data.primary_key else WriteMode.REPLACE_TABLE
