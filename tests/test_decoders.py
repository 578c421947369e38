"""Response decoders, and pagination driven by what a response says, on a real server.

Decoder tests serve a body in the format under test and check the records a modern manifest with
that retriever ``decoder`` reads from it; pagination tests check which pages were asked for.
"""

from __future__ import annotations

import gzip
import io
import zipfile

import orjson
import pytest
from manifests import modern
from support.api_server import Pagination, Response
from test_read_components import RECORDS, read

from engine import ReadError


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


def test_iterable_decoder_gives_each_line_as_text_under_record(api_server):
    serve_bytes(api_server, b"first,1\r\nsecond line\n")
    assert read_decoded(api_server, "{type: IterableDecoder}") == [
        {"record": "first,1"},
        {"record": "second line"},
    ]


def test_zipfile_decoder_decodes_every_file_with_the_inner_decoder(api_server):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.csv", "id,name\n1,a\n")
        zipped.writestr("b.csv", "id,name\n2,--\n")
    serve_bytes(api_server, archive.getvalue())
    decoder = "{type: ZipfileDecoder, decoder: {type: CsvDecoder, set_values_to_none: ['--']}}"
    assert read_decoded(api_server, decoder) == [
        {"id": "1", "name": "a"},
        {"id": "2", "name": None},
    ]


def test_zipfile_decoder_reports_a_body_that_is_not_a_zip(api_server):
    serve_bytes(api_server, b"not a zip")
    with pytest.raises(ReadError, match="zip body is corrupt"):
        read_decoded(api_server, "{type: ZipfileDecoder, decoder: {type: JsonlDecoder}}")


def jsonl(*lines: object) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def test_jsonl_field_path_takes_each_lines_object(api_server):
    serve_bytes(api_server, jsonl({"data": RECORDS[0], "meta": 1}, {"data": RECORDS[1]}, {}))
    assert read_decoded(api_server, "{type: JsonlDecoder}", "[data]") == RECORDS[:2]


def test_jsonl_field_path_to_a_list_takes_every_item_of_every_line(api_server):
    body = jsonl(
        {"page": {"items": RECORDS[:3]}}, {"page": {"items": []}}, {"page": {"items": RECORDS[3:5]}}
    )
    serve_bytes(api_server, body)
    assert read_decoded(api_server, "{type: JsonlDecoder}", "[page, items]") == RECORDS[:5]


def test_jsonl_field_path_with_a_star(api_server):
    serve_bytes(api_server, jsonl({"a": RECORDS[0], "b": RECORDS[1]}, {"c": RECORDS[2]}))
    assert read_decoded(api_server, "{type: JsonlDecoder}", "['*']") == RECORDS[:3]


def test_jsonl_line_that_is_not_json_fails_the_read_with_its_number(api_server):
    serve_bytes(api_server, jsonl(RECORDS[0]) + b"\n" + b"{broken\n")
    with pytest.raises(ReadError, match="line 3 is not valid JSON"):
        read_decoded(api_server, "{type: JsonlDecoder}")


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


def test_csv_decoder_escaped_delimiter_and_values_set_to_none(api_server):
    serve_bytes(api_server, b"id\tnote\tscore\n1\tNA\t-\n2\tok\t3\n")
    decoder = "{type: CsvDecoder, delimiter: '\\t', set_values_to_none: [NA, '-']}"
    assert read_decoded(api_server, decoder) == [
        {"id": "1", "note": None, "score": None},
        {"id": "2", "note": "ok", "score": "3"},
    ]


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


def test_xml_decoder_keeps_namespace_prefixes_and_declarations_like_xmltodict(api_server):
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
        <feed:list xmlns:feed="urn:feed" xmlns="urn:default">
          <feed:entry feed:id="1" xmlns:x="urn:x"><x:title>ada</x:title></feed:entry>
          <feed:entry feed:id="2">before <b/> after<!-- note --></feed:entry>
        </feed:list>"""
    serve_bytes(api_server, body, **{"Content-Type": "application/xml"})
    records = read_decoded(api_server, "{type: XmlDecoder}", "['feed:list', 'feed:entry']")
    assert records == [
        {"@feed:id": "1", "@xmlns:x": "urn:x", "x:title": "ada"},
        {"@feed:id": "2", "b": None, "#text": "before  after"},
    ]


def test_xml_decoder_root_attributes_include_namespace_declarations(api_server):
    serve_bytes(api_server, b'<ns:root xmlns:ns="urn:n" ns:v="1"><ns:n>x</ns:n></ns:root>')
    assert read_decoded(api_server, "{type: XmlDecoder}", "[]") == [
        {"ns:root": {"@xmlns:ns": "urn:n", "@ns:v": "1", "ns:n": "x"}}
    ]


def test_xml_decoder_refuses_entity_declarations(api_server):
    body = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><r><v>&a;&a;</v></r>'
    serve_bytes(api_server, body)
    text = with_decoder(
        modern(api_server.url, field_path="[r]", error_handler=QUICK), "{type: XmlDecoder}"
    )
    with pytest.raises(ReadError, match="declares entities"):
        read(text)


QUICK = """
    type: DefaultErrorHandler
    max_retries: 1
    backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
