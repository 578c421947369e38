"""Warehouse destinations: typed, deduplicated tables per stream, written consistently with state.

This package does not import Dagster, so it can be used and tested on its own. Pick a destination
by URL with `destination_from_url`, then `write` each stream's record batches:

    destination = destination_from_url("duckdb:///warehouse.duckdb")
    result = destination.write(
        TableSpec("pokeapi", "pokemon", json_schema, primary_key=["id"]),
        batches, mode=WriteMode.UPSERT, partition_key="2024-01-01", run_id=run_id,
    )

Tables get one column per schema property plus `_dd_extras`, `_dd_extracted_at`, `_dd_partition`
and `_dd_run_id` (see `columns.py`).
"""

from __future__ import annotations

from dagster_declarative.warehouse.duckdb_destination import DuckDBDestination
from dagster_declarative.warehouse.errors import (
    DestinationLockedError,
    DestinationURLError,
    PartialWriteError,
    PrimaryKeyValueError,
    WarehouseError,
    WriteModeError,
)
from dagster_declarative.warehouse.postgres_destination import PostgresDestination
from dagster_declarative.warehouse.spec import Destination, TableSpec, WriteMode, WriteResult
from dagster_declarative.warehouse.sqlalchemy_destination import SqlAlchemyDestination
from dagster_declarative.warehouse.urls import duckdb_path, parse_url

__all__ = [
    "Destination",
    "DestinationLockedError",
    "DestinationURLError",
    "DuckDBDestination",
    "PartialWriteError",
    "PostgresDestination",
    "PrimaryKeyValueError",
    "SqlAlchemyDestination",
    "TableSpec",
    "WarehouseError",
    "WriteMode",
    "WriteModeError",
    "WriteResult",
    "destination_from_url",
]


def destination_from_url(url: str) -> Destination:
    """The destination a URL names.

    - `duckdb:///path/file.duckdb` (SQLAlchemy's convention: three slashes for a relative path,
      four for an absolute one) or a plain path ending in `.duckdb`: DuckDB;
    - `postgresql://...` or `postgresql+psycopg://...`: PostgreSQL, loaded with COPY;
    - anything else SQLAlchemy understands (e.g. `sqlite:///warehouse.db`): batched inserts.
    """
    path = duckdb_path(url)
    if path is not None:
        if path == ":memory:":
            raise DestinationURLError(
                "An in-memory DuckDB warehouse would vanish after each write; name a file, "
                "e.g. duckdb:///warehouse.duckdb."
            )
        return DuckDBDestination(path)
    parsed = parse_url(url)
    if parsed is None:
        raise DestinationURLError(
            f"{url.split('@')[-1]!r} is neither a database URL (dialect+driver://...) nor a path "
            "ending in .duckdb."
        )
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return PostgresDestination(parsed)
    return SqlAlchemyDestination(parsed)
