"""QueryProperties against a real server: the requests airbyte-cdk 7 makes (one per chunk of
property names and page, the chunk joined by commas under its parameter) and the records it
emits (chunks merged by key, records without a key passed through first)."""

from __future__ import annotations

import pytest
from support.api_server import Response

from engine import load_source
from engine.errors import ManifestError

FULL = {
    1: {"id": "1", "name": "one", "color": "red", "size": 3, "meta": {"a": 1}},
    2: {"id": "2", "name": "two", "color": "blue", "size": 5, "meta": {"b": 2}},
    3: {"id": "3", "name": "three", "color": "green", "size": 7, "meta": {"a": 3}},
}


def _fields_api(api_server, *, page_size: int = 2, keyless: bool = False) -> None:
    """/things answers with the fields asked for in ``fields`` (and ``id``), page by page."""

    def handler(request):
        names = (request.param("fields") or "").split(",")
        page = int(request.param("page") or 1)
        ids = sorted(FULL)[(page - 1) * page_size : page * page_size]
        data = [{k: v for k, v in FULL[i].items() if k in names or k == "id"} for i in ids]
        if keyless and page == 1:
            data.append({"note": ",".join(names)})
        more = page * page_size < len(FULL)
        return Response(200, {"data": data, "next": page + 1 if more else None})

    api_server.add_route("GET", "/things", handler)


def _manifest(url: str, requester_extra: str, *, schema: str = "{type: object}") -> str:
    return f"""
version: 6.0.0
type: DeclarativeSource
check: {{type: CheckStream, stream_names: [things]}}
streams:
  - type: DeclarativeStream
    name: things
    primary_key: id
    schema_loader: {{type: InlineSchemaLoader, schema: {schema}}}
    retriever:
      type: SimpleRetriever
      record_selector:
        type: RecordSelector
        extractor: {{type: DpathExtractor, field_path: [data]}}
      paginator:
        type: DefaultPaginator
        page_token_option: {{type: RequestOption, inject_into: request_parameter,
                             field_name: page}}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{{{ response.next }}}}"
          stop_condition: "{{{{ not response.next }}}}"
      requester:
        type: HttpRequester
        url_base: {url}
        path: /things
{requester_extra}
"""


def _read(text: str) -> list[dict]:
    source = load_source(text, {})
    try:
        return list(source.read_records("things"))
    finally:
        source.close()


def _asked(api_server, path: str = "/things") -> list[tuple[str | None, str | None]]:
    return [(r.param("page"), r.param("fields")) for r in api_server.requests if r.path == path]


CHUNKED = """
        request_parameters:
          fields:
            type: QueryProperties
            property_list: [name, color, size, meta]
            property_chunking:
              type: PropertyChunking
              property_limit_type: property_count
              property_limit: 2
"""


def test_each_page_is_asked_once_per_chunk_and_the_chunks_merge_by_id(api_server):
    _fields_api(api_server, keyless=True)
    records = _read(_manifest(api_server.url, CHUNKED))
    assert _asked(api_server) == [
        (None, "name,color"),
        (None, "size,meta"),
        ("2", "name,color"),
        ("2", "size,meta"),
    ]
    # A record without the merge key is emitted as it came, before the merged ones.
    assert records == [
        {"note": "name,color"},
        {"note": "size,meta"},
        FULL[1],
        FULL[2],
        FULL[3],
    ]


CHARACTERS = """
        request_parameters:
          fields:
            type: QueryProperties
            property_list: [name, color, size, meta]
            always_include_properties: [id]
            property_chunking:
              type: PropertyChunking
              property_limit_type: characters
              property_limit: 15
              record_merge_strategy: {type: GroupByKeyMergeStrategy, key: [id, name]}
"""


def test_chunks_by_characters_open_with_the_properties_always_included(api_server):
    _fields_api(api_server, page_size=3)
    extra = CHARACTERS
    records = _read(_manifest(api_server.url, extra))
    # Each name costs its length + 3: name (7) + color (8) = 15 fits, size (7) + meta (7) too.
    assert _asked(api_server) == [(None, "id,name,color"), (None, "id,size,meta")]
    # The merge key needs every key value: the second chunk lacks ``name``, so its records
    # pass through unmerged, ahead of the merged ones.
    assert [sorted(r) for r in records[:3]] == [["id", "meta", "size"]] * 3
    assert records[3:] == [{k: FULL[i][k] for k in ("id", "name", "color")} for i in (1, 2, 3)]


FROM_ENDPOINT = """
        request_parameters:
          fields: "{{ stream_partition.extra_fields['query_properties'] | join(',') }}"
        query_properties:
          type: QueryProperties
          property_list:
            type: PropertiesFromEndpoint
            property_field_path: [spec, "{{ parameters['leaf'] }}"]
            $parameters: {leaf: name}
            retriever:
              type: SimpleRetriever
              requester: {type: HttpRequester, url_base: URL, path: /properties}
              record_selector:
                type: RecordSelector
                extractor: {type: DpathExtractor, field_path: []}
          property_selector:
            type: JsonSchemaPropertySelector
            transformations:
              - type: RemoveFields
                field_pointers: [[size]]
"""


def test_properties_from_an_endpoint_are_read_once_and_filtered_by_the_schema(api_server):
    _fields_api(api_server, page_size=3)
    api_server.add_route(
        "GET",
        "/properties",
        lambda request: Response(
            200, [{"spec": {"name": n}} for n in ("name", "color", "size", "secret")]
        ),
    )
    extra = FROM_ENDPOINT.replace("URL", api_server.url)
    schema = "{type: object, properties: {id: {}, name: {}, color: {}, size: {}}}"
    records = _read(_manifest(api_server.url, extra, schema=schema))
    # The schema lists no ``secret``; the selector's transformation drops ``size``.
    assert _asked(api_server) == [(None, "name,color")]
    assert [r.path for r in api_server.requests].count("/properties") == 1
    assert records == [{k: FULL[i][k] for k in ("id", "name", "color")} for i in (1, 2, 3)]


ALWAYS_FIRST = """
        request_parameters:
          fields:
            type: QueryProperties
            property_list: [name, size]
            always_include_properties: [color]
"""


def test_without_chunking_the_always_included_come_first(api_server):
    _fields_api(api_server, page_size=3)
    extra = ALWAYS_FIRST
    records = _read(_manifest(api_server.url, extra))
    assert _asked(api_server) == [(None, "color,name,size")]
    assert len(records) == 3


def test_two_query_properties_in_one_requester_are_refused(api_server):
    extra = """
        request_parameters:
          fields: {type: QueryProperties, property_list: [a]}
          more: {type: QueryProperties, property_list: [b]}
"""
    with pytest.raises(ManifestError, match="holds 2 QueryProperties"):
        load_source(_manifest(api_server.url, extra), {}).stream("things")