"""


def test_gzip_decoder_decompresses_then_uses_the_inner_decoder(api_server):
    serve_bytes(api_server, gzip.compress(orjson.dumps({"data": RECORDS[:3]})))
    decoder = "{type: GzipDecoder, decoder: {type: JsonDecoder}}"
    assert read_decoded(api_server, decoder, "[data]") == RECORDS[:3]


def test_gzip_decoder_with_an_inner_csv_decoder(api_server):
    serve_bytes(api_server, gzip.compress(b"id,name\n1,ada\n"))
    decoder = "{type: GzipDecoder, decoder: {type: CsvDecoder}}"
    assert read_decoded(api_server, decoder) == [{"id": "1", "name": "ada"}]


def test_gzip_decoder_with_an_inner_csv_decoder_and_its_options(api_server):
    serve_bytes(api_server, gzip.compress("id;city\n1;Zürich\n2;\n".encode("latin-1")))
    decoder = (
        "{type: GzipDecoder, decoder: {type: CsvDecoder, delimiter: ';', encoding: latin-1,"
        " set_values_to_none: ['']}}"
    )
    assert read_decoded(api_server, decoder) == [
        {"id": "1", "city": "Zürich"},
        {"id": "2", "city": None},
    ]


def test_gzip_decoder_with_an_inner_jsonl_decoder_and_a_field_path(api_server):
    lines = [{"data": [record]} for record in RECORDS[:4]]
    serve_bytes(api_server, gzip.compress(jsonl(*lines)), **{"Content-Type": "application/gzip"})
    decoder = "{type: GzipDecoder, decoder: {type: JsonlDecoder}}"
    assert read_decoded(api_server, decoder, "[data]") == RECORDS[:4]


def test_gzip_decoder_reports_a_truncated_jsonl_body(api_server):
    serve_bytes(api_server, gzip.compress(jsonl(*RECORDS))[:-12])
    with pytest.raises(ReadError, match="could not be decoded"):
        read_decoded(api_server, "{type: GzipDecoder, decoder: {type: JsonlDecoder}}")


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


def serve_jsonl_pages(api_server, lines_per_page: int = 2, items_per_line: int = 3) -> None:
    """RECORDS as JSON lines, ``?page=N`` (from 1), each line holding a list under ``items``."""
    page_size = lines_per_page * items_per_line

    def handler(request):
        page = int(request.param("page") or 1)
        chunk = RECORDS[(page - 1) * page_size : page * page_size]
        lines = [chunk[i : i + items_per_line] for i in range(0, len(chunk), items_per_line)]
        return Response(200, jsonl(*({"items": line} for line in lines)))

    api_server.add_route("GET", "/items", handler)


def test_page_increment_counts_the_records_of_every_line(api_server):
    """Six records a page over two lines: a page is full at six, the fourth page is short."""
    serve_jsonl_pages(api_server)
    paginator = """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        pagination_strategy: {type: PageIncrement, page_size: 6, start_from_page: 1}
    """
    text = with_decoder(
        modern(api_server.url, field_path="[items]", paginator=paginator), "{type: JsonlDecoder}"
    )
    assert read(text) == RECORDS
    assert [r.param("page") for r in api_server.requests] == [None, "2", "3", "4"]


def test_cursor_pagination_over_jsonl_sees_last_page_size_and_no_response_body(api_server):
    """As in the reference runner, a line-oriented page has an empty ``response``."""
    serve_jsonl_pages(api_server)
    paginator = """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ last_record['id'] // 6 + 2 }}"
          stop_condition: "{{ response | length > 0 or last_page_size < 6 }}"
    """
    text = with_decoder(
        modern(api_server.url, field_path="[items]", paginator=paginator), "{type: JsonlDecoder}"
    )
    assert read(text) == RECORDS
    assert [r.param("page") for r in api_server.requests] == [None, "2", "3", "4"]


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
