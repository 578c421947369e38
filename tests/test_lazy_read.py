"""A parent's ``lazy_read_pointer``, read as airbyte-cdk 7 reads it.

On a first sync (no state for the child stream) the child list a parent record embeds at the
pointer is the child's first page: no request is sent for it, and the child's paginator decides
from it whether to ask the API for the next page. A sync resumed from a state requests every
first page, as the reference does from its second sync on.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.api_server import ApiServer, Response
from support.slicing_manifests import date_cursor, lazy_router, modern, modern_stream

from engine import ManifestError, load_source
from engine.errors import UnsupportedComponentError

MOMENT = "2024-01-02T00:00:00Z"
# parent id -> the child pages the API serves, in order
PAGES = {
    "1": [{"data": [{"id": "a1"}], "has_more": True}, {"data": [{"id": "a2"}], "has_more": False}],
    "2": [{"data": [{"id": "b1"}], "has_more": False}],
}


def _serve(api_server: ApiServer) -> None:
    def stamped(page: dict) -> dict:
        return {**page, "data": [{**item, "updated_at": MOMENT} for item in page["data"]]}

    parents = [{"id": int(key), "children": stamped(pages[0])} for key, pages in PAGES.items()]
    api_server.add_collection("/parents", parents)

    def children(request: Any) -> Response:
        pages = PAGES[request.path_params["id"]]
        after = request.param("starting_after")
        index = 0 if after is None else 1 + [p["data"][-1]["id"] for p in pages].index(after)
        return Response(200, stamped(pages[index]))

    api_server.add_route("GET", "/parents/{id}/children", children)


def _manifest(
    url: str, pointer: list[str], *, incremental: bool = False, **cursor_settings: Any
) -> dict[str, Any]:
    parent = modern_stream(url, "parents", "/parents")
    router = lazy_router(parent, pointer)
    child = modern_stream(
        url, "children", "/parents/{{ stream_partition.parent_id }}/children", router=router
    )
    child["retriever"]["paginator"] = {
        "type": "DefaultPaginator",
        "page_token_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "starting_after",
        },
        "pagination_strategy": {
            "type": "CursorPagination",
            "cursor_value": "{{ response['data'][-1]['id'] }}",
            "stop_condition": "{{ not response['has_more'] }}",
        },
    }
    if incremental:
        cursor = date_cursor("2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z", **cursor_settings)
        del cursor["start_time_option"], cursor["end_time_option"]
        child["incremental_sync"] = cursor
    return modern(child, parent)


def _child_requests(api_server: ApiServer) -> list[str]:
    return [
        f"{r.path}?starting_after={r.param('starting_after')}"
        for r in api_server.requests
        if r.path.endswith("/children")
    ]


def test_a_first_sync_reads_the_embedded_list_as_the_first_page(api_server: ApiServer) -> None:
    _serve(api_server)
    source = load_source(_manifest(api_server.url, ["children"]), {})
    assert [r["id"] for r in source.read_records("children")] == ["a1", "a2", "b1"]
    assert _child_requests(api_server) == ["/parents/1/children?starting_after=a1"]


def test_a_missing_embedded_list_is_an_empty_first_page(api_server: ApiServer) -> None:
    _serve(api_server)
    source = load_source(_manifest(api_server.url, ["absent"]), {})
    assert list(source.read_records("children")) == []
    assert _child_requests(api_server) == []


def test_a_sync_resumed_from_state_requests_every_first_page(api_server: ApiServer) -> None:
    _serve(api_server)
    source = load_source(_manifest(api_server.url, ["children"], incremental=True), {})
    catalog = {"streams": [{"stream": {"name": "children"}, "sync_mode": "incremental"}]}
    first = list(source.read(catalog))
    assert _child_requests(api_server) == ["/parents/1/children?starting_after=a1"]
    state = [m for m in first if m["type"] == "STATE"][-1]["state"]["stream"]["stream_state"]
    api_server.clear_requests()
    second = list(source.read(catalog, {"children": state}))
    assert [m["record"]["data"]["id"] for m in second if m["type"] == "RECORD"] == [
        "a1",
        "a2",
        "b1",
    ]
    assert _child_requests(api_server) == [
        "/parents/1/children?starting_after=None",
        "/parents/1/children?starting_after=a1",
        "/parents/2/children?starting_after=None",
    ]


def test_a_wildcard_pointer_is_refused_as_the_reference_refuses_it(api_server: ApiServer) -> None:
    with pytest.raises(ManifestError, match=r"lazy_read_pointer.*'\*' is not supported"):
        load_source(_manifest(api_server.url, ["children", "*"]), {}).stream("children")


INCREMENTAL = {"streams": [{"stream": {"name": "children"}, "sync_mode": "incremental"}]}


@pytest.mark.parametrize("setting", ["step", "cursor_granularity"])
def test_a_first_sync_with_several_windows_per_parent_is_refused(
    api_server: ApiServer, setting: str
) -> None:
    """airbyte-cdk 7 refuses a lazy first sync whose cursor steps (one embedded list cannot be
    the first page of several windows); resumed from a state, it reads the stream."""
    _serve(api_server)
    stepped = dict(step="P1D", cursor_granularity="PT1S")
    manifest = _manifest(api_server.url, ["children"], incremental=True, **stepped)
    if setting == "cursor_granularity":
        del manifest["streams"][0]["incremental_sync"]["step"]
    source = load_source(manifest, {})
    with pytest.raises(UnsupportedComponentError) as refused:
        list(source.read_records("children"))
    assert refused.value.path == f"streams[0].incremental_sync.{setting}"
    assert "parent_stream_configs[0].lazy_read_pointer" in str(refused.value)
    assert _child_requests(api_server) == []
    resumed = list(source.read(INCREMENTAL, {"children": {"updated_at": MOMENT}}))
    assert [m["record"]["data"]["id"] for m in resumed if m["type"] == "RECORD"]


def test_a_first_sync_with_a_decoder_other_than_json_is_refused(api_server: ApiServer) -> None:
    _serve(api_server)
    manifest = _manifest(api_server.url, ["children"])
    manifest["streams"][0]["retriever"]["decoder"] = {"type": "JsonlDecoder"}
    with pytest.raises(UnsupportedComponentError, match="JsonlDecoder, not a JsonDecoder") as no:
        list(load_source(manifest, {}).read_records("children"))
    assert no.value.path == "streams[0].retriever.decoder"
    assert _child_requests(api_server) == []


def test_a_window_per_parent_and_a_json_decoder_read_lazily(api_server: ApiServer) -> None:
    """No step, no granularity, ``JsonDecoder`` named: the lazy first sync the reference reads."""
    _serve(api_server)
    manifest = _manifest(api_server.url, ["children"], incremental=True)
    manifest["streams"][0]["retriever"]["decoder"] = {"type": "JsonDecoder"}
    records = list(load_source(manifest, {}).read_records("children"))
    assert [r["id"] for r in records] == ["a1", "a2", "b1"]
    assert _child_requests(api_server) == ["/parents/1/children?starting_after=a1"]


def test_a_parent_inside_a_list_of_routers_is_not_read_lazily(api_server: ApiServer) -> None:
    """airbyte-cdk 7 reads lazily only where the partition_router is one
    SubstreamPartitionRouter: inside a list it requests every first page."""
    _serve(api_server)
    manifest = _manifest(api_server.url, ["children"])
    retriever = manifest["streams"][0]["retriever"]
    retriever["partition_router"] = [retriever["partition_router"]]
    records = list(load_source(manifest, {}).read_records("children"))
    assert [r["id"] for r in records] == ["a1", "a2", "b1"]
    assert _child_requests(api_server) == [
        "/parents/1/children?starting_after=None",
        "/parents/1/children?starting_after=a1",
        "/parents/2/children?starting_after=None",
    ]
