"""Data feeds, integer cursors, lazy parents and the per-partition state's extras."""

from __future__ import annotations

from typing import Any

from manifests import page_paginator
from support.api_server import ApiServer, Pagination, Response
from support.slicing_manifests import date_cursor, legacy, modern, modern_stream
from test_slicing_routers import _events_server, _final_state, _incremental_child

from engine import load_source

INCREMENTAL = {"streams": [{"stream": {"name": "items"}, "sync_mode": "incremental"}]}
EVENTS = {"streams": [{"stream": {"name": "events"}, "sync_mode": "incremental"}]}
PAGES = page_paginator(2)


def _ids(messages: list[dict]) -> list[Any]:
    return [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"]


def _states(messages: list[dict]) -> list[dict]:
    return [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"]


def test_data_feed_stops_paging_at_the_first_record_older_than_the_state(
    api_server: ApiServer,
) -> None:
    newest_first = [{"id": d, "updated_at": f"2021-02-{d:02d}T10:00:00Z"} for d in range(10, 0, -1)]
    api_server.add_collection("/feed", newest_first, pagination=Pagination("page", page_size=2))
    cursor = date_cursor("2021-01-01T00:00:00Z", "2021-03-01T00:00:00Z", is_data_feed=True)
    del cursor["start_time_option"], cursor["end_time_option"]  # the feed takes no dates
    stream = modern_stream(api_server.url, "items", "/feed", incremental=cursor)
    stream["retriever"]["paginator"] = PAGES
    source = load_source(modern(stream), {})
    first = list(source.read(INCREMENTAL))
    assert _ids(first) == list(range(10, 0, -1))
    assert len(api_server.requests) == 6  # the last page is short: an empty 6th
    state = _states(first)[-1]
    assert state == {"updated_at": "2021-02-10T10:00:00Z"}

    newest_first[:0] = [{"id": 12, "updated_at": "2021-02-12T10:00:00Z"}]
    newest_first[1:1] = [{"id": 11, "updated_at": "2021-02-11T10:00:00Z"}]
    api_server.clear_requests()
    second = list(source.read(INCREMENTAL, {"items": state}))
    # page 1: 12, 11; page 2: 10 (the state itself, kept), 9 (older: paging stops)
    assert _ids(second) == [12, 11, 10]
    assert [r.param("page") for r in api_server.requests] == [None, "2"]
    assert _states(second)[-1] == {"updated_at": "2021-02-12T10:00:00Z"}


def test_incrementing_count_cursor_sends_the_highest_id_and_resumes(api_server: ApiServer) -> None:
    rows = [{"id": n, "name": f"row {n}"} for n in range(1, 6)]

    def after(request: Any) -> Response:
        since = int(request.param("since_id") or 0)
        return Response(200, {"data": [r for r in rows if r["id"] > since]})

    api_server.add_route("GET", "/rows", after)
    cursor = {
        "type": "IncrementingCountCursor",
        "cursor_field": "id",
        "start_value": "{{ config['first_id'] }}",
        "start_value_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "since_id",
        },
    }
    source = load_source(
        modern(modern_stream(api_server.url, "items", "/rows", incremental=cursor)),
        {"first_id": 2},
    )
    assert source.stream("items").slices() == [{}]
    first = list(source.read(INCREMENTAL))
    assert _ids(first) == [3, 4, 5]
    assert _states(first) == [{"id": 5}]
    rows.extend({"id": n, "name": f"row {n}"} for n in (6, 7))
    api_server.clear_requests()
    second = list(source.read(INCREMENTAL, {"items": {"id": 5}}))
    assert [r.param("since_id") for r in api_server.requests] == ["5"]
    assert _ids(second) == [6, 7] and _states(second) == [{"id": 7}]


def test_check_of_a_child_stream_takes_its_first_partition(api_server: ApiServer) -> None:
    projects = [{"id": n, "meta": {"project_id": n}} for n in range(1, 9)]
    api_server.add_collection("/projects", projects, pagination=Pagination("page", page_size=2))
    api_server.add_collection("/projects/{id}/events", lambda params: [{"id": 1}])
    parent = modern_stream(api_server.url, "projects", "/projects")
    parent["retriever"]["paginator"] = PAGES
    router = {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": parent,
                "parent_key": "meta/project_id",
                "partition_field": "project_id",
            }
        ],
    }
    child = modern_stream(
        api_server.url,
        "events",
        "/projects/{{ stream_partition.project_id }}/events",
        router=router,
    )
    source = load_source(modern(child), {})
    assert source.check() == (True, None)
    assert [r.path for r in api_server.requests].count("/projects") == 1  # one parent page only
    assert len(source.stream("events").slices()) == 8


