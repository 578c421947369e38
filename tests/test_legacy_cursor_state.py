"""2022 dialect: what request templates see of the state, and cursor values kept as text.

The 2022 runtime (airbyte-cdk 0.11 to 0.28) rendered the path, request parameters, headers and
bodies and the record filter's condition with ``stream_state``, its slicer's state at the moment
of the request: the state the read began from, moved by every record read so far. Its date slicer
compared record cursor values as text and never parsed them while reading, so a value that is no
date was no error there.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.api_server import ApiServer, DateFilter, Pagination, Response
from support.slicing_manifests import (
    date_cursor,
    legacy,
    legacy_offset_paginator,
    modern,
    modern_stream,
)

from engine import load_source
from engine.errors import EngineError

CATALOG = {"streams": [{"stream": {"name": "items"}, "sync_mode": "incremental"}]}
SEEN = "{{ stream_state['updated_at'] }}"
RECORDS = [
    {"id": 1, "updated_at": "2021-02-01T10:00:00Z"},
    {"id": 2, "updated_at": "2021-02-01T11:00:00Z"},
    {"id": 3, "updated_at": "2021-02-01T12:00:00Z"},
    {"id": 4, "updated_at": "2021-02-02T10:00:00Z"},
]


def _slicer(end: str) -> dict[str, Any]:
    return {
        "type": "DatetimeStreamSlicer",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": "2021-02-01T00:00:00Z",
        "end_datetime": end,
        "step": "P1D",
        "cursor_granularity": "PT1S",
        "start_time_option": {"inject_into": "request_parameter", "field_name": "updated_since"},
        "end_time_option": {"inject_into": "request_parameter", "field_name": "updated_until"},
    }


def _legacy_items(url: str, end: str = "2021-02-02T23:59:59Z") -> dict[str, Any]:
    """Two daily windows, pages of two records, the state in a parameter and a header."""
    manifest = legacy(url, "items", "/items", _slicer(end))
    retriever = manifest["streams"][0]["retriever"]
    retriever["requester"]["request_options_provider"] = {
        "request_parameters": {"seen": SEEN},
        "request_headers": {"X-Seen": "{{ stream_state.get('updated_at', 'nothing') }}"},
    }
    retriever["paginator"] = legacy_offset_paginator(url, 2)
    return manifest


def _read(manifest: dict, state: dict | None = None) -> list[dict]:
    source = load_source(manifest, {})
    return list(source.read(CATALOG, {"items": state} if state is not None else None))


def _states(messages: list[dict]) -> list[dict]:
    return [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"]


@pytest.fixture
def paged_items(api_server: ApiServer) -> ApiServer:
    paging = Pagination("offset", page_size=2)
    api_server.add_collection(
        "/items", RECORDS, pagination=paging, date_filter=DateFilter("updated_at")
    )
    return api_server


def test_request_options_see_the_state_as_it_moves(paged_items: ApiServer) -> None:
    """Page two of a window sees page one's records; the next window sees the last one's."""
    _read(_legacy_items(paged_items.url), {"updated_at": "2021-01-31T08:00:00Z"})
    sent = [(r.param("offset"), r.param("seen"), r.headers["x-seen"]) for r in paged_items.requests]
    assert sent == [
        (None, "2021-01-31T08:00:00Z", "2021-01-31T08:00:00Z"),
        ("2", "2021-02-01T11:00:00Z", "2021-02-01T11:00:00Z"),
        (None, "2021-02-01T12:00:00Z", "2021-02-01T12:00:00Z"),
    ]


def test_a_first_sync_starts_from_an_empty_state(paged_items: ApiServer) -> None:
    """``stream_state`` is ``{}`` before any record: a missing key renders nothing (the
    parameter drops out) and ``.get`` falls back to its default."""
    _read(_legacy_items(paged_items.url))
    sent = [(r.param("seen"), r.headers["x-seen"]) for r in paged_items.requests]
    assert sent[0] == (None, "nothing")
    assert sent[1:] == [("2021-02-01T11:00:00Z",) * 2, ("2021-02-01T12:00:00Z",) * 2]


def test_todays_dialect_hands_request_options_no_state(paged_items: ApiServer) -> None:
    """airbyte-cdk 7 has no ``stream_state`` in templates: the engine warns and leaves it
    undefined, whatever the state."""
    cursor = date_cursor("2021-02-01T00:00:00Z", "2021-02-02T23:59:59Z", step="P1D")
    cursor["cursor_granularity"] = "PT1S"
    stream = modern_stream(
        paged_items.url,
        "items",
        "/items",
        incremental=cursor,
        request_parameters={"seen": "{{ stream_state or 'undefined' }}"},
    )
    _read(modern(stream), {"updated_at": "2021-01-31T08:00:00Z"})
    assert {r.param("seen") for r in paged_items.requests} == {"undefined"}


def test_a_cursor_value_that_is_no_date_is_kept_as_text(api_server: ApiServer) -> None:
    """As the 2022 runtime: the record is emitted, the stream does not fail, and the state is
    the largest value as text (here the one that is no date); the next sync, which parses the
    state, fails naming the cursor field."""
    records = [{"id": 1, "updated_at": "2021-02-01T10:00:00Z"}, {"id": 2, "updated_at": "soon"}]
    api_server.add_collection("/items", records)
    manifest = legacy(api_server.url, "items", "/items", _slicer("2021-02-01T23:59:59Z"))
    messages = _read(manifest)
    assert [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"] == [1, 2]
    assert _states(messages)[-1] == {"updated_at": "soon"}
    with pytest.raises(EngineError, match="updated_at"):
        _read(manifest, {"updated_at": "soon"})


def test_the_path_and_the_record_filter_see_the_state_too(api_server: ApiServer) -> None:
    """The 2022 runtime rendered the path and the record filter's condition with the same
    state as the request options: the records of earlier pages and windows move it."""
    api_server.add_route("GET", "/at/{moment}", lambda request: Response(200, {"data": RECORDS}))
    manifest = legacy(api_server.url, "items", "/at/{{ stream_state.get('updated_at', 'start') }}")
    stream = manifest["streams"][0]
    stream["retriever"]["stream_slicer"] = _slicer("2021-02-02T23:59:59Z")
    stream["retriever"]["record_selector"]["record_filter"] = {
        "condition": "{{ record['updated_at'] > stream_state.get('updated_at', '') }}"
    }
    messages = _read(manifest, {"updated_at": "2021-02-01T10:30:00Z"})
    assert [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"] == [2, 3, 4]
    assert [r.path for r in api_server.requests] == [
        "/at/2021-02-01T10:30:00Z",
        "/at/2021-02-02T10:00:00Z",
    ]
