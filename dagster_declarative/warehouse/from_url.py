"""Choosing a destination by its URL."""

from __future__ import annotations

from dagster_declarative.warehouse.duckdb_destination import DuckDBDestination
from dagster_declarative.warehouse.errors import DestinationURLError
from dagster_declarative.warehouse.postgres_destination import PostgresDestination
from dagster_declarative.warehouse.spec import Destination
from dagster_declarative.warehouse.sqlalchemy_destination import SqlAlchemyDestination
from dagster_declarative.warehouse.urls import duckdb_path, parse_url


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
