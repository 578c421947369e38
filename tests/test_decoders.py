"""Response decoders, and pagination driven by what a response says, on a real server.

Decoder tests serve a body in the format under test and check the records a modern manifest with
that retriever ``decoder`` reads from it; pagination tests check which pages were asked for.
"""

from __future__ import annotations

import gzip

import orjson
from manifests import modern
from support.api_server import Pagination, Response
from test_read_components import RECORDS, read


def with_decoder(text: str, decoder: str) -> str:
    """``text`` with ``decoder`` (a YAML flow mapping) set on its SimpleRetriever."""
    anchor = "      record_selector:\n"
    return text.replace(anchor, f"      decoder: {decoder}\n{anchor}", 1)


def serve_bytes(api_server, body: bytes, **headers: str) -> None:
    headers.setdefault("Content-Type", "application/octet-stream")
    response = Response(200, body, headers=headers)
    api_server.add_route("GET", "/items", lambda request: response)


def read_decoded(api_server, decoder: str, field_path: str = "[]") -> list[dict]:
    return read(with_decoder(modern(api_server.url, field_path=field_path), decoder))


# -- decoders ------------------------------------------------------------------------------------


def test_jsonl_decoder_reads_one_record_per_line(api_server):
    serve_bytes(api_server, b'{"id": 1, "name": "a"}\n\n{"id": 2, "tags": ["x"]}\r\n')
    assert read_decoded(api_server, "{type: JsonlDecoder}") == [
        {"id": 1, "name": "a"},
        {"id": 2, "tags": ["x"]},
    ]


def test_csv_decoder_reads_rows_by_header(api_server):
    serve_bytes(api_server, b'id,name,note\n1,ada,"x, y"\n2,bob,\n', **{"Content-Type": "text/csv"})
    assert read_decoded(api_server, "{type: CsvDecoder}") == [
        {"id": "1", "name": "ada", "note": "x, y"},
        {"id": "2", "name": "bob", "note": ""},
    ]


def test_csv_decoder_delimiter_and_encoding(api_server):
    serve_bytes(api_server, "id\tcity\n1\tZürich\n".encode("latin-1"))
    decoder = '{type: CsvDecoder, delimiter: "\\t", encoding: latin-1}'
    assert read_decoded(api_server, decoder) == [{"id": "1", "city": "Zürich"}]


def test_xml_decoder_names_attributes_and_repeats_like_xmltodict(api_server):
    body = b"""<?xml version="1.0"?>
        <response status="ok">
          <items>
            <item id="1"><name>ada</name><tag>a</tag><tag>b</tag><empty/></item>
            <item id="2"><name lang="en">bob</name></item>
          </items>
        </response>"""
    serve_bytes(api_server, body, **{"Content-Type": "application/xml"})
    assert read_decoded(api_server, "{type: XmlDecoder}", "[response, items, item]") == [
        {"@id": "1", "name": "ada", "tag": ["a", "b"], "empty": None},
        {"@id": "2", "name": {"@lang": "en", "#text": "bob"}},
    ]


def test_xml_decoder_single_element_is_one_record(api_server):
    serve_bytes(api_server, b"<response><item><id>7</id></item></response>")
    assert read_decoded(api_server, "{type: XmlDecoder}", "[response, item]") == [{"id": "7"}]


def test_gzip_decoder_decompresses_then_uses_the_inner_decoder(api_server):
    serve_bytes(api_server, gzip.compress(orjson.dumps({"data": RECORDS[:3]})))
    decoder = "{type: GzipDecoder, decoder: {type: JsonDecoder}}"
    assert read_decoded(api_server, decoder, "[data]") == RECORDS[:3]


def test_gzip_decoder_with_an_inner_csv_decoder(api_server):
    serve_bytes(api_server, gzip.compress(b"id,name\n1,ada\n"))
    decoder = "{type: GzipDecoder, decoder: {type: CsvDecoder}}"
    assert read_decoded(api_server, decoder) == [{"id": "1", "name": "ada"}]


