"""DuckDB's staging: records loaded as the API sent them must become exactly the rows the Python
converter makes, whatever mix of fitting and unfitting values a batch holds."""

from __future__ import annotations

import datetime as dt
import gc
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagster_declarative.warehouse import collector
from dagster_declarative.warehouse.columns import TableLayout, plan_columns
from dagster_declarative.warehouse.convert import BatchInfo
from dagster_declarative.warehouse.duckdb_ingest import STAGE_TABLE
from dagster_declarative.warehouse.duckdb_loader import EXACT_JSON, StageLoader
from dagster_declarative.warehouse.duckdb_loader_process import LoaderProcess
from dagster_declarative.warehouse.fits import FitCheck
from dagster_declarative.warehouse.spec import TableSpec

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "count": {"type": "integer"},
        "price": {"type": "number"},
        "active": {"type": "boolean"},
        "updated_at": {"type": "string", "format": "date-time"},
        "day": {"type": "string", "format": "date"},
        "tags": {"type": "array"},
        "meta": {"type": "object"},
    },
}
EXTRACTED_AT = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)

# Values of every kind for every field: the right type, near misses the converter handles, and
# spellings only the converter may judge.
TIMESTAMPS = [
    "2024-01-01T00:00:00Z",
    "2024-06-30T23:59:59.123Z",
    "2024-06-30T23:59:59.123456+00:00",
    "2024-06-30T23:59:59+02:00",
    "2024-06-30T23:59:59",
    "2024-06-30 23:59:59Z",
    "2024-02-30T10:00:00Z",
    "0000-01-01T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:00:00.1234567Z",
    "2024-01-01",
    "yesterday",
]
DATES = ["2024-01-01", "2024-02-30", "0000-01-01", "20240101", "2024-01-01T00:00:00Z", "x"]
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.sampled_from(["42", " 7 ", "1.5e3", "true", "False", *TIMESTAMPS, *DATES]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
FIELD_VALUES = {
    "name": st.one_of(st.text(max_size=8), ANY_VALUE),
    "count": st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), ANY_VALUE),
    "price": st.one_of(st.floats(allow_nan=False), st.integers(), ANY_VALUE),
    "active": st.one_of(st.booleans(), ANY_VALUE),
    "updated_at": st.one_of(st.sampled_from(TIMESTAMPS), ANY_VALUE),
    "day": st.one_of(st.sampled_from(DATES), ANY_VALUE),
    "tags": ANY_VALUE,
    "meta": ANY_VALUE,
    "undeclared": ANY_VALUE,
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record with a usable key and any subset of the fields, in any order."""
    fields = draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), unique=True))
    record = {field: draw(FIELD_VALUES[field]) for field in fields}
    record["id"] = draw(st.integers(min_value=0, max_value=50))
    return record


def _layout(schema: dict[str, Any] = SCHEMA, key: Sequence[str] = ("id",)) -> TableLayout:
    columns, key_columns = plan_columns(TableSpec("shop", "items", schema, primary_key=list(key)))
    return TableLayout("shop", "items", tuple(columns), key_columns)


def _staged(
    layout: TableLayout,
    path: Path,
    batches: Sequence[Sequence[dict[str, Any]]],
    *,
    as_sent: bool,
    as_files: bool = False,
) -> list[tuple[Any, ...]]:
    """Stage `batches` into a new file and read the rows back in sequence order.

    `as_sent=False` converts every record (the reference); `as_files` hands each batch over as
    the loader process receives it: a JSON file and the records parsed from it, or the records
    themselves when JSON would change them.
    """
    loader = StageLoader(layout, path, create=True)
    if not as_sent:
        loader._as_sent = None
    first = 1
    for number, batch in enumerate(batches):
        info = BatchInfo("p", "run", first, EXTRACTED_AT)
        try:
            text = orjson.dumps(batch, option=EXACT_JSON) if as_files else None
        except TypeError:  # the writer pickles such a batch: the loader gets the records
            text = None
        if text is not None:
            handed_over = path.with_name(f"batch{number}.json")
            handed_over.write_bytes(text)
            loader.load(orjson.loads(text), info, text=handed_over)
        else:
            loader.load(batch, info)
        first += len(batch)
    loader.close()
    with duckdb.connect(str(path)) as connection:
        return connection.execute(f'SELECT * FROM "{STAGE_TABLE}" ORDER BY _dd_seq').fetchall()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(records(), min_size=1, max_size=12), min_size=1, max_size=3))
def test_records_loaded_as_sent_become_the_rows_the_converter_makes(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[dict[str, Any]]]
) -> None:
    layout = _layout()
    directory = tmp_path_factory.mktemp("stage")

    expected = _staged(layout, directory / "converted.duckdb", batches, as_sent=False)

    assert _staged(layout, directory / "as_sent.duckdb", batches, as_sent=True) == expected
    assert _staged(layout, directory / "files.duckdb", batches, as_sent=True, as_files=True) == (
        expected
    )


def test_a_batch_the_reader_refuses_is_converted_whole(tmp_path: Path) -> None:
    """30 February passes the spelling check; the reader refuses it, the converter keeps it in
    the extras column, and the other records of the batch still load."""
    batch = [
        {"id": 1, "updated_at": "2024-02-30T10:00:00Z"},
        {"id": 2, "updated_at": "2024-03-01T10:00:00Z", "note": "undeclared"},
    ]

    rows = _staged(_layout(), tmp_path / "stage.duckdb", [batch], as_sent=True)

    by_id = {row[0]: row for row in rows}
    assert by_id[1][5] is None and orjson.loads(by_id[1][9]) == {
        "updated_at": "2024-02-30T10:00:00Z"
    }
    assert by_id[2][5] == dt.datetime(2024, 3, 1, 10, tzinfo=dt.timezone.utc)
    assert orjson.loads(by_id[2][9]) == {"note": "undeclared"}


def test_python_values_json_would_change_take_the_converter(tmp_path: Path) -> None:
    moment = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    batch = [{"id": 1, "updated_at": moment, "meta": {"at": moment}}, {"id": 2, "count": 2**70}]

    rows = _staged(_layout(), tmp_path / "stage.duckdb", [batch], as_sent=True)

    assert rows == _staged(_layout(), tmp_path / "reference.duckdb", [batch], as_sent=False)
    assert rows[0][5] == dt.datetime(2024, 5, 1, 10, 30, tzinfo=dt.timezone.utc)
    assert orjson.loads(rows[1][9]) == {"count": 2**70}


@pytest.mark.parametrize(
    "fields",
    [["id", "ID"], ["id", ""], ["id", "_dd_extras", "_DD_EXTRAS_"], ["id", 'it\'s "odd"']],
    ids=["names-equal-but-for-case", "empty-name", "extras-key-taken", "quotes"],
)
def test_field_names_the_reader_cannot_take_still_load(tmp_path: Path, fields: list[str]) -> None:
    schema = {"type": "object", "properties": {field: {"type": "string"} for field in fields}}
    schema["properties"]["id"] = {"type": "integer"}
    batch = [{field: f"{field}-{n}" for field in fields} | {"id": n, "extra": n} for n in range(3)]
    layout = _layout(schema)

    rows = _staged(layout, tmp_path / "stage.duckdb", [batch], as_sent=True)

    assert rows == _staged(layout, tmp_path / "reference.duckdb", [batch], as_sent=False)
    assert len(rows) == 3


def test_the_fit_check_sorts_a_batch_and_moves_undeclared_fields() -> None:
    check = FitCheck(_layout())
    batch = [
        {"id": 1, "name": "a"},
        {"id": 2, "count": "3"},
        {"name": "no key"},
        {"id": 4, "zeta": 1, "name": "d", "alpha": 2},
    ]

    fitting = check.sort(batch)

    assert not fitting.as_is
    assert fitting.unfit_at == [1, 2]
    assert fitting.fitting_at == [0, 3]
    assert fitting.fitting[1] == {"id": 4, "name": "d", "_dd_extras": {"zeta": 1, "alpha": 2}}
    assert check.sort(batch[:1]).as_is


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*saved)


def test_a_write_raises_the_collection_threshold_and_restores_it(
    default_thresholds: tuple[int, int, int],
) -> None:
    with pytest.raises(RuntimeError), collector.paced_for_batches():
        assert gc.get_threshold() == (collector.WRITE_THRESHOLD, 10, 10)
        raise RuntimeError("the API failed")

    assert gc.get_threshold() == default_thresholds


def test_overlapping_writes_restore_the_thresholds_when_the_last_ends(
    default_thresholds: tuple[int, int, int],
) -> None:
    first_inside, second_done = threading.Event(), threading.Event()
    seen: list[tuple[int, int, int]] = []

    def second_write() -> None:
        first_inside.wait()
        with collector.paced_for_batches():
            pass
        seen.append(gc.get_threshold())
        second_done.set()

    thread = threading.Thread(target=second_write)
    thread.start()
    with collector.paced_for_batches():
        first_inside.set()
        second_done.wait()
    thread.join()

    assert seen == [(collector.WRITE_THRESHOLD, 10, 10)]
    assert gc.get_threshold() == default_thresholds


def test_a_disabled_collector_stays_disabled(default_thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(0)
    with collector.paced_for_batches():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_grouped_batches_keep_their_numbers_and_partitions(
    tmp_path: Path,
) -> None:
    """Small batches of consecutive partitions are grouped into one file (a backfill of small
    daily partitions must not cost a DuckDB statement per day); every record keeps its sequence
    number and its partition, also those converted in Python (``count`` not an integer)."""
    layout, path = _layout(), tmp_path / "stage.duckdb"
    StageLoader(layout, path, create=True).close()
    loader = LoaderProcess(layout, path)
    partitions = ("2024-01-01", "2024-01-02", "2024-01-03")
    first = 1
    try:
        for partition in partitions:
            for _batch in range(10):
                batch = [{"id": first + n, "name": partition, "count": n} for n in range(3)]
                if partition == "2024-01-02":
                    batch[1]["count"] = "many"
                loader.load(batch, BatchInfo(partition, "run", first, EXTRACTED_AT))
                first += len(batch)
        loader.finish()
    finally:
        loader.kill()

    with duckdb.connect(str(path)) as connection:
        rows = connection.execute(
            f'SELECT id, name, _dd_partition, _dd_seq FROM "{STAGE_TABLE}" ORDER BY _dd_seq'
        ).fetchall()
    expected = [partitions[(n - 1) // 30] for n in range(1, 91)]
    assert rows == [(n, expected[n - 1], expected[n - 1], n) for n in range(1, 91)]
    assert loader._files == 1
