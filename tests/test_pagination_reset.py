"""pagination_reset against a real server: the requests and records airbyte-cdk 7.39 makes when
an API caps how many records one pagination may reach (checked against the reference runner on
this same server)."""

from __future__ import annotations

import pytest
from support.api_server import DateFilter, Pagination
from support.slicing_manifests import date_cursor, modern, modern_stream, page_paginator

from engine import load_source
from engine.errors import EngineError, ManifestError

DAYS = [{"id": d, "updated_at": f"2024-01-0{d}T00:00:00Z"} for d in range(1, 6)]


def _manifest(url: str, reset: dict, *, incremental: bool = True) -> dict:
    cursor = date_cursor("2024-01-01T00:00:00Z", "2024-01-31T00:00:00Z") if incremental else None
    stream = modern_stream(url, "items", "/items", incremental=cursor)
    stream["retriever"]["paginator"] = page_paginator(2)
    stream["retriever"]["pagination_reset"] = {"type": "PaginationReset", **reset}
    return modern(stream)


def _read(manifest: dict) -> list[dict]:
    source = load_source(manifest, {})
    try:
        return list(source.read_records("items"))
    finally:
        source.close()


def _asked(api_server) -> list[tuple[str | None, str | None]]:
    return [(r.param("page"), r.param("updated_since")) for r in api_server.requests]


def _serve(api_server) -> None:
    api_server.add_collection(
        "/items",
        DAYS,
        pagination=Pagination("page", page_size=2),
        date_filter=DateFilter("updated_at"),
    )


def test_split_using_cursor_restarts_from_the_newest_cursor_value_read(api_server):
    _serve(api_server)
    limits = {"type": "PaginationResetLimits", "number_of_records": 4}
    records = _read(_manifest(api_server.url, {"action": "SPLIT_USING_CURSOR", "limits": limits}))
    start, fourth = "2024-01-01T00:00:00Z", "2024-01-04T00:00:00Z"
    assert _asked(api_server) == [(None, start), ("2", start), (None, fourth), ("2", fourth)]
    assert [r["id"] for r in records] == [1, 2, 3, 4, 4, 5]


def test_reset_asks_the_same_slice_once_more_then_fails(api_server):
    _serve(api_server)
    limits = {"type": "PaginationResetLimits", "number_of_records": 2}
    manifest = _manifest(api_server.url, {"action": "RESET", "limits": limits}, incremental=False)
    with pytest.raises(EngineError, match="restart"):
        _read(manifest)
    assert [r.param("page") for r in api_server.requests] == [None, None]


def test_a_restart_that_makes_no_progress_fails(api_server):
    same_day = [{"id": n, "updated_at": "2024-01-02T00:00:00Z"} for n in range(4)]
    api_server.add_collection(
        "/items",
        same_day,
        pagination=Pagination("page", page_size=2),
        date_filter=DateFilter("updated_at"),
    )
    limits = {"type": "PaginationResetLimits", "number_of_records": 2}
    manifest = _manifest(api_server.url, {"action": "SPLIT_USING_CURSOR", "limits": limits})
    with pytest.raises(EngineError, match="restart"):
        _read(manifest)
    day = "2024-01-02T00:00:00Z"
    assert _asked(api_server) == [(None, "2024-01-01T00:00:00Z"), (None, day)]


def test_limits_with_a_record_filter_are_refused(api_server):
    manifest = _manifest(api_server.url, {"action": "RESET", "limits": {"number_of_records": 2}})
    retriever = manifest["streams"][0]["retriever"]
    retriever["record_selector"] = {
        **retriever["record_selector"],
        "record_filter": {"type": "RecordFilter", "condition": "{{ record.id > 1 }}"},
    }
    with pytest.raises(ManifestError, match="record_filter"):
        load_source(manifest, {}).stream("items")
