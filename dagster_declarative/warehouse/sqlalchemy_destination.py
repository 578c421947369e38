"""Any database SQLAlchemy reaches by URL; SQLite is the plain fallback.

Rows are staged in a temporary table with batched inserts, each batch committed on its own so no
transaction stays open while the stream is read; the merge then runs in one transaction. SQLite
has no schemas, so there the namespace becomes a prefix of the table name
(`pokeapi__pokemon`). JSON values are stored as JSON text; timestamps in UTC (SQLite keeps them
as text without offset).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection
from sqlalchemy.schema import CreateIndex, CreateSchema, CreateTable, DropTable
from sqlalchemy.types import TypeEngine

from dagster_declarative.warehouse.base import BaseDestination
from dagster_declarative.warehouse.columns import (
    PARTITION_COLUMN,
    SEQUENCE_COLUMN,
    Column,
    ColumnType,
    TableLayout,
    plan_columns,
    reconcile_columns,
)
from dagster_declarative.warehouse.convert import BatchInfo, RowConverter, encode_json
from dagster_declarative.warehouse.errors import DestinationURLError
from dagster_declarative.warehouse.merge import merge_statements
from dagster_declarative.warehouse.naming import sanitize_identifier, short_hash
from dagster_declarative.warehouse.spec import BeforeCommit, Record, TableSpec, WriteMode
from dagster_declarative.warehouse.urls import parse_url, same_database

_PREPARE_ATTEMPTS = 3
_INDEXED_DIALECTS = ("sqlite", "postgresql")
"""Dialects whose tables get indexes on the key and partition columns. Index syntax and limits
vary elsewhere (MySQL cannot index a TEXT column without a prefix length), so other databases
run without them: correct, only slower on large tables."""
_SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
"""How long a SQLite write waits for another writer (a state store, a parallel run) to finish."""
Encoder = Callable[[Any], Any]


class SqlAlchemyDestination(BaseDestination):
    """Writes through a SQLAlchemy engine created from `url` (`engine_options` go to the engine)."""

    SQL_TYPES: dict[ColumnType, TypeEngine[Any]] = {
        ColumnType.STRING: sa.Text(),
        ColumnType.INTEGER: sa.BigInteger(),
        ColumnType.NUMBER: sa.Double(),
        ColumnType.BOOLEAN: sa.Boolean(),
        ColumnType.TIMESTAMP: sa.DateTime(timezone=True),
        ColumnType.DATE: sa.Date(),
        ColumnType.JSON: sa.Text(),
    }

    def __init__(self, url: str | URL, **engine_options: Any) -> None:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            engine_options.setdefault("connect_args", {"timeout": _SQLITE_BUSY_TIMEOUT_SECONDS})
            if (parsed.database or "") not in ("", ":memory:"):
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(parsed, pool_pre_ping=True, **engine_options)
        except (sa.exc.ArgumentError, ImportError) as error:
            shown = parsed.render_as_string(hide_password=True)
            raise DestinationURLError(
                f"Cannot open the warehouse {shown}: {type(error).__name__}: {error}. "
                "Check the URL's dialect and driver and that the driver package is installed."
            ) from error
        self.dialect = self.engine.dialect
        self._has_schemas = self.dialect.name != "sqlite"
        self._indexed = self.dialect.name in _INDEXED_DIALECTS
        if self.dialect.name == "sqlite":
            _make_sqlite_transactional(self.engine)

    def quote(self, identifier: str) -> str:
        return self.dialect.identifier_preparer.quote_identifier(identifier)

    def _locate(self, table: TableSpec) -> tuple[str | None, str]:
        namespace, name = sanitize_identifier(table.namespace), sanitize_identifier(table.name)
        if self._has_schemas:
            return namespace, name
        return None, sanitize_identifier(f"{namespace}__{name}")

    def _target(self, schema: str | None, name: str) -> str:
        return f"{self.quote(schema)}.{self.quote(name)}" if schema else self.quote(name)

    def _holds(self, sql_type: TypeEngine[Any]) -> tuple[ColumnType, ...]:
        """The logical types a reflected column type can hold (JSON fits in any text column)."""
        for kind, holds in (
            (sa.Boolean, (ColumnType.BOOLEAN,)),
            (sa.Integer, (ColumnType.INTEGER,)),
            ((sa.Float, sa.Numeric), (ColumnType.NUMBER,)),
            (sa.DateTime, (ColumnType.TIMESTAMP,)),
            (sa.Date, (ColumnType.DATE,)),
            (sa.JSON, (ColumnType.JSON,)),
            (sa.String, (ColumnType.STRING, ColumnType.JSON)),
        ):
            if isinstance(sql_type, kind):
                return holds
        return ()

    def _sa_table(self, name: str, columns: list[Column], **options: Any) -> sa.Table:
        return sa.Table(
            name,
            sa.MetaData(),
            *(sa.Column(column.name, self.SQL_TYPES[column.type]) for column in columns),
            **options,
        )

    def _prepare_table(self, table: TableSpec) -> TableLayout:
        """Create or evolve the table; retried because concurrent runs may race to create it."""
        attempt = 1
        while True:
            try:
                with self.engine.begin() as connection:
                    return self._evolve(connection, table)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == _PREPARE_ATTEMPTS:
                    raise
                attempt += 1

    def _evolve(self, connection: Connection, table: TableSpec) -> TableLayout:
        planned, key = plan_columns(table)
        schema, name = self._locate(table)
        if schema:
            connection.execute(CreateSchema(schema, if_not_exists=True))
        existing = self._reflect(connection, schema, name)
        columns, missing = reconcile_columns(
            planned, {column: self._holds(sql_type) for column, sql_type in existing.items()}
        )
        target = self._sa_table(name, columns, schema=schema)
        if not existing:
            connection.execute(CreateTable(target, if_not_exists=True))
        for column in missing if existing else ():
            sql_type = self.SQL_TYPES[column.type].compile(dialect=self.dialect)
            connection.execute(
                sa.text(
                    f"ALTER TABLE {self._target(schema, name)} "
                    f"ADD COLUMN {self.quote(column.name)} {sql_type}"
                )
            )
        for indexed in ((PARTITION_COLUMN,), key) if self._indexed else ():
            if indexed:
                index_name = f"ix_{name[:40]}_{short_hash(repr((schema, name, indexed)))}"
                index = sa.Index(index_name, *(target.c[column] for column in indexed))
                connection.execute(CreateIndex(index, if_not_exists=True))
        described = tuple(
            (column, sql_type.compile(dialect=self.dialect))
            for column, sql_type in self._reflect(connection, schema, name).items()
        )
        return TableLayout(schema, name, tuple(columns), key, described)

    def _reflect(
        self, connection: Connection, schema: str | None, name: str
    ) -> dict[str, TypeEngine[Any]]:
        inspector = sa.inspect(connection)
        if not inspector.has_table(name, schema=schema):
            return {}
        return {column["name"]: column["type"] for column in inspector.get_columns(name, schema)}

    @contextmanager
    def _open_stage(self, layout: TableLayout) -> Iterator[_SqlAlchemyStage]:
        with self.engine.connect() as connection:
            stage = _SqlAlchemyStage(self, connection, layout)
            try:
                yield stage
            finally:
                stage.drop()

    def _type_encoders(self) -> dict[ColumnType, Encoder]:
        """How values of a column type are turned into what the driver takes."""
        return {ColumnType.JSON: self._encode_json}

    def _encoders(self, layout: TableLayout) -> list[Encoder | None]:
        """One encoder per staged column (None: the value goes as it is)."""
        by_type = self._type_encoders()
        return [by_type.get(column.type) for column in layout.columns] + [None]

    def _encode_json(self, value: Any) -> str:
        return encode_json(value).decode()

    def _load(self, connection: Connection, staging: sa.Table, rows: list[list[Any]]) -> None:
        """Append encoded rows to the staging table (batched executemany)."""
        names = [column.name for column in staging.columns]
        connection.execute(sa.insert(staging), [dict(zip(names, row, strict=True)) for row in rows])

    def _before_merge(
        self, connection: Connection, layout: TableLayout, target: str, staging: sa.Table
    ) -> None:
        """Index the staged keys, so matching them against the table stays O(n log n)."""
        if layout.key and self._indexed:
            index = sa.Index(f"{staging.name}_key", *(staging.c[name] for name in layout.key))
            connection.execute(CreateIndex(index))

    def same_database(self, url: str) -> bool:
        other = parse_url(url)
        return other is not None and same_database(self.engine.url, other)

    def row_count(self, table: TableSpec) -> int:
        schema, name = self._locate(table)
        with self.engine.connect() as connection:
            if not sa.inspect(connection).has_table(name, schema=schema):
                return 0
            return connection.execute(
                sa.text(f"SELECT COUNT(*) FROM {self._target(schema, name)}")
            ).scalar_one()

    def close(self) -> None:
        self.engine.dispose()


# Rows loaded into a staging table at once (see `_SqlAlchemyStage.append`).
LOAD_ROWS = 5_000


class _SqlAlchemyStage:
    """A temporary table on the write's own connection (temporary tables are per connection)."""

    def __init__(
        self, destination: SqlAlchemyDestination, connection: Connection, layout: TableLayout
    ) -> None:
        self._destination = destination
        self._connection = connection
        self._layout = layout
        self._encoders = destination._encoders(layout)
        self._converter = RowConverter(layout)
        self.table = destination._sa_table(
            f"_dd_staging_{uuid.uuid4().hex[:12]}",
            [*layout.columns, Column(SEQUENCE_COLUMN, ColumnType.INTEGER)],
            prefixes=["TEMPORARY"],
        )
        with connection.begin():
            connection.execute(CreateTable(self.table))
        self._pending: list[list[Any]] = []
        self._failed: Exception | None = None

    def append(self, records: Sequence[Record], info: BatchInfo) -> None:
        """Convert now; load once `LOAD_ROWS` rows wait (a load is one round trip and one
        transaction, too many for batches of a page of records)."""
        encoders = self._encoders
        self._pending.extend(
            [
                value if value is None or encode is None else encode(value)
                for value, encode in zip(row, encoders, strict=True)
            ]
            for row in self._converter.convert(records, info)
        )
        if len(self._pending) >= LOAD_ROWS:
            self._load_pending()

    def rewind(self, rows: int) -> None:
        self._load_pending()
        sequence = self.table.c[SEQUENCE_COLUMN]
        with self._connection.begin():
            self._connection.execute(self.table.delete().where(sequence > rows))

    def _load_pending(self) -> None:
        """Load the waiting rows. They may belong to parts already counted as written, so a
        failed load fails the whole write: every later call raises it again."""
        if self._failed is not None:
            raise self._failed
        pending, self._pending = self._pending, []
        if pending:
            try:
                with self._connection.begin():
                    self._destination._load(self._connection, self.table, pending)
            except Exception as error:
                self._failed = error
                raise

    def merge(
        self,
        mode: WriteMode,
        partition_keys: Sequence[str | None],
        before_commit: BeforeCommit | None,
    ) -> int:
        self._load_pending()
        destination, connection, layout = self._destination, self._connection, self._layout
        target = destination._target(layout.schema, layout.name)
        staging = destination.quote(self.table.name)
        statements = merge_statements(
            layout,
            target=target,
            staging=staging,
            quote=destination.quote,
            mode=mode,
            partition_keys=partition_keys,
            placeholder=lambda index: f":p{index}",
        )
        with connection.begin():
            destination._before_merge(connection, layout, target, self.table)
            for statement in statements:
                parameters = {f"p{i}": value for i, value in enumerate(statement.parameters)}
                connection.execute(sa.text(statement.sql), parameters)
            count = connection.execute(sa.text(f"SELECT COUNT(*) FROM {target}")).scalar_one()
            if before_commit is not None:
                before_commit(connection)
        return count

    def drop(self) -> None:
        """Drop the staging table: it would outlive the write on a pooled connection."""
        connection = self._connection
        try:
            if connection.in_transaction():
                connection.rollback()
            with connection.begin():
                connection.execute(DropTable(self.table, if_exists=True))
        except sa.exc.DBAPIError:
            connection.invalidate()


def _make_sqlite_transactional(engine: sa.Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, open transactions, so that DDL is transactional too.

    This is the recipe from SQLAlchemy's SQLite documentation: sqlite3 otherwise commits or skips
    transactions around DDL on its own.
    """

    @sa.event.listens_for(engine, "connect")
    def _disable_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")
