"""API data is never template source, and never moves a request to another host (issue 15).

Hostile values arrive from a local API as everything an API can hand the engine: the components
an HTTP resolver lists, records (parent ids, fields added to records), page tokens and next-page
URLs, response headers. Each stays the literal text it was: no ``{{ config[...] }}`` in it is
rendered, it replaces no component, and no request carrying credentials leaves for another origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from support.api_server import ApiServer, Response

from engine import ManifestError, ReadError, load_source

SENTINEL = "SENTINEL-41be-api-data"
INJECTION = "{{ config['api_key'] }}"
CONFIG = {"api_key": SENTINEL}
SPEC = {
    "connection_specification": {
        "type": "object",
        "properties": {"api_key": {"type": "string", "airbyte_secret": True}},
    }
}
AUTH = {"type": "BearerAuthenticator", "api_token": "{{ config['api_key'] }}"}
DATA = {"type": "RecordSelector", "extractor": {"type": "DpathExtractor", "field_path": ["data"]}}


def requester(url: str, path: str, **fields: Any) -> dict[str, Any]:
    return {"type": "HttpRequester", "url_base": url, "path": path, "authenticator": AUTH, **fields}


def stream(name: str, url: str, path: str, **retriever: Any) -> dict[str, Any]:
    return {
        "type": "DeclarativeStream",
        "name": name,
        "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
        "retriever": {
            "type": "SimpleRetriever",
            "requester": requester(url, path),
            "record_selector": DATA,
            **retriever,
        },
    }


def source_of(*streams: dict, dynamic: list[dict] | None = None):
    manifest: dict[str, Any] = {
        "version": "6.44.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": []},
        "streams": list(streams),
        "spec": SPEC,
    }
    if dynamic:
        manifest["dynamic_streams"] = dynamic
    return load_source(manifest, CONFIG)


def nothing_leaked(*servers: ApiServer, text: str = "") -> None:
    """No request that reached ``servers`` holds the secret outside its Authorization header,
    and ``text`` (an error) does not hold it at all."""
    assert SENTINEL not in text
    for server in servers:
        for request in server.requests:
            shown = {k: v for k, v in request.headers.items() if k != "authorization"}
            assert SENTINEL not in f"{request.path} {request.query} {shown} {request.body!r}"


@pytest.fixture
def elsewhere() -> Iterator[ApiServer]:
    with ApiServer() as server:
        server.add_route("GET", "/{anything}", lambda request: Response(200, {"data": []}))
        yield server


# -- components an HTTP resolver lists ---------------------------------------------------------


def listing(api: ApiServer, tables: list[dict], mappings: list[tuple[list, str]], **template):
    """A dynamic stream whose template reads /rows, resolved from the tables the API lists."""
    api.add_route("GET", "/tables", lambda request: Response(200, {"data": tables}))
    body = stream("placeholder", api.url, "/rows")
    body["retriever"]["requester"].update(template.pop("requester", {}))
    body.update(template)
    resolver = {
        "type": "HttpComponentsResolver",
        "retriever": {
            "type": "SimpleRetriever",
            "requester": requester(api.url, "/tables"),
            "record_selector": DATA,
        },
        "components_mapping": [
            {"type": "ComponentMappingDefinition", "field_path": path, "value": value}
            for path, value in mappings
        ],
    }
    dynamic = {
        "type": "DynamicDeclarativeStream",
        "name": "tables",
        "stream_template": body,
        "components_resolver": resolver,
    }
    return source_of(dynamic=[dynamic])


@pytest.mark.parametrize(
    "field_path",
    [["retriever", "requester", "path"], ["$parameters", "path"]],
    ids=["path", "parameters"],
)
def test_a_listed_url_with_a_template_reaches_no_other_host(api_server, elsewhere, field_path):
    hostile = f"{elsewhere.url}/steal?k={INJECTION}"
    api_server.add_route("GET", "/rows", lambda request: Response(200, {"data": [{"id": 1}]}))
    template = {"$parameters": {"path": "/rows"}}
    if field_path[0] == "$parameters":
        template["retriever"] = {
            "type": "SimpleRetriever",
            "requester": {**requester(api_server.url, "{{ parameters.path }}")},
            "record_selector": DATA,
        }
    source = listing(
        api_server,
        [{"name": "t1", "url": hostile}],
        [(["name"], "{{ components_values.name }}"), (field_path, "{{ components_values.url }}")],
        **template,
    )
    with pytest.raises(ReadError) as caught:
        list(source.read_records("t1"))
    message = str(caught.value)
    assert "values from an API never send a request to another host" in message
    assert elsewhere.requests == []
    assert "{{ config" in message or "%7B%7B" in message  # the listed text, unrendered
    nothing_leaked(api_server, elsewhere, text=message)


@pytest.mark.parametrize(
    "field_path",
    [
        ["retriever", "requester", "request_parameters", "filter"],
        ["retriever", "requester", "request_headers", "X-Filter"],
        ["$parameters", "filter"],
    ],
)
def test_listed_text_is_sent_literally_never_rendered(api_server, field_path):
    api_server.add_route("GET", "/rows", lambda request: Response(200, {"data": [{"id": 1}]}))
    template = {
        "$parameters": {"filter": "none"},
        "requester": {
            "request_parameters": {"filter": "{{ parameters.filter }}"},
            "request_headers": {"X-Filter": "none"},
        },
    }
    if field_path[0] != "$parameters":
        template["requester"]["request_parameters"] = {"filter": "none"}
    source = listing(
        api_server,
        [{"name": "t1", "f": f"x-{INJECTION}-{{% if true %}}y{{% endif %}}"}],
        [(["name"], "{{ components_values.name }}"), (field_path, "{{ components_values.f }}")],
        **template,
    )
    assert list(source.read_records("t1")) == [{"id": 1}]
    sent = next(r for r in api_server.requests if r.path == "/rows")
    received = sent.headers["x-filter"] if "X-Filter" in field_path else sent.param("filter")
    assert received == f"x-{INJECTION}-{{% if true %}}y{{% endif %}}"
    nothing_leaked(api_server)


def test_listed_names_stay_text_even_when_they_look_like_templates_or_literals(api_server):
    api_server.add_route("GET", "/rows", lambda request: Response(200, {"data": [{"id": 1}]}))
    names = [INJECTION, "[1, 2]", "{'type': 'NoAuth'}"]
    source = listing(
        api_server,
        [{"name": name} for name in names],
        [(["name"], "{{ components_values.name }}")],
    )
    assert list(source.streams) == names
    assert all(SENTINEL not in name for name in source.streams)


@pytest.mark.parametrize(
    ("field_path", "listed", "problem"),
    [
        (["retriever", "requester", "authenticator"], "{'type': 'NoAuth'}", "whole component"),
        (["retriever", "requester", "authenticator"], {"type": "NoAuth"}, "whole component"),
        (["retriever", "record_selector"], "x", "whole component"),
        (["$parameters"], {"path": "/x"}, "whole mapping"),
    ],
)
def test_a_listed_value_never_replaces_a_component_or_adds_keys(
    api_server, field_path, listed, problem
):
    template = {"$parameters": {"path": "/rows"}}
    with pytest.raises(ManifestError, match=problem):
        source = listing(
            api_server,
            [{"name": "t1", "v": listed}],
            [(["name"], "{{ components_values.name }}"), (field_path, "{{ components_values.v }}")],
            **template,
        )
        list(source.streams)


def test_a_listed_json_schema_is_still_taken(api_server):
    schema = {"type": "object", "properties": {"id": {"type": "integer", "title": INJECTION}}}
    source = listing(
        api_server,
        [{"name": "t1", "schema": schema}],
        [
            (["name"], "{{ components_values.name }}"),
            (["schema_loader", "schema"], "{{ components_values.schema }}"),
        ],
    )
    assert source.discover()[0]["json_schema"]["properties"]["id"]["title"] == INJECTION


# -- records, parent values, page tokens, next-page URLs, headers -------------------------------


def child_of_parents(api: ApiServer, path: str, parents: list[dict]) -> dict[str, Any]:
    """A stream ``rows`` at ``path`` for each ``id`` of the records /parents serves."""
    api.add_route("GET", "/parents", lambda request: Response(200, {"data": parents}))
    child = stream("rows", api.url, path)
    child["retriever"]["partition_router"] = {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": stream("parents", api.url, "/parents"),
                "parent_key": "id",
                "partition_field": "pid",
            }
        ],
    }
    return child


def test_a_parent_record_value_is_a_literal_path_segment(api_server):
    parents = [{"id": INJECTION}, {"id": "7"}]
    api_server.add_route(
        "GET", "/parents/{pid}/rows", lambda r: Response(200, {"data": [{"id": 1}]})
    )
    child = child_of_parents(api_server, "/parents/{{ stream_partition.pid }}/rows", parents)
    records = list(source_of(child).read_records("rows"))
    assert len(records) == 2
    paths = [unquote(r.path) for r in api_server.requests if r.path.endswith("/rows")]
    assert paths[0] == f"/parents/{INJECTION}/rows"
    nothing_leaked(api_server)


@pytest.mark.parametrize("how", ["absolute", "scheme-relative"])
def test_a_parent_record_value_never_moves_a_request_to_another_host(api_server, elsewhere, how):
    host = elsewhere.url if how == "absolute" else elsewhere.url.removeprefix("http:")
    parents = [{"id": f"{host}/steal"}]
    child = child_of_parents(api_server, "{{ stream_partition.pid }}", parents)
    with pytest.raises(ReadError) as caught:
        list(source_of(child).read_records("rows"))
    if how == "absolute":
        assert "never send a request to another host" in str(caught.value)
    else:  # "//host/..." is joined as a path below url_base: the API answers 404
        assert "status 404" in str(caught.value)
    assert elsewhere.requests == []
    nothing_leaked(api_server, text=str(caught.value))


def test_a_record_field_copied_by_add_fields_is_not_rendered(api_server):
    api_server.add_route(
        "GET", "/rows", lambda r: Response(200, {"data": [{"id": 1, "note": INJECTION}]})
    )
    rows = stream(
        "rows",
        api_server.url,
        "/rows",
    )
    rows["transformations"] = [
        {
            "type": "AddFields",
            "fields": [
                {"type": "AddedFieldDefinition", "path": ["copy"], "value": "{{ record.note }}"}
            ],
        }
    ]
    assert list(source_of(rows).read_records("rows")) == [
        {"id": 1, "note": INJECTION, "copy": INJECTION}
    ]


def cursor_paginator(token: str, *, as_url: bool) -> dict[str, Any]:
    inject = (
        {"type": "RequestPath"}
        if as_url
        else {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "after"}
    )
    return {
        "type": "DefaultPaginator",
        "page_token_option": inject,
        "pagination_strategy": {"type": "CursorPagination", "cursor_value": token},
    }


def test_a_page_token_is_sent_as_it_came(api_server):
    pages = iter([{"data": [{"id": 1}], "next": INJECTION}, {"data": [{"id": 2}], "next": None}])
    api_server.add_route("GET", "/rows", lambda request: Response(200, next(pages)))
    rows = stream("rows", api_server.url, "/rows")
    rows["retriever"]["paginator"] = cursor_paginator("{{ response.next }}", as_url=False)
    assert len(list(source_of(rows).read_records("rows"))) == 2
    assert api_server.requests[1].param("after") == INJECTION
    nothing_leaked(api_server)


def test_a_response_header_used_as_page_token_is_sent_as_it_came(api_server):
    pages = iter([({"X-Next": INJECTION}, [{"id": 1}]), ({}, [{"id": 2}])])

    def answer(request):
        headers, records = next(pages)
        return Response(200, {"data": records}, headers=headers)

    api_server.add_route("GET", "/rows", answer)
    rows = stream("rows", api_server.url, "/rows")
    token = "{{ headers.get('X-Next') }}"
    rows["retriever"]["paginator"] = cursor_paginator(token, as_url=False)
    assert len(list(source_of(rows).read_records("rows"))) == 2
    assert api_server.requests[1].param("after") == INJECTION
    nothing_leaked(api_server)


@pytest.mark.parametrize("where", ["body", "link header"])
def test_a_next_page_url_on_another_host_is_not_followed(api_server, elsewhere, where):
    target = f"{elsewhere.url}/steal?k={INJECTION}"
    body = {"data": [{"id": 1}], "next": target if where == "body" else None}
    headers = {"Link": f'<{target}>; rel="next"'} if where != "body" else {}
    api_server.add_route("GET", "/rows", lambda request: Response(200, body, headers=headers))
    token = "{{ response.next }}" if where == "body" else "{{ headers['link']['next']['url'] }}"
    rows = stream("rows", api_server.url, "/rows")
    rows["retriever"]["paginator"] = cursor_paginator(token, as_url=True)
    with pytest.raises(ReadError, match="next-page URL") as caught:
        list(source_of(rows).read_records("rows"))
    assert elsewhere.requests == []
    nothing_leaked(api_server, text=str(caught.value))


def test_a_next_page_url_on_the_same_origin_is_followed(api_server):
    pages = {
        "1": {"data": [{"id": 1}], "next": f"{api_server.url}/rows?page=2"},
        "2": {"data": [{"id": 2}]},
    }
    api_server.add_route(
        "GET", "/rows", lambda request: Response(200, pages[request.param("page") or "1"])
    )
    rows = stream("rows", api_server.url, "/rows")
    rows["retriever"]["paginator"] = cursor_paginator("{{ response.next }}", as_url=True)
    assert [r["id"] for r in source_of(rows).read_records("rows")] == [1, 2]
    second = api_server.requests[1]
    assert second.headers["authorization"] == f"Bearer {SENTINEL}"  # same origin: credentials go


@pytest.mark.parametrize("where", ["elsewhere", "home"])
def test_a_url_the_api_links_to_gets_credentials_only_on_the_manifests_origins(
    api_server, elsewhere, where
):
    target = elsewhere if where == "elsewhere" else api_server
    target.add_route("GET", "/linked/rows", lambda request: Response(200, {"data": [{"id": 1}]}))
    child = child_of_parents(api_server, "unused", [{"id": f"{target.url}/linked/rows"}])
    requester_ = child["retriever"]["requester"]
    del requester_["url_base"], requester_["path"]
    requester_["url"] = "{{ stream_partition.pid }}"
    requester_["request_headers"] = {"X-Api-Token": "{{ config['api_key'] }}"}
    requester_["request_parameters"] = {"account_key": "{{ config['api_key'] }}"}
    assert list(source_of(child).read_records("rows")) == [{"id": 1}]
    (linked,) = [r for r in target.requests if r.path == "/linked/rows"]
    if where == "elsewhere":
        assert "authorization" not in linked.headers
        nothing_leaked(elsewhere)
    else:
        assert linked.headers["authorization"] == f"Bearer {SENTINEL}"
        assert linked.param("account_key") == SENTINEL


def test_a_cursor_value_is_data_in_state_and_warnings(api_server):
    records = [{"id": 1, "updated": INJECTION}, {"id": 2, "updated": "2024-01-02T00:00:00Z"}]
    api_server.add_route("GET", "/rows", lambda request: Response(200, {"data": records}))
    rows = stream("rows", api_server.url, "/rows")
    rows["incremental_sync"] = {
        "type": "DatetimeBasedCursor",
        "cursor_field": "updated",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": "2024-01-01T00:00:00Z",
        "start_time_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "since",
        },
    }
    messages = list(source_of(rows).read(None, {}))
    logs = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    assert any(INJECTION in text for text in logs)  # the warning quotes the text it is
    assert SENTINEL not in str([m for m in messages if m["type"] != "RECORD"])
    nothing_leaked(api_server)
