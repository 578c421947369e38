"""Incremental reads end to end: resuming from state, checkpoints, and state under concurrency."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.api_collections import parse_instant
from support.api_server import ApiServer, DateFilter, Response
from support.slicing_manifests import date_cursor, legacy, modern, modern_stream

from engine import DONE, PAGE, SliceGroups, iter_slices, load_manifest, load_source, protocol
from engine.__main__ import run
from engine.errors import EngineError
from engine.state.connections import default_connection_name
from engine.state.store import StateStore

CATALOG = {"streams": [{"stream": {"name": "items"}, "sync_mode": "incremental"}]}
DAILY = dict(step="P1D", cursor_granularity="PT1S")


def _days(first: int, last: int, hour: int = 10) -> list[dict[str, Any]]:
    return [
        {"id": d, "updated_at": f"2021-02-{d:02d}T{hour:02d}:00:00Z"}
        for d in range(first, last + 1)
    ]


def _states(messages: list[dict]) -> list[dict]:
    return [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"]


def _ids(messages: list[dict]) -> list[Any]:
    return [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"]


def _windows(api_server: ApiServer) -> list[tuple[str | None, str | None]]:
    return [(r.param("updated_since"), r.param("updated_until")) for r in api_server.requests]


def _modern_items(url: str, **stream: Any) -> dict[str, Any]:
    cursor = date_cursor("2021-02-01T00:00:00Z", "{{ config['end'] }}", **DAILY)
    return modern(modern_stream(url, "items", "/items", incremental=cursor, **stream))


def test_second_read_fetches_only_the_new_window(api_server: ApiServer) -> None:
    records = _days(1, 3)
    api_server.add_collection("/items", records, date_filter=DateFilter("updated_at"))
    manifest = _modern_items(api_server.url)
    first = list(load_source(manifest, {"end": "2021-02-03T23:59:59Z"}).read(CATALOG))
    assert _ids(first) == [1, 2, 3]
    state = _states(first)[-1]
    assert state == {"updated_at": "2021-02-03T10:00:00Z"}

    records.extend(_days(4, 5))
    api_server.clear_requests()
    second = list(
        load_source(manifest, {"end": "2021-02-05T23:59:59Z"}).read(CATALOG, {"items": state})
    )
    assert _windows(api_server) == [
        ("2021-02-03T10:00:00Z", "2021-02-04T09:59:59Z"),
        ("2021-02-04T10:00:00Z", "2021-02-05T09:59:59Z"),
        ("2021-02-05T10:00:00Z", "2021-02-05T23:59:59Z"),
    ]
    assert _ids(second) == [3, 4, 5]  # the record at the state cursor itself is read again
    assert _states(second)[-1] == {"updated_at": "2021-02-05T10:00:00Z"}


def test_second_read_of_a_2022_manifest_starts_the_day_after(api_server: ApiServer) -> None:
    records = [{"id": d, "updated_at": f"2021-02-{d:02d}"} for d in range(1, 4)]
    api_server.add_collection("/items", records, date_filter=DateFilter("updated_at"))
    slicer = {
        "type": "DatetimeStreamSlicer",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%d",
        "start_datetime": "2021-02-01",
        "end_datetime": "{{ config['end'] }}",
        "step": "1d",
        "start_time_option": {"inject_into": "request_parameter", "field_name": "updated_since"},
        "end_time_option": {"inject_into": "request_parameter", "field_name": "updated_until"},
    }
    manifest = legacy(api_server.url, "items", "/items", slicer)
    first = list(load_source(manifest, {"end": "2021-02-03"}).read(CATALOG))
    assert _ids(first) == [1, 2, 3] and _states(first)[-1] == {"updated_at": "2021-02-03"}
    records.append({"id": 4, "updated_at": "2021-02-04"})
    api_server.clear_requests()
    second = list(
        load_source(manifest, {"end": "2021-02-04"}).read(
            CATALOG, {"items": {"updated_at": "2021-02-03"}}
        )
    )
    assert _windows(api_server) == [("2021-02-04", "2021-02-04")]
    assert _ids(second) == [4]


def test_checkpoint_interval_emits_state_within_a_slice(api_server: ApiServer) -> None:
    records = [{"id": i, "updated_at": f"2021-02-01T{i:02d}:00:00Z"} for i in range(5)]
    api_server.add_collection("/items", records)
    cursor = date_cursor("2021-02-01T00:00:00Z", "2021-02-01T23:59:59Z")
    manifest = modern(
        modern_stream(api_server.url, "items", "/items", incremental=cursor, checkpoint_interval=2)
    )
    messages = list(load_source(manifest, {}).read(CATALOG))
    kinds = [m["type"] for m in messages if m["type"] in ("RECORD", "STATE")]
    assert kinds == ["RECORD", "RECORD", "STATE", "RECORD", "RECORD", "STATE", "RECORD", "STATE"]
    # mid-slice checkpoints never claim records of the slice still being read: they hold
    # where the read started, as today's runtime states it
    start = {"updated_at": "2021-02-01T00:00:00Z"}
    assert _states(messages) == [start, start, {"updated_at": "2021-02-01T04:00:00Z"}]


def test_command_line_read_resumes_from_a_state_file(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.add_collection("/items", _days(1, 4), date_filter=DateFilter("updated_at"))
    files = {
        "manifest.yaml": _modern_items(api_server.url),
        "config.json": {"end": "2021-02-04T23:59:59Z"},
        "catalog.json": CATALOG,
        "state.json": {"items": {"updated_at": "2021-02-03T12:00:00Z"}},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    args = ["read", *(f"--{n.split('.')[0]}={tmp_path / n}" for n in files)]
    messages = list(run(args))
    assert _ids(messages) == [4]
    assert _states(messages)[-1] == {"updated_at": "2021-02-04T10:00:00Z"}


def _daily_route(api_server: ApiServer, records: list[dict], failing_day: str | None) -> None:
    """/items filtered by since/until; later days answer sooner, and one day can fail."""

    def answer(request: Any) -> Response:
        since, until = request.param("updated_since"), request.param("updated_until")
        if failing_day and since.startswith(failing_day):
            return Response(500, {"error": "injected"})
        low, high = parse_instant(since), parse_instant(until)
        chosen = [r for r in records if low <= parse_instant(r["updated_at"]) <= high]
        return Response(200, {"data": chosen}, delay=(12 - low.day) * 0.002)

    api_server.add_route("GET", "/items", answer)


def _concurrent_manifest(url: str, concurrency: int) -> dict[str, Any]:
    cursor = date_cursor("2021-02-01T00:00:00Z", "2021-02-10T23:59:59Z", **DAILY)
    stream = modern_stream(url, "items", "/items", incremental=cursor, retries=False)
    return modern(stream, concurrency=concurrency)


def _check_state_never_ahead(messages: list[dict], records: list[dict]) -> None:
    emitted: set[Any] = set()
    for message in messages:
        if message["type"] == "RECORD":
            emitted.add(message["record"]["data"]["id"])
        elif message["type"] == "STATE" and message["state"]["stream"]["stream_state"]:
            covered = message["state"]["stream"]["stream_state"]["updated_at"]
            assert {r["id"] for r in records if r["updated_at"] <= covered} <= emitted


def test_concurrent_read_matches_the_sequential_one(api_server: ApiServer) -> None:
    records = _days(1, 10, hour=3) + [
        {"id": 100 + d, **r} for d, r in enumerate(_days(1, 10, hour=20))
    ]
    for i, record in enumerate(records):
        record["id"] = i
    _daily_route(api_server, records, failing_day=None)
    sequential = list(load_source(_concurrent_manifest(api_server.url, 1), {}).read(CATALOG))
    concurrent_source = load_source(_concurrent_manifest(api_server.url, 4), {})
    assert concurrent_source.concurrency == 4
    concurrent = list(concurrent_source.read(CATALOG))
    assert sorted(_ids(concurrent)) == sorted(_ids(sequential)) == list(range(20))
    assert _states(concurrent) == _states(sequential)
    _check_state_never_ahead(concurrent, records)


def test_slice_groups_hand_out_a_concurrent_read_group_by_group(api_server: ApiServer) -> None:
    """Records of later days arrive while earlier ones are read; each group still gets all of
    its own slices' events and no other's, however the pool interleaved them."""
    records = _days(1, 10, hour=3)
    _daily_route(api_server, records, failing_day=None)
    source = load_source(_concurrent_manifest(api_server.url, 4), {})
    stream = source.stream("items")
    slices = list(stream.slices())
    groups = SliceGroups(iter_slices(stream, slices, 4))
    for first in range(0, len(slices), 3):
        indexes = range(first, min(first + 3, len(slices)))
        events = list(groups.events(indexes))
        assert {event.index for event in events} == set(indexes)
        assert sum(event.kind == DONE for event in events) == len(indexes)
        days = {slices[i]["start_time"][:10] for i in indexes}
        got = [event.record["updated_at"][:10] for event in events if event.record]
        assert got
        assert sorted(got) == sorted(
            r["updated_at"][:10] for r in records if r["updated_at"][:10] in days
        )
    source.close()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_pages_carry_the_same_records_and_slices_as_single_records(
    api_server: ApiServer, concurrency: int
) -> None:
    """``iter_slices(pages=True)``: one event per page with the page's records, the same
    records of the same slices, the same DONE events and the same cursor state at the end."""
    records = _days(1, 10, hour=3) + _days(1, 10, hour=20)
    for index, record in enumerate(records):
        record["id"] = index
    _daily_route(api_server, records, failing_day=None)

    def read(pages: bool) -> tuple[list[tuple[int, Any]], list[int], dict]:
        source = load_source(_concurrent_manifest(api_server.url, concurrency), {})
        stream = source.stream("items")
        got, done = [], []
        for event in iter_slices(stream, stream.slices(), concurrency, pages=pages):
            if event.kind == DONE:
                done.append(event.index)
            elif pages:
                assert event.kind == PAGE and event.records
                got += [(event.index, record["id"]) for record in event.records]
            else:
                got.append((event.index, event.record["id"]))
        state = stream.cursor.state()
        source.close()
        return sorted(got), done, state

    by_page, by_record = read(pages=True), read(pages=False)
    assert by_page == by_record
    assert len(by_page[0]) == 20 and by_page[1] == list(range(10))


@pytest.mark.parametrize("failing_day", ["2021-02-06", "2021-02-01"])
def test_state_never_covers_a_failed_slice(api_server: ApiServer, failing_day: str) -> None:
    records = _days(1, 10)
    _daily_route(api_server, records, failing_day=failing_day)
    messages: list[dict] = []
    with pytest.raises(EngineError, match="500"):
        for message in load_source(_concurrent_manifest(api_server.url, 4), {}).read(CATALOG):
            messages.append(message)
    states = [s for s in _states(messages) if s]
    if failing_day == "2021-02-01":
        assert states == []
    else:
        # how far it got depends on timing; it never reaches the failed day
        assert all(s["updated_at"] < failing_day for s in states)
    _check_state_never_ahead(messages, records)


def test_command_line_read_resumes_from_the_state_table(
    api_server: ApiServer, tmp_path: Path
) -> None:
    records = _days(1, 2)
    api_server.add_collection("/items", records, date_filter=DateFilter("updated_at"))
    (tmp_path / "items.yaml").write_text(json.dumps(_modern_items(api_server.url)))
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    db = f"sqlite:///{tmp_path / 'state.db'}"

    def read(end: str) -> list[dict]:
        (tmp_path / "config.json").write_text(json.dumps({"end": end}))
        return list(
            run(
                [
                    "read",
                    f"--manifest={tmp_path / 'items.yaml'}",
                    f"--config={tmp_path / 'config.json'}",
                    f"--catalog={tmp_path / 'catalog.json'}",
                    f"--state-db={db}",
                ]
            )
        )

    assert _ids(read("2021-02-02T23:59:59Z")) == [1, 2]
    records.extend(_days(3, 4))
    api_server.clear_requests()
    second = read("2021-02-04T23:59:59Z")
    assert _ids(second) == [2, 3, 4]  # the window starts at the saved cursor itself
    assert _windows(api_server)[0] == ("2021-02-02T10:00:00Z", "2021-02-03T09:59:59Z")
    store = StateStore(db)
    try:
        # Keyed by connection: the manifest's name and the digest of no identifying config (the
        # end date bounds the read, it does not identify the account).
        manifest = load_manifest(tmp_path / "items.yaml")
        connection = default_connection_name("items", manifest, {"end": "2021-02-04T23:59:59Z"})
        assert connection == default_connection_name("items", manifest, {})
        assert store.load(connection, "items") == {"updated_at": "2021-02-04T10:00:00Z"}
    finally:
        store.dispose()


def test_records_as_lines_are_the_same_messages_in_the_same_order(api_server: ApiServer) -> None:
    """The command line's path: RECORDs serialised in groups straight to JSON lines, STATE after
    the records it covers, exactly the text of the messages as dicts (but ``emitted_at``)."""
    records = [
        {"id": n, "updated_at": f"2021-02-0{1 + n // 1200}T10:00:00Z", "note": 'é "q" \\'}
        for n in range(2500)
    ]
    api_server.add_collection("/items", records, date_filter=DateFilter("updated_at"))
    manifest = _modern_items(api_server.url)
    config = {"end": "2021-02-03T23:59:59Z"}

    def read(**options: Any) -> list[dict | bytes]:
        source = load_source(manifest, config)
        try:
            return list(source.read(CATALOG, **options))
        finally:
            source.close()

    def without_emitted_at(message: dict) -> dict:
        if message["type"] == "RECORD":
            assert isinstance(message["record"].pop("emitted_at"), int)
        return message

    as_dicts = [json.loads(protocol.dumps(m)) for m in read()]
    chunks = read(records_as_lines=True)
    as_lines = [
        json.loads(line)
        for chunk in chunks
        for line in (chunk if isinstance(chunk, bytes) else protocol.dumps(chunk)).splitlines()
    ]
    assert [without_emitted_at(m) for m in as_lines] == [without_emitted_at(m) for m in as_dicts]
    assert [c.count(b"\n") for c in chunks if isinstance(c, bytes)] == [1000, 200, 1000, 200, 100]
    assert _ids(as_lines) == list(range(2500))


def test_a_read_without_records_states_where_it_started(api_server: ApiServer) -> None:
    """Today's runtime: the state after a read is the newest cursor seen, and at least the
    configured start (or the state the read began from) - also when no record came."""
    api_server.add_collection("/items", [])
    cursor = date_cursor("2021-02-01T00:00:00Z", "2021-02-03T00:00:00Z", **DAILY)
    manifest = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor))
    first = _states(list(load_source(manifest, {}).read(CATALOG)))
    assert first[-1] == {"updated_at": "2021-02-01T00:00:00Z"}
    resumed = {"items": {"updated_at": "2021-02-02T00:00:00Z"}}
    second = _states(list(load_source(manifest, {}).read(CATALOG, resumed)))
    assert second[-1] == {"updated_at": "2021-02-02T00:00:00Z"}
