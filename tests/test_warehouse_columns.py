"""How the warehouse names, types and converts: identifiers, schema types, values, URLs."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dagster_declarative.warehouse import (
    DestinationLockedError,
    DestinationURLError,
    DuckDBDestination,
    PostgresDestination,
    SqlAlchemyDestination,
    TableSpec,
    destination_from_url,
)
from dagster_declarative.warehouse.columns import (
    SYSTEM_COLUMNS,
    Column,
    ColumnType,
    TableLayout,
    column_type,
    plan_columns,
    reconcile_columns,
)
from dagster_declarative.warehouse.convert import CONVERTERS, MISFIT, BatchInfo, RowConverter
from dagster_declarative.warehouse.naming import assign_column_names, sanitize_identifier
from dagster_declarative.warehouse.urls import same_database, warehouse_kind

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pokemon", "pokemon"),
        ("Pokemon-List", "pokemon_list"),
        ("user.first name", "user_first_name"),
        ("123abc", "_123abc"),
        ("Été", "ete"),
        ("", "_"),
        ("_private", "_private"),
    ],
)
def test_sanitize_identifier(name: str, expected: str) -> None:
    assert sanitize_identifier(name) == expected


def test_long_identifiers_are_cut_and_stay_distinct() -> None:
    first, second = sanitize_identifier("a" * 80 + "x"), sanitize_identifier("a" * 80 + "y")
    assert len(first) == len(second) == 63
    assert first != second


def test_colliding_fields_get_distinct_columns_whatever_their_order() -> None:
    forward = assign_column_names(["Id", "id", "_dd_extras"], reserved={"_dd_extras"})
    backward = assign_column_names(["id", "Id"], reserved={"_dd_extras"})

    assert forward["id"] == backward["id"] == "id"
    assert forward["Id"] == backward["Id"] != "id"
    assert forward["Id"].startswith("id_")
    assert forward["_dd_extras"].startswith("_dd_extras_")


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "string"}, ColumnType.STRING),
        ({"type": ["null", "string"], "format": "date-time"}, ColumnType.TIMESTAMP),
        ({"type": "string", "format": "date"}, ColumnType.DATE),
        ({"type": ["integer", "null"]}, ColumnType.INTEGER),
        ({"type": "number", "airbyte_type": "integer"}, ColumnType.INTEGER),
        ({"type": ["null", "number"]}, ColumnType.NUMBER),
        ({"type": ["integer", "number"]}, ColumnType.NUMBER),
        ({"type": "boolean"}, ColumnType.BOOLEAN),
        ({"type": ["null", "object"]}, ColumnType.JSON),
        ({"type": "array", "items": {"type": "string"}}, ColumnType.JSON),
        ({"type": ["string", "object"]}, ColumnType.JSON),
        ({"type": ["string", "integer"]}, ColumnType.STRING),
        ({"anyOf": [{"type": "null"}, {"type": "integer"}]}, ColumnType.INTEGER),
        ({}, ColumnType.JSON),
        (True, ColumnType.JSON),
    ],
)
def test_column_type_from_property_schema(prop: object, expected: ColumnType) -> None:
    assert column_type(prop) is expected


def test_plan_columns_adds_undeclared_key_fields_and_system_columns() -> None:
    columns, key = plan_columns(TableSpec("src", "s", {}, primary_key=["ID"]))

    assert columns == [Column("id", ColumnType.STRING, "ID"), *SYSTEM_COLUMNS]
    assert key == ("id",)


def test_an_existing_column_keeps_its_type_unless_it_can_hold_the_planned_one() -> None:
    planned = [
        Column("a", ColumnType.NUMBER, "a"),
        Column("b", ColumnType.JSON, "b"),
        Column("c", ColumnType.DATE, "c"),
    ]
    existing = {"a": (ColumnType.INTEGER,), "b": (ColumnType.STRING, ColumnType.JSON)}

    columns, missing = reconcile_columns(planned, existing)

    assert columns == [Column("a", ColumnType.INTEGER, "a"), planned[1], planned[2]]
    assert missing == [planned[2]]


UTC = timezone.utc


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (ColumnType.STRING, "x", "x"),
        (ColumnType.STRING, 5, "5"),
        (ColumnType.STRING, False, "false"),
        (ColumnType.STRING, {"a": 1}, MISFIT),
        (ColumnType.INTEGER, 7, 7),
        (ColumnType.INTEGER, " -42 ", -42),
        (ColumnType.INTEGER, 3.0, 3),
        (ColumnType.INTEGER, 3.5, MISFIT),
        (ColumnType.INTEGER, "abc", MISFIT),
        (ColumnType.INTEGER, "1_000", MISFIT),
        (ColumnType.INTEGER, True, MISFIT),
        (ColumnType.INTEGER, 2**63, MISFIT),
        (ColumnType.NUMBER, 2, 2.0),
        (ColumnType.NUMBER, "1e3", 1000.0),
        (ColumnType.NUMBER, "nan", MISFIT),
        (ColumnType.NUMBER, True, MISFIT),
        (ColumnType.BOOLEAN, "TRUE", True),
        (ColumnType.BOOLEAN, 1, MISFIT),
        (ColumnType.TIMESTAMP, "2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        (ColumnType.TIMESTAMP, "2024-01-01T02:00:00+02:00", datetime(2024, 1, 1, tzinfo=UTC)),
        (ColumnType.TIMESTAMP, "2024-01-01 05:06:07", datetime(2024, 1, 1, 5, 6, 7, tzinfo=UTC)),
        (ColumnType.TIMESTAMP, "2024-01-01", datetime(2024, 1, 1, tzinfo=UTC)),
        (ColumnType.TIMESTAMP, "yesterday", MISFIT),
        (ColumnType.TIMESTAMP, 1700000000, MISFIT),
        (ColumnType.DATE, "2024-02-29", date(2024, 2, 29)),
        (ColumnType.DATE, "2023-02-29", MISFIT),
        (ColumnType.JSON, [1, {"a": None}], [1, {"a": None}]),
    ],
)
def test_value_conversion(kind: ColumnType, value: object, expected: object) -> None:
    assert CONVERTERS[kind](value) == expected


def test_offset_timestamps_are_stored_in_utc() -> None:
    converted = CONVERTERS[ColumnType.TIMESTAMP]("2024-06-01T12:00:00-05:00")
    assert converted.utcoffset() == timedelta(0)
    assert converted.hour == 17


def test_row_converter_puts_misfits_and_unknown_fields_in_extras() -> None:
    columns, key = plan_columns(
        TableSpec("src", "s", {"properties": {"n": {"type": "integer"}}}, primary_key=())
    )
    layout = TableLayout("src", "s", tuple(columns), key)
    info = BatchInfo("2024-01-01", "run-1", first_sequence=1)

    first, second = RowConverter(layout).convert([{"n": "abc", "other": 1}, {"n": 2}], info)

    assert first[:2] == [None, {"n": "abc", "other": 1}]
    assert second[:2] == [2, None]
    assert first[3:] == ["2024-01-01", "run-1", 1]
    assert second[-1] == 2
    assert first[2] == second[2] == info.extracted_at


def test_destination_from_url_picks_the_destination(tmp_path: Path) -> None:
    assert isinstance(destination_from_url(str(tmp_path / "w.duckdb")), DuckDBDestination)
    duck = destination_from_url(f"duckdb:///{tmp_path / 'x.duckdb'}")
    assert isinstance(duck, DuckDBDestination)
    assert duck.path == tmp_path / "x.duckdb"
    sqlite = destination_from_url(f"sqlite:///{tmp_path / 'w.db'}")
    assert type(sqlite) is SqlAlchemyDestination
    postgres = destination_from_url("postgresql://u:pw@127.0.0.1:1/db")
    assert isinstance(postgres, PostgresDestination)
    assert postgres.engine.url.drivername == "postgresql+psycopg"
    for destination in (duck, sqlite, postgres):
        destination.close()


@pytest.mark.parametrize(
    "url",
    [
        "duckdb:///:memory:",
        "not a url",
        "postgresql+psycopg2://user:s3cret@127.0.0.1/db",
        "nosuchdialect://user:s3cret@127.0.0.1/db",
    ],
)
def test_unusable_urls_are_refused_without_showing_the_password(url: str) -> None:
    with pytest.raises(DestinationURLError) as raised:
        destination_from_url(url)
    assert "s3cret" not in str(raised.value)


def test_same_database_compares_places_not_spellings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative, absolute = make_url("sqlite:///w.db"), make_url(f"sqlite:///{tmp_path / 'w.db'}")
    assert same_database(relative, absolute)
    assert not same_database(make_url("sqlite://"), make_url("sqlite://"))
    pg = make_url("postgresql+psycopg://a:x@db.example/app")
    assert same_database(pg, make_url("postgresql://b@DB.example:5432/app"))
    assert not same_database(pg, make_url("postgresql://b@db.example:5433/app"))
    assert not same_database(pg, make_url("postgresql://b@db.example/other"))


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("duckdb:///warehouse.duckdb", "duckdb"),
        ("data/warehouse.duckdb", "duckdb"),
        ("postgresql+psycopg://a:x@db.example/app", "postgres"),
        ("postgresql://a@db.example/app", "postgres"),
        ("sqlite:///w.db", "sqlite"),
    ],
)
def test_a_warehouse_url_names_its_kind(url: str, kind: str) -> None:
    assert warehouse_kind(url) == kind


def test_the_warehouse_imports_without_dagster() -> None:
    """The warehouse, imported where Dagster cannot be (``import dagster`` raises), imports, and
    so does every module of it."""
    program = """