def test_gzip_decoder_passes_a_plain_body_through(api_server):
    serve_bytes(api_server, orjson.dumps({"data": RECORDS[:2]}), **{"Content-Type": "text/plain"})
    decoder = "{type: GzipDecoder, decoder: {type: JsonDecoder}}"
    assert read_decoded(api_server, decoder, "[data]") == RECORDS[:2]


def test_gzip_decoder_with_content_encoding_gzip(api_server):
    """The HTTP client already inflated the body: the decoder sees plain JSON."""
    body = gzip.compress(orjson.dumps({"data": RECORDS[:2]}))
    serve_bytes(api_server, body, **{"Content-Encoding": "gzip"})
    decoder = "{type: GzipDecoder, decoder: {type: JsonDecoder}}"
    assert read_decoded(api_server, decoder, "[data]") == RECORDS[:2]


# -- pagination driven by the response -----------------------------------------------------------


def paginated(api_server, strategy: str, token_field: str = "page") -> list[dict]:
    option = "{type: RequestOption, inject_into: request_parameter, field_name: %s}"
    paginator = f"""
        type: DefaultPaginator
        page_size_option: {option % "per_page"}
        page_token_option: {option % token_field}
        pagination_strategy: {strategy}
    """
    return read(modern(api_server.url, paginator=paginator), {"page_size": 10})


def test_page_increment_inject_on_first_request_from_page_one(api_server):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("page", page_size=5))
    strategy = (
        "{type: PageIncrement, page_size: 5, start_from_page: 1, inject_on_first_request: true}"
    )
    assert paginated(api_server, strategy) == RECORDS
    assert [r.param("page") for r in api_server.requests] == ["1", "2", "3", "4", "5"]
    assert {r.param("per_page") for r in api_server.requests} == {"5"}


def test_page_increment_inject_on_first_request_from_page_zero(api_server):
    paging = Pagination("page", page_size=10, first_page=0)
    api_server.add_collection("/items", RECORDS, pagination=paging)
    strategy = "{type: PageIncrement, page_size: 10, inject_on_first_request: true}"
    assert paginated(api_server, strategy) == RECORDS
    assert [r.param("page") for r in api_server.requests] == ["0", "1", "2"]


def test_offset_increment_inject_on_first_request_stops_on_an_empty_page(api_server):
    """Twenty records in pages of ten: the third request (offset 20) finds nothing and ends it."""
    paging = Pagination("offset", page_size=10, size_param="per_page")
    api_server.add_collection("/items", RECORDS[:20], pagination=paging)
    strategy = (
        "{type: OffsetIncrement, page_size: \"{{ config['page_size'] }}\","
        " inject_on_first_request: true}"
    )
    assert paginated(api_server, strategy, token_field="offset") == RECORDS[:20]
    assert [r.param("offset") for r in api_server.requests] == ["0", "10", "20"]
    assert {r.param("per_page") for r in api_server.requests} == {"10"}


def test_cursor_pagination_follows_a_link_header_with_a_custom_rel(api_server):
    def handler(request):
        start = int(request.param("cursor") or 0)
        links = [f'<{api_server.url}/items?cursor=0>; rel="first"']
        if start + 4 < len(RECORDS):
            links.append(f'<{api_server.url}/items?cursor={start + 4}>; rel="forward"')
        return Response(
            200, {"data": RECORDS[start : start + 4]}, headers={"Link": ", ".join(links)}
        )

    api_server.add_route("GET", "/items", handler)
    paginator = """
        type: DefaultPaginator
        page_token_option: {type: RequestPath}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ headers['link']['forward']['url'] }}"
          stop_condition: "{{ 'forward' not in headers['link'] }}"
    """
    assert read(modern(api_server.url, paginator=paginator)) == RECORDS
    assert [r.param("cursor") for r in api_server.requests] == [None, "4", "8", "12", "16", "20"]
