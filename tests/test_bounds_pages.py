"""Pagination that never ends is stopped, and pages whose records are not records say so.

A token the API already handed out ends the slice with a warning (following it would read the
same pages forever); a paginator that always finds another page is failed by the optional
per-slice page or record limit, naming the stream and the slice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from manifests import modern
from support.api_server import ApiServer, Pagination, Response
from support.cli import engine_cli

from engine import PageLimits, load_source
from engine.errors import ConfigError, ReadError

CURSOR = """
type: DefaultPaginator
pagination_strategy: {type: CursorPagination, cursor_value: "{{ response.next }}"}
page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: cursor}
"""
ALWAYS_FULL = """
type: DefaultPaginator
pagination_strategy: {type: PageIncrement, page_size: 2, start_from_page: 1}
page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
"""


def _read(url: str, paginator: str = "type: NoPagination", **options: object) -> list[dict]:
    source = load_source(modern(url, paginator=paginator), {}, **options)
    try:
        return list(source.read_records("items"))
    finally:
        source.close()


def _tokens(api_server: ApiServer, answers: dict[str | None, str | None]) -> None:
    """Each request's ``cursor`` parameter decides the next token the API answers with."""

    def page(request) -> Response:
        cursor = request.param("cursor")
        return Response(200, {"data": [{"id": cursor or "first"}], "next": answers[cursor]})

    api_server.add_route("GET", "/items", page)


@pytest.mark.parametrize(
    ("answers", "pages", "again"),
    [
        ({None: "A", "A": "A"}, 2, "the page token just sent"),
        ({None: "A", "A": "B", "B": "A"}, 3, "an earlier page token"),
        ({None: "A", "A": "B", "B": "C", "C": "B"}, 4, "an earlier page token"),
    ],
    ids=["same", "cycle-of-two", "cycle-later"],
)
def test_a_repeated_page_token_ends_the_slice_with_a_warning(
    api_server: ApiServer, answers, pages: int, again: str, caplog: pytest.LogCaptureFixture
) -> None:
    _tokens(api_server, answers)
    with caplog.at_level(logging.WARNING, logger="engine"):
        records = _read(api_server.url, CURSOR)
    assert len(records) == len(api_server.requests) == pages
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith("stream 'items': ")
    assert f"page {pages} with {again}" in warning and "pagination stopped" in warning


def test_fresh_tokens_are_followed_to_the_end(api_server: ApiServer, caplog) -> None:
    _tokens(api_server, {None: "A", "A": "B", "B": None})
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert len(_read(api_server.url, CURSOR)) == 3
    assert caplog.records == []


def _always_full(api_server: ApiServer) -> None:
    api_server.add_route(
        "GET",
        "/items",
        lambda request: Response(200, {"data": [{"id": 1}, {"id": 2}], "next": "x"}),
    )


@pytest.mark.parametrize(
    ("limits", "requests", "message"),
    [
        (
            PageLimits(max_pages=5),
            5,
            "after 5 pages, the limit of 5 per slice (max_pages_per_slice)",
        ),
        (PageLimits(max_records=7), 4, "after 8 records, the limit of 7 per slice"),
    ],
)
def test_a_paginator_that_never_ends_fails_at_the_limit(
    api_server: ApiServer, limits: PageLimits, requests: int, message: str
) -> None:
    _always_full(api_server)
    with pytest.raises(ReadError) as caught:
        _read(api_server.url, ALWAYS_FULL, page_limits=limits)
    assert message in str(caught.value)
    assert "stream 'items'" in str(caught.value)
    assert len(api_server.requests) == requests


def test_the_limits_leave_a_paginator_that_ends_alone(api_server: ApiServer) -> None:
    api_server.add_collection(
        "/items", [{"id": i} for i in range(8)], pagination=Pagination("page", page_size=3)
    )
    records = _read(
        api_server.url,
        ALWAYS_FULL.replace("page_size: 2", "page_size: 3")
        + "page_size_option: {type: RequestOption, inject_into: request_parameter, "
        "field_name: per_page}",
        page_limits=PageLimits(max_pages=4, max_records=12),
    )
    assert len(records) == 8


@pytest.mark.parametrize("value", [0, -1, 2.5, "3"])
def test_limits_must_be_positive_whole_numbers(value) -> None:
    with pytest.raises(ConfigError, match="max_pages per slice must be a whole number"):
        PageLimits(max_pages=value)


def test_the_command_line_takes_the_limits(api_server: ApiServer, tmp_path: Path) -> None:
    _always_full(api_server)
    manifest, config = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(modern(api_server.url, paginator=ALWAYS_FULL))
    config.write_text("{}")
    done = engine_cli("read", manifest, config, "--max-pages-per-slice", "3")
    assert done.returncode == 1, done.stderr
    trace = json.loads(done.stdout.splitlines()[-1])["trace"]["error"]["message"]
    assert "limit of 3 per slice (max_pages_per_slice)" in trace and "'items'" in trace
    refused = engine_cli("read", manifest, config, "--max-records-per-slice", "0")
    assert refused.returncode == 2 and "expected a whole number of at least 1" in refused.stderr


# -- what a page holds -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"data": "oops"}, {"data": 42}, {"data": True}])
def test_a_scalar_where_records_belong_fails_the_read(api_server: ApiServer, body) -> None:
    api_server.add_route("GET", "/items", lambda request: Response(200, body))
    with pytest.raises(ReadError, match=r"found a .* at .data. where records belong") as caught:
        _read(api_server.url)
    assert "stream 'items'" in str(caught.value)


def test_records_that_are_not_objects_are_skipped_with_a_count(
    api_server: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"data": [{"id": 1}, 2, "three", None, {"id": 5}]}
    api_server.add_route("GET", "/items", lambda request: Response(200, body))
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert _read(api_server.url) == [{"id": 1}, {"id": 5}]
    [warning] = [r.getMessage() for r in caplog.records]
    assert "3 of 5 records at 'data' are not objects (e.g. a int) and were skipped" in warning


def test_an_error_envelope_with_status_200_is_a_warning_with_its_text(
    api_server: ApiServer, tmp_path: Path
) -> None:
    envelope = {"error": {"message": "daily quota exceeded"}, "code": 4031}
    api_server.add_route("GET", "/items", lambda request: Response(200, envelope))
    manifest, config = tmp_path / "m.yaml", tmp_path / "c.json"
    manifest.write_text(modern(api_server.url))
    config.write_text("{}")
    done = engine_cli("read", manifest, config)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = [
        json.loads(line)["log"]
        for line in done.stdout.splitlines()
        if json.loads(line)["type"] == "LOG"
    ]
    warnings = [log["message"] for log in logs if log["level"] == "WARN"]
    assert warnings == [
        "stream 'items': a page has no records field 'data' (its keys: error, code); "
        "it says: daily quota exceeded"
    ]


def test_an_empty_page_is_no_warning(api_server: ApiServer, caplog) -> None:
    api_server.add_route("GET", "/items", lambda request: Response(200, {"data": []}))
    with caplog.at_level(logging.WARNING, logger="engine"):
        assert _read(api_server.url) == []
    assert caplog.records == []