import pkgutil, sys
sys.modules["dagster"] = None
import dagster_declarative.warehouse as warehouse
for module in pkgutil.iter_modules(warehouse.__path__, "dagster_declarative.warehouse."):
    __import__(module.name)
assert warehouse.destination_from_url("duckdb:///w.duckdb").path.name == "w.duckdb"
"""
    subprocess.run([sys.executable, "-c", program], check=True, cwd=ROOT)


def test_duckdb_waits_for_a_lock_held_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " sys.stdin.readline()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        impatient = DuckDBDestination(path, lock_timeout=0.2)
        with pytest.raises(DestinationLockedError, match="stayed locked"):
            impatient.row_count(TableSpec("src", "s", {}))
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert DuckDBDestination(path, lock_timeout=60).row_count(TableSpec("src", "s", {})) == 0
    finally:
        holder.kill()
        holder.wait()


def test_row_converter_takes_any_field_name_literally() -> None:
    """The converter is compiled from the layout; names must never be read as code."""
    names = ["a'b", 'c"d', "e\nf", "g)\nraise SystemExit(1)\n#", "{h}"]
    schema = {"properties": {name: {"type": "integer"} for name in names}}
    columns, key = plan_columns(TableSpec("src", "s", schema, primary_key=(names[0],)))
    converter = RowConverter(TableLayout("src", "s", tuple(columns), key))
    record = {name: str(i) for i, name in enumerate(names)}

    (row,) = converter.convert([record], BatchInfo(None, "r", first_sequence=1))

    assert row[: len(names)] == list(range(len(names)))
    assert row[len(names)] is None  # nothing went to the extras
