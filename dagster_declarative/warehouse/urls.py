"""Reading destination URLs: which database a URL names, and whether two URLs name the same one.

The state store and the warehouse can share a database; when they do, the cursor state commits in
the same transaction as the rows it covers. Deciding that needs a comparison of what the URLs
point at (server, port, database, or file), not of their text: drivers, passwords and query
options may differ.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}
_IN_MEMORY = ("", ":memory:")


def parse_url(url: str | URL) -> URL | None:
    """The SQLAlchemy URL for `url`, or None when it is not one."""
    try:
        return make_url(url)
    except ArgumentError:
        return None


def duckdb_path(url: str) -> str | None:
    """The file a DuckDB URL (`duckdb:///file.duckdb`) or a plain `*.duckdb` path names."""
    if "://" not in url:
        return url if url.endswith(".duckdb") else None
    parsed = parse_url(url)
    if parsed is None or parsed.get_backend_name() != "duckdb":
        return None
    return parsed.database or None


def warehouse_kind(url: str) -> str:
    """The database a warehouse URL names, as a short name: ``duckdb``, ``postgres``, ..."""
    scheme = url.split(":", 1)[0].split("+", 1)[0] if "://" in url else "duckdb"
    return {"postgresql": "postgres"}.get(scheme, scheme)


def _file_of(url: URL) -> Path | None:
    if (url.database or "") in _IN_MEMORY:
        return None
    return Path(url.database or "").expanduser().resolve()


def same_database(first: URL, second: URL) -> bool:
    """Whether two SQLAlchemy URLs reach the same database (the same file for SQLite)."""
    backend = first.get_backend_name()
    if backend != second.get_backend_name():
        return False
    if backend == "sqlite":
        return _file_of(first) is not None and _file_of(first) == _file_of(second)

    def place(url: URL) -> tuple[str, int | None, str | None]:
        return (
            (url.host or "localhost").lower(),
            url.port or _DEFAULT_PORTS.get(backend),
            url.database,
        )

    return place(first) == place(second)
