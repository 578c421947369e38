"""The durable cursor-state table: one row of state per (source, stream, partition).

Incremental syncs resume across runs and processes only if the state they resume from is exactly
the state the last successful run committed. So every write here is one atomic statement (a
dialect upsert, or a guarded update/insert pair elsewhere), a writer never moves a cursor
backwards unless told to, and a caller may write the state in its own transaction so that a
warehouse on the same database commits its rows and the state that covers them together.

Concurrent runs of one partition are refused through leases: a row in a second table that names
its owner and expires, so a crashed run never blocks the partition for good.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from engine.state.lease_rows import LeaseRows
from engine.state.sql import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    StateStoreError,
    build_tables,
    check_lengths,
    chunks,
    native_upsert,
    portable_upsert,
    tune_sqlite,
)

STATE_SCHEMA_VERSION = 1
"""Version of the table layout; stored in the meta table so a later release can migrate."""

_VERSION_KEY = {"name": "schema_version"}


@dataclass(frozen=True)
class StoredState:
    """One row of the state table as it was last written."""

    source: str
    stream: str
    partition: str
    state: dict
    cursor_key: str | None
    updated_at: datetime
    run_id: str | None


class StateStore(LeaseRows):
    """Cursor state of every (source, stream, partition), in any SQLAlchemy database.

    The engine is created at once but nothing connects until first use, so building a store (for
    example while Dagster loads definitions) never touches the database. Tables are created on
    first use, idempotently, also when several processes start together.
    """

    def __init__(self, url: str, *, table_prefix: str = "dd_") -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StateStoreError(
                "the state store URL is not a SQLAlchemy URL; expected e.g. "
                "'sqlite:////path/state.db' or 'postgresql+psycopg://user:password@host/db'"
            ) from None
        self.url: str = parsed.render_as_string(hide_password=True)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite":
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = sa.create_engine(parsed, **options)
        except (SQLAlchemyError, ImportError) as exc:
            raise StateStoreError(f"cannot open the state store at {self.url}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", tune_sqlite)
        self._metadata, self._state, self._lease, self._meta = build_tables(table_prefix)
        native = self.engine.dialect.name in ("sqlite", "postgresql")
        self._upsert = native_upsert if native else portable_upsert
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    @classmethod
    def sqlite_file(cls, path: str | os.PathLike) -> StateStore:
        """A store in a SQLite file (created with its parent directories if missing)."""
        database = str(Path(path).expanduser().absolute())
        return cls(sa.URL.create("sqlite", database=database).render_as_string())

    def __repr__(self) -> str:
        return f"StateStore({self.url!r})"

    def create_tables(self) -> None:
        """Create the tables and the schema version row unless they exist; check the version.

        Runs on first use by itself. Call it up front when you will write state inside your own
        SQLite transaction: creating tables needs the write lock that transaction would hold.
        """
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._errors("creating the state tables"):
                self._create_tables()
            self._schema_ready = True

    def _create_tables(self) -> None:
        # Processes starting together can all see a table missing; the losers' CREATE fails with
        # "already exists", and their next attempt finds that table. Each failure means one more
        # table exists, so one attempt per table plus a last one always suffices.
        attempts = len(self._metadata.tables) + 1
        for attempt in range(attempts):
            try:
                with self.engine.begin() as connection:
                    self._metadata.create_all(connection, checkfirst=True)
                    stored = self._stored_version(connection)
                    if stored is None:
                        version_row = {"value": str(STATE_SCHEMA_VERSION)}
                        self._upsert(connection, self._meta, _VERSION_KEY, version_row, sa.false())
                        stored = self._stored_version(connection)
                break
            except DBAPIError:
                if attempt == attempts - 1:
                    raise
        if stored != str(STATE_SCHEMA_VERSION):
            raise StateStoreError(
                f"the state tables at {self.url} have schema version {stored}, but this release "
                f"reads version {STATE_SCHEMA_VERSION}; use the release that wrote them or a "
                "different table_prefix"
            )

    def _stored_version(self, connection: Connection) -> str | None:
        # Read before writing: a store opened beside a caller's open SQLite transaction must not
        # need the write lock just to confirm the version.
        return connection.execute(
            sa.select(self._meta.c.value).where(self._meta.c.name == _VERSION_KEY["name"])
        ).scalar_one_or_none()

    def get(self, source: str, stream: str, partition: str = "") -> StoredState | None:
        """The stored row of one partition, or None if it has no state yet."""
        return self.get_many(source, stream, [partition]).get(partition)

    def get_many(
        self, source: str, stream: str, partitions: Sequence[str]
    ) -> dict[str, StoredState]:
        """The stored rows of several partitions (those with state), read in one transaction."""
        table = self._state
        found: dict[str, StoredState] = {}
        with self._transaction(f"reading state of {source}/{stream}") as connection:
            for chunk in chunks(partitions):
                query = sa.select(table).where(
                    table.c.source == source,
                    table.c.stream == stream,
                    table.c.partition.in_(chunk),
                )
                for row in connection.execute(query):
                    found[row.partition] = StoredState(
                        source=row.source,
                        stream=row.stream,
                        partition=row.partition,
                        state=orjson.loads(row.state),
                        cursor_key=row.cursor_key,
                        updated_at=row.updated_at,
                        run_id=row.run_id,
                    )
        return found

    def load(self, source: str, stream: str, partition: str = "") -> dict | None:
        """The state of one partition, or None if it has none yet."""
        stored = self.get(source, stream, partition)
        return None if stored is None else stored.state

    def load_all(self, source: str, stream: str) -> dict[str, dict]:
        """The state of every partition of a stream, keyed by partition."""
        table = self._state
        with self._transaction(f"reading state of {source}/{stream}") as connection:
            rows = connection.execute(
                sa.select(table.c.partition, table.c.state).where(
                    table.c.source == source, table.c.stream == stream
                )
            ).all()
        return {row.partition: orjson.loads(row.state) for row in rows}

    def stream_names(self, source: str) -> list[str]:
        """The streams that have state rows under ``source``."""
        table = self._state
        with self._transaction(f"listing the streams of {source}") as connection:
            query = sa.select(table.c.stream).where(table.c.source == source).distinct()
            return sorted(connection.execute(query).scalars())

    def save(
        self,
        source: str,
        stream: str,
        partition: str,
        state: dict,
        *,
        cursor_key: str | None = None,
        run_id: str | None = None,
        allow_backwards: bool = False,
        connection: Connection | None = None,
    ) -> bool:
        """Write the state of one partition; return whether it was written.

        ``cursor_key`` is a string that sorts like the cursor (fixed-width ISO-8601 UTC, a
        zero-padded number). A write whose key sorts before the stored key is refused (returns
        False) unless ``allow_backwards``; a write without a key, or over a row without one,
        always happens. With ``connection`` the write joins the caller's transaction and is
        committed (or rolled back) by the caller; otherwise it commits on its own.
        """
        values = _state_values(source, stream, partition, state, cursor_key, run_id)
        table = self._state
        update_if = None
        if cursor_key is not None and not allow_backwards:
            update_if = sa.or_(table.c.cursor_key.is_(None), table.c.cursor_key <= cursor_key)
        key = {"source": source, "stream": stream, "partition": partition}
        action = f"saving state of {source}/{stream}/{partition!r}"
        with self._transaction(action, caller=connection) as active:
            return self._upsert(active, table, key, values, update_if)

    def save_many(
        self,
        source: str,
        stream: str,
        states: Mapping[str, dict],
        *,
        run_id: str | None = None,
        connection: Connection | None = None,
    ) -> None:
        """`save` for several partitions at once, without cursor keys (so every one is
        written): a backfill saves hundreds, and one statement costs less than one each."""
        rows = [
            {
                "source": source,
                "stream": stream,
                "partition": partition,
                **_state_values(source, stream, partition, state, None, run_id),
            }
            for partition, state in states.items()
        ]
        if not rows:
            return
        action = f"saving state of {len(rows)} partitions of {source}/{stream}"
        with self._transaction(action, caller=connection) as active:
            if self._upsert is not native_upsert:
                for row in rows:
                    key = {name: row.pop(name) for name in ("source", "stream", "partition")}
                    self._upsert(active, self._state, key, row, None)
                return
            dialect = sqlite if active.dialect.name == "sqlite" else postgresql
            statement = dialect.insert(self._state)
            written = {name: statement.excluded[name] for name in _STATE_VALUES}
            statement = statement.on_conflict_do_update(
                index_elements=["source", "stream", "partition"], set_=written
            )
            active.execute(statement, rows)

    def reset(self, source: str, stream: str, partition: str | None = None) -> int:
        """Delete the state of one partition, or of every partition when None; return the count."""
        table = self._state
        where = [table.c.source == source, table.c.stream == stream]
        if partition is not None:
            where.append(table.c.partition == partition)
        with self._transaction(f"resetting state of {source}/{stream}") as connection:
            return connection.execute(sa.delete(table).where(*where)).rowcount

    def dispose(self) -> None:
        """Close the pooled connections (call before forking, and when done)."""
        self.engine.dispose()

    @contextmanager
    def _transaction(
        self, action: str, *, caller: Connection | None = None
    ) -> Iterator[Connection]:
        """A connection inside a transaction, with the tables in place and errors explained.

        The caller's connection is used as is and left for the caller to commit; otherwise a
        pooled connection's transaction commits on exit.
        """
        self.create_tables()
        with self._errors(action):
            if caller is not None:
                yield caller
                return
            with self.engine.begin() as connection:
                yield connection

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn database errors into a StateStoreError naming the store and the action.

        Only the driver's own message is kept: SQLAlchemy's full text repeats the SQL and its
        parameters, which is noise here.
        """
        try:
            yield
        except SQLAlchemyError as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            reason = next(iter(str(cause).strip().splitlines()), "")
            raise StateStoreError(
                f"{action} in the state store at {self.url} failed: "
                f"{type(cause).__name__}: {reason}"
            ) from exc


_STATE_VALUES = ("state", "cursor_key", "updated_at", "run_id")


def _state_values(
    source: str,
    stream: str,
    partition: str,
    state: dict,
    cursor_key: str | None,
    run_id: str | None,
) -> dict[str, Any]:
    """The columns of a state row besides its key, checked (lengths, a JSON object)."""
    check_lengths(
        source=source, stream=stream, partition=partition, cursor_key=cursor_key, run_id=run_id
    )
    if not isinstance(state, dict):
        raise StateStoreError(
            f"state of {source}/{stream}/{partition!r} must be a JSON object (a dict), "
            f"not {type(state).__name__}"
        )
    try:
        text = orjson.dumps(state).decode()
    except TypeError as exc:
        raise StateStoreError(
            f"state of {source}/{stream}/{partition!r} is not JSON-serializable: {exc}"
        ) from exc
    return {
        "state": text,
        "cursor_key": cursor_key,
        "updated_at": datetime.now(timezone.utc),
        "run_id": run_id,
    }
