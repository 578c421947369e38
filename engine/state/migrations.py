"""State migrations: rewriting a saved state into the shape a stream's cursor reads today.

Connectors change their state format (typically from one ``{partition_id: {cursor: value}}``
mapping to the per-partition ``states`` list) and publish a migration with the manifest, so a
user's saved state keeps working after an upgrade. Migrations run, in manifest order, on the
state a read starts from, before the stream picks its slices.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.http.client import RequestStats
from engine.slicing.base import Slice
from engine.streams.stream import Stream


class StateMigration(Protocol):
    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool: ...

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class LegacyToPerPartitionStateMigration:
    """``{"<parent id>": {"<cursor>": value}}`` -> ``{"states": [{"partition", "cursor"}]}``.

    Before per-partition state, substreams kept one cursor per parent id keyed by the id itself.
    ``partition_field`` is the key the stream's partition router puts the parent id under;
    ``cursor_field`` the one its cursor stores.
    """

    partition_field: str
    cursor_field: str

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        """As the reference decides: every value holds exactly the cursor, nothing else."""
        if not stream_state or "states" in stream_state:
            return False
        return all(
            isinstance(value, Mapping) and list(value) == [self.cursor_field]
            for value in stream_state.values()
        )

    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        return {
            "states": [
                {
                    "partition": {self.partition_field: key},
                    "cursor": {self.cursor_field: value[self.cursor_field]},
                }
                for key, value in stream_state.items()
            ]
        }


def migrate_state(
    migrations: Sequence[StateMigration], state: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """Apply every migration that says it applies, in order (each sees the previous result)."""
    if not state:
        return state
    for migration in migrations:
        if migration.should_migrate(state):
            state = migration.migrate(state)
    return state


class MigratingStream(Stream):
    """A stream whose starting state goes through the manifest's ``state_migrations`` first."""

    def __init__(self, *, state_migrations: Sequence[StateMigration], **fields: Any) -> None:
        super().__init__(**fields)
        self.state_migrations = list(state_migrations)

    def iter_slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        return super().iter_slices(migrate_state(self.state_migrations, state))


class StateDelegatingStream:
    """One stream name served by two streams: a full read without state, another with it.

    Published connectors (Stripe) list an API's objects directly on a first sync, and follow
    its change feed (``/events``) once a state exists, because the feed only reaches back
    30 days. The choice is made when the read picks its slices, from the state it starts
    from; everything the reader asks afterwards (cursor, records, state) comes from the stream
    chosen. Before any read, the full-refresh stream answers (that is also what a partitioned
    backfill, which starts from no state, reads). The catalog entry is the incremental
    stream's, since that is the stream that makes the name incremental.
    """

    def __init__(self, name: str, full_refresh: Stream, incremental: Stream) -> None:
        self.name = name
        self.full_refresh = full_refresh
        self.incremental = incremental
        self.active: Stream = full_refresh

    def __getattr__(self, attribute: str) -> Any:
        # Only reached for attributes this class does not define: the chosen stream's.
        return getattr(self.__dict__["active"], attribute)

    @property
    def supports_incremental(self) -> bool:
        return self.incremental.supports_incremental

    def slices(self, state: Mapping[str, Any] | None = None) -> list[Slice]:
        return list(self.iter_slices(state))

    def iter_slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        self.active = self.incremental if state else self.full_refresh
        return self.active.iter_slices(state)

    def read_slice(self, stream_slice: Slice, stats: RequestStats | None = None) -> Iterator[dict]:
        return self.active.read_slice(stream_slice, stats)

    def read_records(self, state: Mapping[str, Any] | None = None) -> Iterator[dict]:
        for stream_slice in self.slices(state):
            yield from self.read_slice(stream_slice)
            if self.active.cursor is not None:
                self.active.cursor.close_slice(stream_slice)

    def catalog_entry(self) -> dict[str, Any]:
        return {**self.incremental.catalog_entry(), "name": self.name}
