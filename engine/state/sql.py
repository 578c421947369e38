"""The state store's tables, and the SQL that writes them atomically on each database.

SQLite and PostgreSQL insert-or-update in one statement (``ON CONFLICT``); other databases get
a guarded update/insert pair with the same contract. Keys are limited to `KEY_LENGTH` characters
on every database, so a key that one accepts the others accept too.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from engine.errors import EngineError

KEY_LENGTH = 255
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


class StateStoreError(EngineError, RuntimeError):
    """The state store cannot be opened, read or written; the message names the store and why."""


class _UtcDateTime(sa.TypeDecorator):
    """Timestamps that go in and come out as aware UTC datetimes on every dialect.

    SQLite keeps no zone (it stores the UTC wall time as text, which also sorts correctly);
    PostgreSQL returns the session's zone. Either way callers get UTC back.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def _key_columns() -> list[sa.Column]:
    # 3 x 255 characters stays within the primary-key size limit of MySQL's utf8mb4 indexes.
    return [
        sa.Column("source", sa.String(KEY_LENGTH), primary_key=True),
        sa.Column("stream", sa.String(KEY_LENGTH), primary_key=True),
        sa.Column("partition", sa.String(KEY_LENGTH), primary_key=True),
    ]


def build_tables(prefix: str) -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    metadata = sa.MetaData()
    # Cursor keys compare byte-wise; PostgreSQL would otherwise apply the database's locale.
    cursor_key_type = sa.String(KEY_LENGTH).with_variant(
        sa.String(KEY_LENGTH, collation="C"), "postgresql"
    )
    state = sa.Table(
        f"{prefix}state",
        metadata,
        *_key_columns(),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("cursor_key", cursor_key_type, nullable=True),
        sa.Column("updated_at", _UtcDateTime, nullable=False),
        sa.Column("run_id", sa.String(KEY_LENGTH), nullable=True),
    )
    lease = sa.Table(
        f"{prefix}state_lease",
        metadata,
        *_key_columns(),
        sa.Column("owner", sa.String(KEY_LENGTH), nullable=False),
        sa.Column("expires_at", _UtcDateTime, nullable=False),
    )
    meta = sa.Table(
        f"{prefix}state_meta",
        metadata,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(KEY_LENGTH), nullable=False),
    )
    return metadata, state, lease, meta


def tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes writers queue."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    # Switching a new file to WAL takes an exclusive lock that SQLite does not wait for, so when
    # processes open a new file together, the ones that lose the race retry here.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    cursor.close()


def native_upsert(
    connection: Connection,
    table: sa.Table,
    key: dict[str, str],
    values: dict[str, Any],
    update_if: sa.ColumnElement[bool] | None,
) -> bool:
    """Insert, or update when ``update_if`` holds, in one statement; True if a row was written."""
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table).values(**key, **values)
    statement = statement.on_conflict_do_update(
        index_elements=list(key), set_=values, where=update_if
    )
    # Without preserve_rowcount SQLAlchemy reports -1 for INSERTs on some drivers (psycopg).
    return connection.execute(statement.execution_options(preserve_rowcount=True)).rowcount > 0


def claim_many(
    connection: Connection,
    table: sa.Table,
    source: str,
    stream: str,
    partitions: Sequence[str],
    values: dict[str, Any],
    takeover: sa.ColumnElement[bool],
) -> set[str]:
    """`native_upsert` of many lease rows; the partitions written (those ``takeover`` refused
    are not returned).

    One statement executed with many parameter sets: SQLAlchemy batches them into multi-row
    INSERTs by rewriting the statement's text ("insertmanyvalues"), where a statement built with
    one VALUES row per partition would be compiled afresh, parameter by parameter (365
    partitions: 55-85 ms against 10-15 ms on SQLite, 55-85 against ~40 ms on PostgreSQL).
    """
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["source", "stream", "partition"],
        set_={name: statement.excluded[name] for name in values},
        where=takeover,
    ).returning(table.c.partition)
    rows = [
        {"source": source, "stream": stream, "partition": partition, **values}
        for partition in dict.fromkeys(partitions)
    ]
    return set(connection.execute(statement, rows).scalars()) if rows else set()


def portable_upsert(
    connection: Connection,
    table: sa.Table,
    key: dict[str, str],
    values: dict[str, Any],
    update_if: sa.ColumnElement[bool] | None,
) -> bool:
    """The same contract as `native_upsert` for dialects without ``ON CONFLICT``.

    The conditional update settles the common case (the row exists). Otherwise the insert runs in
    a savepoint: if another writer inserted the row first, the conditional update is retried
    against that row, so the guard still decides.
    """
    match = sa.and_(*(table.c[name] == value for name, value in key.items()))
    guarded = match if update_if is None else sa.and_(match, update_if)

    def update() -> bool:
        return connection.execute(sa.update(table).where(guarded).values(**values)).rowcount > 0

    if update():
        return True
    if connection.execute(sa.select(sa.literal(1)).where(match)).first() is not None:
        return False
    try:
        with connection.begin_nested():
            connection.execute(sa.insert(table).values(**key, **values))
    except IntegrityError:
        return update()
    return True


def key_match(
    table: sa.Table, source: str, stream: str, partition: str
) -> tuple[sa.ColumnElement[bool], ...]:
    return (table.c.source == source, table.c.stream == stream, table.c.partition == partition)


def chunks(items: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """Slices of at most `size` items: every database accepts that many IN-list parameters."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_lengths(**values: str | None) -> None:
    """Refuse over-long keys up front: SQLite would store them and PostgreSQL reject them."""
    for name, value in values.items():
        if value is not None and len(value) > KEY_LENGTH:
            raise StateStoreError(
                f"{name} {value[:40]!r}... is {len(value)} characters long; the state table "
                f"holds at most {KEY_LENGTH}"
            )