def test_lazy_partitions_read_the_parent_only_as_far_as_needed(api_server: ApiServer) -> None:
    projects = [{"id": n, "meta": {"project_id": n}} for n in range(1, 9)]
    api_server.add_collection("/projects", projects, pagination=Pagination("page", page_size=2))
    manifest = _incremental_child(api_server.url)
    manifest["streams"][0]["retriever"]["partition_router"]["parent_stream_configs"][0]["stream"][
        "retriever"
    ]["paginator"] = PAGES
    slicer = load_source(manifest, {}).stream("events").slicer
    first = next(iter(slicer.slices(None)))
    assert first["project_id"] == 1
    assert [r.param("page") for r in api_server.requests] == [None]


def test_partitions_without_state_re_read_the_previous_read_duration(
    api_server: ApiServer,
) -> None:
    _events_server(api_server)
    source = load_source(_incremental_child(api_server.url), {})
    state = {
        "use_global_cursor": False,
        "states": [
            {
                "partition": {"project_id": 7, "parent_slice": {}},
                "cursor": {"updated_at": "2021-02-02T12:00:00Z"},
            }
        ],
        "state": {"updated_at": "2021-02-02T12:00:00Z"},
        "lookback_window": 7200,
    }
    starts = {s["project_id"]: s["start_time"] for s in source.stream("events").slices(state)}
    # project 7 has its own state; project 9 starts from the global one, two hours earlier
    assert starts == {7: "2021-02-02T12:00:00Z", 9: "2021-02-02T10:00:00Z"}


def test_cursor_goes_global_past_the_partition_limit(api_server: ApiServer) -> None:
    _events_server(api_server)
    source = load_source(_incremental_child(api_server.url), {})
    source.stream("events").slicer.switch_to_global_after = 1
    state = _final_state(list(source.read(EVENTS)))
    assert state["use_global_cursor"] is True and "states" not in state
    assert state["state"] == {"updated_at": "2021-02-02T10:00:00Z"}
    # once global, it stays global and every partition starts from the global cursor
    again = load_source(_incremental_child(api_server.url), {}).stream("events")
    firsts = {s["project_id"]: s["start_time"] for s in reversed(again.slices(state))}
    assert firsts[7] == firsts[9] <= "2021-02-02T10:00:00Z"
    assert again.slicer.state()["use_global_cursor"] is True


def test_2022_list_slicer_with_a_cursor_field_reports_the_last_partition(
    api_server: ApiServer,
) -> None:
    api_server.add_route(
        "GET", "/items", lambda r: Response(200, {"data": [{"id": r.param("repo")}]})
    )
    slicer = {
        "type": "ListStreamSlicer",
        "slice_values": ["p", "q"],
        "cursor_field": "repository",
        "request_option": {"inject_into": "request_parameter", "field_name": "repo"},
    }
    manifest = legacy(api_server.url, "items", "/items", slicer)
    manifest["streams"][0]["stream_cursor_field"] = "repository"
    source = load_source(manifest, {})
    messages = list(source.read(INCREMENTAL, {"items": {"repository": "p"}}))
    assert _ids(messages) == ["p", "q"]  # informational: no partition is skipped
    assert _states(messages) == [{"repository": "p"}, {"repository": "q"}]
    assert source.stream("items").slicer.values == ["p", "q"]
