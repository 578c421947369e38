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

Names are imported on first use: the DuckDB loader process imports its own modules of this
package, and should not wait for SQLAlchemy (about 0.2 s) which only other destinations need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_declarative.warehouse.duckdb_destination import DuckDBDestination
    from dagster_declarative.warehouse.errors import (
        DestinationLockedError,
        DestinationURLError,
        PartialWriteError,
        PrimaryKeyValueError,
        WarehouseError,
        WriteModeError,
    )
    from dagster_declarative.warehouse.from_url import destination_from_url
    from dagster_declarative.warehouse.postgres_destination import PostgresDestination
    from dagster_declarative.warehouse.spec import Destination, TableSpec, WriteMode, WriteResult
    from dagster_declarative.warehouse.sqlalchemy_destination import SqlAlchemyDestination

_PACKAGE = "dagster_declarative.warehouse"
_LAZY = {
    "Destination": "spec",
    "DestinationLockedError": "errors",
    "DestinationURLError": "errors",
    "DuckDBDestination": "duckdb_destination",
    "PartialWriteError": "errors",
    "PostgresDestination": "postgres_destination",
    "PrimaryKeyValueError": "errors",
    "SqlAlchemyDestination": "sqlalchemy_destination",
    "TableSpec": "spec",
    "WarehouseError": "errors",
    "WriteMode": "spec",
    "WriteModeError": "errors",
    "WriteResult": "spec",
    "destination_from_url": "from_url",
}
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


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{_PACKAGE}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
