"""The SQL that moves staged rows into a table, shared by every destination.

Every destination first loads a write's rows into a staging table with its database's fastest
path, then runs these statements in one transaction. Only portable SQL is used (DELETE with IN
or a correlated EXISTS, INSERT ... SELECT, GROUP BY), so the same plan serves DuckDB, PostgreSQL,
SQLite and the other databases SQLAlchemy reaches. Deleting and re-inserting rather than using
each database's MERGE/ON CONFLICT keeps the tables free of unique constraints, which would make
adding key columns to an existing table, and DuckDB's delete-then-insert of one key, fail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dagster_declarative.warehouse.columns import PARTITION_COLUMN, SEQUENCE_COLUMN, TableLayout
from dagster_declarative.warehouse.errors import WriteModeError
from dagster_declarative.warehouse.spec import TableSpec, WriteMode


@dataclass(frozen=True)
class Statement:
    """One SQL statement and the values of its placeholders, in order."""

    sql: str
    parameters: tuple[Any, ...] = ()


def check_mode(mode: WriteMode, table: TableSpec) -> None:
    """Refuse a write whose mode does not fit the table, before anything is created."""
    if mode is WriteMode.UPSERT and not table.primary_key:
        raise WriteModeError(
            f"Cannot upsert into {table.namespace}.{table.name}: its stream declares no primary "
            "key. Declare one for the stream, or write it with REPLACE_PARTITION or REPLACE_TABLE."
        )


def merge_statements(
    layout: TableLayout,
    *,
    target: str,
    staging: str,
    quote: Callable[[str], str],
    mode: WriteMode,
    partition_keys: Sequence[str | None],
    placeholder: Callable[[int], str],
) -> list[Statement]:
    """Statements replacing the affected rows of `target` by the rows of `staging`.

    `target` and `staging` are the tables' quoted (and qualified) names. For a table with a primary
    key only the last staged row of each key is inserted, and rows of the same key written earlier,
    by any partition, are deleted first: one row per key, the newest write wins.
    `partition_keys` are the partitions this write replaces (several when one transaction writes
    a range of them); `placeholder(i)` is the database's spelling of the i-th parameter.
    """
    statements = []
    if mode is WriteMode.REPLACE_TABLE:
        statements.append(Statement(f"DELETE FROM {target}"))
    elif mode is WriteMode.REPLACE_PARTITION:
        partition = quote(PARTITION_COLUMN)
        if None in partition_keys:
            statements.append(Statement(f"DELETE FROM {target} WHERE {partition} IS NULL"))
        named = tuple(dict.fromkeys(key for key in partition_keys if key is not None))
        if named:
            marks = ", ".join(placeholder(index) for index in range(len(named)))
            statements.append(
                Statement(f"DELETE FROM {target} WHERE {partition} IN ({marks})", named)
            )
    keys = [quote(name) for name in layout.key]
    if keys and mode is not WriteMode.REPLACE_TABLE:
        statements.append(
            Statement(f"DELETE FROM {target} WHERE {_key_match(keys, target, staging)}")
        )
    names = ", ".join(quote(column.name) for column in layout.columns)
    insert = f"INSERT INTO {target} ({names}) SELECT {names} FROM {staging}"
    if keys:
        sequence = quote(SEQUENCE_COLUMN)
        insert += (
            f" WHERE {sequence} IN"
            f" (SELECT MAX({sequence}) FROM {staging} GROUP BY {', '.join(keys)})"
        )
    statements.append(Statement(insert))
    return statements


def _key_match(keys: list[str], target: str, staging: str) -> str:
    """A condition true for the target rows whose key is among the staged rows' keys.

    A single key uses IN, which every database answers from the target's key index by walking
    the staged keys; SQLite answers EXISTS instead by scanning the whole target. Composite keys
    keep EXISTS, since row-value IN is not portable everywhere.
    """
    if len(keys) == 1:
        return f"{keys[0]} IN (SELECT {keys[0]} FROM {staging})"
    matches = " AND ".join(f"{staging}.{key} = {target}.{key}" for key in keys)
    return f"EXISTS (SELECT 1 FROM {staging} WHERE {matches})"
