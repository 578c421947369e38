"""PostgreSQL: staging with COPY, merges serialised per table.

COPY runs on the psycopg connection under the SQLAlchemy connection, so it belongs to the same
transactions as everything else the write does. PostgreSQL text cannot hold the NUL character,
which a few APIs do send; it is replaced by U+FFFD rather than failing the load.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, Connection

from dagster_declarative.warehouse.columns import ColumnType, TableLayout
from dagster_declarative.warehouse.convert import encode_json
from dagster_declarative.warehouse.errors import DestinationURLError
from dagster_declarative.warehouse.sqlalchemy_destination import Encoder, SqlAlchemyDestination

_NUL = "\x00"
_ESCAPED_NUL = b"\\u0000"


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value


def _encode_text(value: str) -> str:
    return value.replace(_NUL, "\ufffd") if _NUL in value else value


class PostgresDestination(SqlAlchemyDestination):
    """Writes to PostgreSQL through SQLAlchemy with the psycopg (3) driver."""

    SQL_TYPES = {**SqlAlchemyDestination.SQL_TYPES, ColumnType.JSON: JSONB()}

    def __init__(self, url: str | URL, **engine_options: Any) -> None:
        driver = sa.engine.make_url(url).get_driver_name()
        if driver != "psycopg":
            raise DestinationURLError(
                f"The PostgreSQL warehouse loads with psycopg 3's COPY, but the URL asks for the "
                f"{driver!r} driver; write it as postgresql+psycopg://..."
            )
        super().__init__(url, **engine_options)

    def _type_encoders(self) -> dict[ColumnType, Encoder]:
        return {**super()._type_encoders(), ColumnType.STRING: _encode_text}

    def _encode_json(self, value: Any) -> str:
        text = encode_json(value)
        if _ESCAPED_NUL in text:
            text = encode_json(_without_nul(value))
        return text.decode()

    def _load(self, connection: Connection, staging: sa.Table, rows: list[list[Any]]) -> None:
        names = ", ".join(self.quote(column.name) for column in staging.columns)
        driver_connection = connection.connection.driver_connection
        with (
            driver_connection.cursor() as cursor,
            cursor.copy(f"COPY {self.quote(staging.name)} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def _before_merge(
        self, connection: Connection, layout: TableLayout, target: str, staging: sa.Table
    ) -> None:
        """Give the planner real numbers for the staging table and let one writer at a time in.

        Autovacuum never analyses temporary tables. The lock keeps concurrent runs writing the same
        table (two partitions of a backfill) from both inserting a key neither has seen yet; it
        does not block readers.
        """
        connection.execute(sa.text(f"ANALYZE {self.quote(staging.name)}"))
        connection.execute(sa.text(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE"))
