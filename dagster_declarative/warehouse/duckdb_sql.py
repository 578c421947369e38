"""DuckDB spellings shared by the destination and its stage: types, quoting, connection limits."""

from __future__ import annotations

from dagster_declarative.warehouse.columns import Column, ColumnType

SQL_TYPES = {
    ColumnType.STRING: "VARCHAR",
    ColumnType.INTEGER: "BIGINT",
    ColumnType.NUMBER: "DOUBLE",
    ColumnType.BOOLEAN: "BOOLEAN",
    ColumnType.TIMESTAMP: "TIMESTAMP WITH TIME ZONE",
    ColumnType.DATE: "DATE",
    ColumnType.JSON: "JSON",
}
# A merge of millions of staged rows spills to disk instead of growing the process: memory
# stays flat whatever the partition's size (measured: 3M rows peak at 1.1-1.2x the peak of 300k).
# The merge runs when the reading is over, so it may use both cores.
BOUNDED_MEMORY = {"memory_limit": "64MB", "threads": 2, "preserve_insertion_order": False}
# The warehouse file checkpoints a large merge as it commits. Under DuckDB's default threshold
# (16 MB of write-ahead log) the merge of a year of daily partitions (91,250 rows, ~6 MB of log)
# went to the log at the commit and was written again into the file when the connection closed:
# commit and close took 45-100 ms, against 35 ms when the commit checkpoints.
WAREHOUSE_CONFIG = {**BOUNDED_MEMORY, "checkpoint_threshold": "1MB"}
# The staging file only takes appends, which need little beyond the JSON reader's 32 MiB buffer;
# one thread, since the staging runs beside the reading.
STAGING_MEMORY = {**BOUNDED_MEMORY, "memory_limit": "48MB", "threads": 1}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def qualified(schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def definition(column: Column) -> str:
    return f"{quote(column.name)} {SQL_TYPES[column.type]}"
