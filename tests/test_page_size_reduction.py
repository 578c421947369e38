"""page_size_reduction against a real server: an API that answers a page larger than it can
serve with 504 gets the same page again with the size divided, as airbyte-cdk 7.39 does
(``PageSizeReducer``); the refusals airbyte-cdk 7 makes at build are made too."""

from __future__ import annotations

from contextlib import closing

import pytest
from support.api_server import RecordedRequest, Response
from support.slicing_manifests import lazy_router, modern, modern_stream

from engine import load_source
from engine.errors import EngineError, ManifestError

RECORDS = [{"id": n} for n in range(10)]


def _serve(api_server, largest: int) -> None:
    """Offset pages (``offset``, ``limit``); a limit above ``largest`` is answered 504."""

    def handle(request: RecordedRequest) -> Response:
        limit, offset = int(request.param("limit") or 100), int(request.param("offset") or 0)
        if limit > largest:
            return Response(504, {"message": "query too expensive"})
        return Response(200, {"data": RECORDS[offset : offset + limit]})

    api_server.add_route("GET", "/items", handle)


def _manifest(url: str, reduction: dict | None, *, strategy: str = "OffsetIncrement") -> dict:
    stream = modern_stream(url, "items", "/items")
    retriever = stream["retriever"]
    retriever["requester"]["error_handler"] = {
        "type": "DefaultErrorHandler",
        "max_retries": 0,
        "response_filters": [
            {
                "type": "HttpResponseFilter",
                "http_codes": [504],
                "action": "REDUCE_PAGE_SIZE",
                "error_message": "{{ response.message }}",
            }
        ],
    }
    option = {"type": "RequestOption", "inject_into": "request_parameter"}
    retriever["paginator"] = {
        "type": "DefaultPaginator",
        "page_size_option": {**option, "field_name": "limit"},
        "page_token_option": {**option, "field_name": "offset"},
        "pagination_strategy": {"type": strategy, "page_size": 8},
    }
    if reduction is not None:
        retriever["page_size_reduction"] = {"type": "PageSizeReduction", **reduction}
    return modern(stream)


def _read(manifest: dict) -> list[dict]:
    with closing(load_source(manifest, {})) as source:
        return list(source.read_records("items"))


def _asked(api_server) -> list[tuple[str | None, str | None]]:
    return [(r.param("offset"), r.param("limit")) for r in api_server.requests]


def test_the_same_page_is_asked_again_smaller_and_the_size_is_kept(api_server):
    _serve(api_server, largest=3)
    records = _read(_manifest(api_server.url, {"backoff_seconds": 0}))
    assert [r["id"] for r in records] == list(range(10))
    # 8 -> 4 -> 2 (factor 2), then the reduced size stays (reset_policy NEVER); a page shorter
    # than the size asked for (2) ends the slice.
    assert _asked(api_server) == [
        (None, "8"),
        (None, "4"),
        (None, "2"),
        ("2", "2"),
        ("4", "2"),
        ("6", "2"),
        ("8", "2"),
        ("10", "2"),
    ]


def test_after_successful_page_restores_the_configured_size(api_server):
    _serve(api_server, largest=5)
    reduction = {"backoff_seconds": 0, "reset_policy": "AFTER_SUCCESSFUL_PAGE"}
    records = _read(_manifest(api_server.url, reduction))
    assert [r["id"] for r in records] == list(range(10))
    assert _asked(api_server)[:4] == [(None, "8"), (None, "4"), ("4", "8"), ("4", "4")]


def test_the_floor_is_retried_then_the_read_fails_with_the_api_message(api_server):
    _serve(api_server, largest=0)
    reduction = {"backoff_seconds": 0, "minimum_page_size": 2, "retries_at_minimum_page_size": 1}
    with pytest.raises(EngineError, match=r"smallest page size allowed \(2\).*too expensive"):
        _read(_manifest(api_server.url, reduction))
    assert _asked(api_server) == [(None, "8"), (None, "4"), (None, "2"), (None, "2")]


def test_max_attempts_bounds_the_reductions_in_a_row(api_server):
    _serve(api_server, largest=0)
    reduction = {"backoff_seconds": 0, "max_attempts": 1}
    with pytest.raises(EngineError, match="kept rejecting the page"):
        _read(_manifest(api_server.url, reduction))
    assert _asked(api_server) == [(None, "8"), (None, "4")]


def test_the_action_without_a_reduction_block_is_refused_at_load(api_server):
    with pytest.raises(ManifestError, match="defines no page_size_reduction"):
        load_source(_manifest(api_server.url, None), {}).stream("items")


def test_page_increment_is_refused(api_server):
    manifest = _manifest(api_server.url, {}, strategy="PageIncrement")
    with pytest.raises(ManifestError, match="PageIncrement") as refused:
        load_source(manifest, {}).stream("items")
    assert refused.value.path.endswith("retriever.page_size_reduction")


def test_a_lazily_read_child_with_a_reduction_is_refused(api_server):
    manifest = _manifest(api_server.url, {})
    parent = modern_stream(api_server.url, "parents", "/parents")
    retriever = manifest["streams"][0]["retriever"]
    retriever["partition_router"] = lazy_router(parent, ["items"])
    with pytest.raises(ManifestError, match="lazily") as refused:
        load_source(manifest, {}).stream("items")
    assert refused.value.path.endswith("retriever.page_size_reduction")


def test_split_request_window_is_refused_by_path(api_server):
    manifest = _manifest(api_server.url, {})
    handler = manifest["streams"][0]["retriever"]["requester"]["error_handler"]
    handler["response_filters"][0]["action"] = "SPLIT_REQUEST_WINDOW"
    with pytest.raises(ManifestError, match="SPLIT_REQUEST_WINDOW") as refused:
        load_source(manifest, {}).stream("items")
    assert refused.value.path.endswith("response_filters[0].action")
