"""The fault matrix: every fault a flaky API produces, at 10% of requests, in each pagination style.

Each read must deliver every record exactly once, retrying per the manifest's error handler; when
the retries run out, the failure names stream, slice, URL (without its secrets), status and the
attempt count. Waits are recorded instead of slept (the client's ``sleep`` is replaced), so the
test checks the Retry-After values the client honoured without spending them.
"""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from support.api_server import ApiKeyAuth, ApiServer, Pagination, Response

from engine import load_source
from engine.errors import ReadError

SECRET = "fault-matrix-api-key-4242"
RECORDS = [{"id": i, "name": f"record {i}"} for i in range(120)]
PAGE_SIZE = 4
READ_TIMEOUT = 0.15
RETRY_AFTER_SECONDS = 7


def _faults() -> dict[str, Response]:
    return {
        "429 retry-after seconds": Response.rate_limited(RETRY_AFTER_SECONDS),
        "429 retry-after date": Response.rate_limited(
            datetime.now(timezone.utc) + timedelta(seconds=60)
        ),
        "500": Response(500, {"error": "internal"}),
        "502": Response(502, "Bad Gateway"),
        "503": Response(503, {"message": "try later"}),
        "reset mid-body": Response(200, {"data": [{"id": -1}] * 50}, fault="reset"),
        "truncated transfer": Response(200, {"data": [{"id": -1}] * 50}, fault="truncate"),
        "read timeout": Response(fault="hang"),
        "truncated json": Response(
            200, b'{"data": [{"id": 1}, {"id"', {"Content-Type": "application/json"}
        ),
        "html 200": Response.html(),
        "empty body": Response(200, b""),
    }


FAULTS = list(_faults())

PAGINATORS = {
    "page": """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        page_size_option: {inject_into: request_parameter, field_name: per_page}
        pagination_strategy: {type: PageIncrement, page_size: %(size)d, start_from_page: 1}
    """,
    "offset": """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: offset}
        page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: limit}
        pagination_strategy: {type: OffsetIncrement, page_size: %(size)d}
    """,
    "cursor": """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: cursor}
        page_size_option: {inject_into: request_parameter, field_name: per_page}
        pagination_strategy:
          type: CursorPagination
          page_size: %(size)d
          cursor_value: "{{ response.next }}"
          stop_condition: "{{ not response.next }}"
    """,
}


def _manifest(url: str, style: str, *, max_retries: int = 6, regions: bool = False) -> str:
    paginator = textwrap.indent(textwrap.dedent(PAGINATORS[style] % {"size": PAGE_SIZE}), " " * 8)
    router = (
        """
      partition_router:
        type: ListPartitionRouter
        cursor_field: region
        values: [eu, us]
        request_option: {type: RequestOption, inject_into: request_parameter, field_name: region}
"""
        if regions
        else ""
    )
    return f"""
version: 6.0.0
type: DeclarativeSource
check: {{type: CheckStream, stream_names: [items]}}
streams:
  - type: DeclarativeStream
    name: items
    primary_key: id
    schema_loader: {{type: InlineSchemaLoader, schema: {{type: object}}}}
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{url}"
        path: /items
        authenticator:
          type: ApiKeyAuthenticator
          api_token: "{{{{ config['api_key'] }}}}"
          inject_into: {{type: RequestOption, inject_into: request_parameter, field_name: api_key}}
        error_handler:
          type: DefaultErrorHandler
          max_retries: {max_retries}
          backoff_strategies:
            - {{type: WaitTimeFromHeader, header: Retry-After}}
            - {{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.5}}
      record_selector:
        type: RecordSelector
        extractor: {{type: DpathExtractor, field_path: [data]}}
      paginator:
{paginator}{router}
spec:
  connection_specification:
    type: object
    properties: {{api_key: {{type: string, airbyte_secret: true}}}}
"""


def _serve(server: ApiServer, style: str) -> None:
    server.add_collection(
        "/items",
        RECORDS,
        pagination=Pagination(style, page_size=PAGE_SIZE),
        auth=ApiKeyAuth(SECRET, query_param="api_key"),
    )


def _source(server: ApiServer, style: str, waits: list[float], **manifest_options: object):
    source = load_source(
        _manifest(server.url, style, **manifest_options),
        {"api_key": SECRET},
        timeout=(2.0, READ_TIMEOUT),
    )
    source.client.sleep = waits.append
    return source


@pytest.mark.parametrize("style", list(PAGINATORS))
@pytest.mark.parametrize("fault", FAULTS)
def test_every_record_arrives_exactly_once_despite_faults(
    api_server: ApiServer, fault: str, style: str
) -> None:
    _serve(api_server, style)
    api_server.set_fault_rate(
        0.1, _faults()[fault], seed=FAULTS.index(fault), path="/items", max_in_a_row=3
    )
    waits: list[float] = []
    source = _source(api_server, style, waits)
    records = list(source.read_records("items"))
    source.close()

    assert sorted(r["id"] for r in records) == [r["id"] for r in RECORDS]
    assert len(records) == len(RECORDS)
    faults_served = len(api_server.requests) - _clean_requests(style)
    assert faults_served >= 1, "the seed served no fault: the test proves nothing"
    assert len(waits) == faults_served
    if fault == "429 retry-after seconds":
        assert waits == [RETRY_AFTER_SECONDS] * faults_served
    elif fault == "429 retry-after date":
        assert all(50 < wait <= 60 for wait in waits)
    else:
        assert waits == [0.5] * faults_served


def _clean_requests(style: str) -> int:
    pages = -(-len(RECORDS) // PAGE_SIZE)
    # PageIncrement and OffsetIncrement ask once more when the last page was full.
    return pages + (1 if style in ("page", "offset") and len(RECORDS) % PAGE_SIZE == 0 else 0)


@pytest.mark.parametrize("fault", FAULTS)
def test_exhausted_retries_name_stream_slice_url_status_and_attempts(
    api_server: ApiServer, fault: str
) -> None:
    _serve(api_server, "page")
    response = _faults()[fault]
    api_server.set_fault_rate(1.0, response, path="/items")
    waits: list[float] = []
    source = _source(api_server, "page", waits, max_retries=2, regions=True)
    with pytest.raises(ReadError) as caught:
        list(source.read_records("items"))
    source.close()
    message = str(caught.value)
    assert "stream 'items'" in message
    assert "slice {region='eu'}" in message
    assert f"GET {api_server.url}/items?" in message
    assert "after 3 attempts" in message
    assert len(api_server.requests) == 3
    assert SECRET not in message
    assert "api_key=****" in message
    status = response.status if response.fault is None else None
    if status is not None:
        assert f"status {status}" in message
        assert caught.value.status == status
    assert caught.value.attempts == 3


def test_the_default_timeout_applies_when_none_is_given(api_server: ApiServer) -> None:
    _serve(api_server, "page")
    source = load_source(_manifest(api_server.url, "page"), {"api_key": SECRET})
    connect, read = source.client.timeout
    assert 0 < connect <= 60 and 0 < read <= 300
    source.close()
