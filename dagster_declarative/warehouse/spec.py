"""What callers hand a destination and what they get back.

These types are the whole contract between the Dagster layer and the warehouse writers: a table is
described by the stream's namespace, name, JSON schema and primary key; a write says how the new
rows relate to the rows already there (`WriteMode`); the result carries what the materialization
metadata shows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Record = Mapping[str, Any]
BeforeCommit = Callable[[Any], None]


class WriteMode(enum.Enum):
    """How the rows of one write replace the rows already in the table.

    Every mode runs in one transaction, so readers see either the old rows or the new ones.
    For a table with a primary key, every mode also keeps exactly one row per key (the newest).
    """

    REPLACE_PARTITION = "replace_partition"
    """Delete the partition's rows, then insert the new ones: re-runs never duplicate."""
    UPSERT = "upsert"
    """Replace the rows whose primary key arrives again and insert the others (needs a key)."""
    REPLACE_TABLE = "replace_table"
    """Swap the whole table content for the new rows (full-refresh streams)."""


@dataclass(frozen=True)
class TableSpec:
    """One stream's table: `namespace` becomes the schema, `name` the table (both sanitised)."""

    namespace: str
    name: str
    json_schema: Mapping[str, Any]
    primary_key: Sequence[str] = ()


@dataclass(frozen=True)
class WriteResult:
    """What one write did, in the shape the materialization metadata needs."""

    table_name: str
    rows_written: int
    row_count: int
    columns: list[tuple[str, str]]
    rows_by_partition: dict[str | None, int] = field(default_factory=dict)


class Destination(Protocol):
    """A warehouse the records of a stream are written to."""

    def write(
        self,
        table: TableSpec,
        batches: Iterable[Sequence[Record]],
        *,
        mode: WriteMode,
        partition_key: str | None,
        run_id: str,
        before_commit: BeforeCommit | None = None,
    ) -> WriteResult:
        """Write the records of `batches` (consumed lazily, one batch in memory at a time).

        `before_commit(handle)` runs inside the write transaction just before it commits, with the
        connection the data was written on, so that a state store living in the same database can
        commit the cursor state together with the rows. If it raises, nothing is written.
        """
        ...

    def write_partitions(
        self,
        table: TableSpec,
        parts: Iterable[tuple[str | None, Iterable[Sequence[Record]]]],
        *,
        mode: WriteMode,
        run_id: str,
        before_commit: BeforeCommit | None = None,
    ) -> WriteResult:
        """Write several partitions, each ``(partition key, batches)``, in ONE transaction.

        A single-run backfill writes its partitions in groups this way: one merge instead of one
        per partition. Parts are consumed in order, lazily, like `write`'s batches.
        """
        ...

    def same_database(self, url: str) -> bool:
        """Whether the SQLAlchemy `url` names the database this destination writes to."""
        ...

    def row_count(self, table: TableSpec) -> int:
        """Rows in the table (0 when it does not exist yet)."""
        ...

    def close(self) -> None:
        """Release connections; the destination is not used afterwards."""
        ...
