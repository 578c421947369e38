"""Full-refresh reads through every core component family, in both dialects, on a real server."""

from __future__ import annotations

import pytest
from manifests import DIALECTS
from support.api_server import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Pagination,
    Response,
)

from engine import ReadError, load_source

RECORDS = [{"id": i, "name": f"n{i}", "kind": "odd" if i % 2 else "even"} for i in range(23)]
dialects = pytest.mark.parametrize("dialect", sorted(DIALECTS))


def read(text: str, config: dict | None = None) -> list[dict]:
    source = load_source(text, config or {})
    try:
        return list(source.read_records("items"))
    finally:
        source.close()


@dialects
def test_page_increment(api_server, dialect):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("page", page_size=5))
    paginator = """
        type: DefaultPaginator
        page_size_option: {inject_into: request_parameter, field_name: per_page}
        page_token_option: {inject_into: request_parameter, field_name: page}
        pagination_strategy: {type: PageIncrement, page_size: 5, start_from_page: 1}
    """
    assert read(DIALECTS[dialect](api_server.url, paginator=paginator)) == RECORDS
    pages = [r.param("page") for r in api_server.requests]
    assert pages == [None, "2", "3", "4", "5"]  # the first request carries no page number


@dialects
def test_offset_increment(api_server, dialect):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("offset", page_size=10))
    paginator = """
        type: DefaultPaginator
        page_size_option: {inject_into: request_parameter, field_name: limit}
        page_token_option: {inject_into: request_parameter, field_name: offset}
        pagination_strategy: {type: OffsetIncrement, page_size: 10}
    """
    assert read(DIALECTS[dialect](api_server.url, paginator=paginator)) == RECORDS
    assert [r.param("offset") for r in api_server.requests] == [None, "10", "20"]


def test_offset_inject_on_first_request(api_server):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("offset", page_size=10))
    paginator = """
        type: DefaultPaginator
        page_size_option: {type: RequestOption, inject_into: request_parameter, field_name: limit}
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: offset}
        pagination_strategy: {type: OffsetIncrement, page_size: 10, inject_on_first_request: true}
    """
    assert read(DIALECTS["modern"](api_server.url, paginator=paginator)) == RECORDS
    assert [r.param("offset") for r in api_server.requests] == ["0", "10", "20"]


@dialects
def test_cursor_pagination_from_body(api_server, dialect):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("cursor", page_size=7))
    paginator = """
        type: DefaultPaginator
        page_token_option: {inject_into: request_parameter, field_name: cursor}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ response['next'] }}"
          stop_condition: "{{ not response['next'] }}"
    """
    assert read(DIALECTS[dialect](api_server.url, paginator=paginator)) == RECORDS
    assert len(api_server.requests) == 4


@dialects
def test_link_header_pagination_replaces_the_url(api_server, dialect):
    api_server.add_collection("/items", RECORDS, pagination=Pagination("link", page_size=10))
    paginator = """
        type: DefaultPaginator
        page_size_option: {inject_into: request_parameter, field_name: per_page}
        page_token_option: {inject_into: path}
        pagination_strategy:
          type: CursorPagination
          page_size: 10
          cursor_value: "{{ headers['link']['next']['url'] }}"
          stop_condition: "{{ 'next' not in headers['link'] }}"
    """
    if dialect == "modern":
        paginator = paginator.replace("{inject_into: path}", "{type: RequestPath}")
    assert read(DIALECTS[dialect](api_server.url, paginator=paginator)) == RECORDS
    # the next URL already carries per_page: it is not sent twice
    assert all(len(r.query.get("per_page", [])) == 1 for r in api_server.requests)


@dialects
@pytest.mark.parametrize(
    ("auth", "authenticator", "config"),
    [
        (
            BearerAuth("t0ken"),
            "type: BearerAuthenticator\napi_token: \"{{ config['token'] }}\"",
            {"token": "t0ken"},
        ),
        (
            BasicAuth("user", "pw"),
            "type: BasicHttpAuthenticator\nusername: user\npassword: \"{{ config['token'] }}\"",
            {"token": "pw"},
        ),
        (
            ApiKeyAuth("k3y", header="X-Api-Key"),
            "type: ApiKeyAuthenticator\nheader: X-Api-Key\napi_token: \"{{ config['token'] }}\"",
            {"token": "k3y"},
        ),
    ],
)
def test_static_authenticators(api_server, dialect, auth, authenticator, config):
    api_server.add_collection("/items", RECORDS[:3], auth=auth)
    assert (
        read(DIALECTS[dialect](api_server.url, authenticator=authenticator), config) == RECORDS[:3]
    )


def test_api_key_injected_as_query_parameter(api_server):
    api_server.add_collection("/items", RECORDS[:3], auth=ApiKeyAuth("k3y", query_param="api_key"))
    authenticator = """
        type: ApiKeyAuthenticator
        api_token: "{{ config['token'] }}"
        inject_into: {type: RequestOption, inject_into: request_parameter, field_name: api_key}
    """
    assert read(DIALECTS["modern"](api_server.url, authenticator=authenticator), {"token": "k3y"})


@dialects
def test_oauth_refreshes_once_and_reuses_the_token(api_server, dialect):
    issuer = api_server.add_oauth_token_endpoint(
        "/oauth/token", client_id="cid", client_secret="csecret", refresh_token="rtok"
    )
    api_server.add_collection(
        "/items", RECORDS, pagination=Pagination("page", page_size=10), auth=BearerAuth(issuer)
    )
    authenticator = f"""
        type: OAuthAuthenticator
        token_refresh_endpoint: "{api_server.url}/oauth/token"
        client_id: cid
        client_secret: "{{{{ config['token'] }}}}"
        refresh_token: rtok
    """
    paginator = """
        type: DefaultPaginator
        page_token_option: {inject_into: request_parameter, field_name: page}
        pagination_strategy: {type: PageIncrement, page_size: 10, start_from_page: 1}
    """
    text = DIALECTS[dialect](api_server.url, authenticator=authenticator, paginator=paginator)
    assert read(text, {"token": "csecret"}) == RECORDS
    assert [r.path for r in api_server.requests].count("/oauth/token") == 1


def test_session_token_authenticator(api_server):
    issuer = api_server.add_session_login("/login", {"user": "u", "password": "p"})
    api_server.add_collection("/items", RECORDS[:4], auth=BearerAuth(issuer))
    authenticator = f"""
        type: SessionTokenAuthenticator
        login_requester:
          type: HttpRequester
          url_base: "{api_server.url}"
          path: /login
          http_method: POST
          request_body_json: {{user: u, password: "{{{{ config['token'] }}}}"}}
        session_token_path: [token]
        request_authentication: {{type: Bearer}}
    """
    authenticator = authenticator.replace(
        "{type: Bearer}", "{type: SessionTokenRequestBearerAuthenticator}"
    )
    assert (
        read(DIALECTS["modern"](api_server.url, authenticator=authenticator), {"token": "p"})
        == RECORDS[:4]
    )


def test_selective_authenticator_picks_by_config(api_server):
    api_server.add_collection("/items", RECORDS[:2], auth=BearerAuth("b"))
    authenticator = """
        type: SelectiveAuthenticator
        authenticator_selection_path: [auth, kind]
        authenticators:
          bearer: {type: BearerAuthenticator, api_token: "{{ config['auth']['token'] }}"}
          basic:
            type: BasicHttpAuthenticator
            username: "{{ config['auth']['email'] + '/token' }}"
            password: "{{ config['auth']['api_token'] }}"
    """
    # The basic branch reads keys this config lacks: it is not the one chosen, so (as in
    # airbyte-cdk, which evaluates an authenticator's templates only when it is used) it is
    # never evaluated.
    config = {"auth": {"kind": "bearer", "token": "b"}}
    assert (
        read(DIALECTS["modern"](api_server.url, authenticator=authenticator), config) == RECORDS[:2]
    )


@dialects
def test_record_filter_and_transformations(api_server, dialect):
    api_server.add_collection("/items", RECORDS[:6])
    text = DIALECTS[dialect](api_server.url)
    selector_key = "field_path" if dialect == "modern" else "field_pointer"
    text = text.replace(
        f"extractor: {{type: DpathExtractor, {selector_key}: [data]}}"
        if dialect == "modern"
        else f"extractor:\n        {selector_key}: [data]",
        (
            f"extractor: {{type: DpathExtractor, {selector_key}: [data]}}"
            if dialect == "modern"
            else f"extractor:\n        {selector_key}: [data]"
        )
        + "\n"
        + " " * (8 if dialect == "modern" else 6)
        + "record_filter: {condition: \"{{ record['kind'] == 'even' }}\"}",
    )
    transformations = """
  transformations:
    - type: AddFields
      fields:
        - path: [source, name]
          value: "demo-{{ record['id'] }}"
        - path: [doubled]
          value: "{{ record['id'] * 2 }}"
    - type: RemoveFields
      field_pointers: [[kind], [missing, field]]
"""
    anchor = "    retriever:\n"
    text = text.replace(anchor, transformations.replace("\n  ", "\n    ").lstrip("\n") + anchor, 1)
    records = read(text)
    assert [r["id"] for r in records] == [0, 2, 4]
    assert records[1] == {"id": 2, "name": "n2", "source": {"name": "demo-2"}, "doubled": 4}


def test_wildcard_extraction_from_an_object_of_objects(api_server):
    api_server.add_route(
        "GET", "/items", lambda request: Response(200, {"data": {"a": {"id": 1}, "b": {"id": 2}}})
    )
    assert read(DIALECTS["modern"](api_server.url, field_path="[data, '*']")) == [
        {"id": 1},
        {"id": 2},
    ]


def test_missing_record_path_yields_no_records(api_server):
    api_server.add_route("GET", "/items", lambda request: Response(200, {"other": [1]}))
    assert read(DIALECTS["modern"](api_server.url)) == []


# -- error handling ------------------------------------------------------------------------------


@dialects
def test_default_handler_retries_5xx_and_429_then_succeeds(api_server, dialect):
    api_server.add_collection("/items", RECORDS[:3])
    api_server.fail_next("/items", Response(503), Response.rate_limited(0.001), Response(502))
    handler = """
        type: DefaultErrorHandler
        backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
    """
    assert read(DIALECTS[dialect](api_server.url, error_handler=handler)) == RECORDS[:3]
    assert len(api_server.requests) == 4


@dialects
def test_wait_time_from_retry_after_header(api_server, dialect):
    api_server.add_collection("/items", RECORDS[:3])
    api_server.fail_next("/items", Response.rate_limited(0.001))
    handler = """
        type: DefaultErrorHandler
        backoff_strategies: [{type: WaitTimeFromHeader, header: Retry-After}]
        response_filters: [{type: HttpResponseFilter, http_codes: [429], action: RETRY}]
    """
    assert read(DIALECTS[dialect](api_server.url, error_handler=handler)) == RECORDS[:3]


@dialects
def test_ignore_filter_yields_nothing(api_server, dialect):
    api_server.add_route("GET", "/items", lambda request: Response(404, {"message": "gone"}))
    handler = """
        type: DefaultErrorHandler
        response_filters: [{type: HttpResponseFilter, http_codes: [404], action: IGNORE}]
    """
    assert read(DIALECTS[dialect](api_server.url, error_handler=handler)) == []


@dialects
def test_retries_exhausted_name_stream_url_status_and_attempts(api_server, dialect):
    api_server.add_route("GET", "/items", lambda request: Response(500, {"error": "boom"}))
    handler = """
        type: DefaultErrorHandler
        max_retries: 2
        backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
    """
    with pytest.raises(ReadError) as caught:
        read(DIALECTS[dialect](api_server.url, error_handler=handler))
    message = str(caught.value)
    assert "stream 'items'" in message
    assert f"GET {api_server.url}/items" in message
    assert "status 500" in message and "after 3 attempts" in message and "boom" in message


def test_legacy_custom_filters_replace_the_default_retry(api_server):
    """2022: listing filters of your own drops the implicit retry of 5xx."""
    api_server.add_collection("/items", RECORDS[:3])
    api_server.fail_next("/items", Response(503))
    handler = """
        response_filters: [{http_codes: [404], action: IGNORE}]
    """
    with pytest.raises(ReadError, match="status 503"):
        read(DIALECTS["legacy"](api_server.url, error_handler=handler))


def test_fail_filter_uses_its_error_message(api_server):
    api_server.add_route("GET", "/items", lambda request: Response(200, {"status": "error"}))
    handler = """
        type: DefaultErrorHandler
        response_filters:
          - type: HttpResponseFilter
            predicate: "{{ response['status'] == 'error' }}"
            action: FAIL
            error_message: "the API reported an error inside a 200"
    """
    with pytest.raises(ReadError, match="the API reported an error inside a 200"):
        read(DIALECTS["modern"](api_server.url, error_handler=handler))


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (Response.html(status=200), "not valid JSON"),
        (Response(200, b""), "empty body"),
    ],
)
def test_broken_bodies_are_retried_then_reported(api_server, response, expected):
    api_server.add_route("GET", "/items", lambda request: response)
    handler = """
        type: DefaultErrorHandler
        max_retries: 1
        backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
    """
    with pytest.raises(ReadError, match=expected):
        read(DIALECTS["modern"](api_server.url, error_handler=handler))
    assert len(api_server.requests) == 2


def test_connection_reset_is_retried(api_server):
    api_server.add_collection("/items", RECORDS[:3])
    api_server.fail_next("/items", Response(200, {"data": RECORDS}, fault="reset"))
    handler = """
        type: DefaultErrorHandler
        backoff_strategies: [{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.001}]
    """
    assert read(DIALECTS["modern"](api_server.url, error_handler=handler)) == RECORDS[:3]


@dialects
def test_post_with_json_body_and_headers(api_server, dialect):
    seen = []

    def handler(request):
        seen.append(request)
        return Response(200, {"data": [request.json]})

    api_server.add_route("POST", "/items", handler)
    extra = """
        http_method: POST
        request_headers: {X-Trace: "abc"}
        request_body_json: {query: "{{ config['token'] }}", size: 10}
    """
    if dialect == "legacy":
        extra = """
        http_method: POST
        request_options_provider:
          request_headers: {X-Trace: "abc"}
          request_body_json: {query: "{{ config['token'] }}", size: 10}
        """
    records = read(DIALECTS[dialect](api_server.url, extra_requester=extra), {"token": "q"})
    assert records == [{"query": "q", "size": 10}]
    assert seen[0].headers["x-trace"] == "abc"


def test_a_cursor_that_does_not_advance_ends_pagination(api_server):
    """An API (or a manifest) that hands back the same cursor would otherwise loop forever."""
    api_server.add_route(
        "GET", "/items", lambda request: Response(200, {"data": RECORDS[:2], "next": "same"})
    )
    paginator = """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: cursor}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ response['next'] }}"
    """
    assert read(DIALECTS["modern"](api_server.url, paginator=paginator)) == RECORDS[:2] * 2
    assert len(api_server.requests) == 2


def test_get_sends_a_json_body_when_the_manifest_asks_for_one(api_server):
    """Search-style APIs page with a cursor in the body of a GET, as today's runtime sends it."""
    pages = {None: ({"data": RECORDS[:2], "cursor": "c2"}), "c2": {"data": RECORDS[2:3]}}
    api_server.add_route(
        "GET", "/items", lambda request: Response(200, pages[(request.json or {}).get("cursor")])
    )
    paginator = """
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: body_json, field_name: cursor}
        pagination_strategy:
          type: CursorPagination
          cursor_value: "{{ response.cursor }}"
          stop_condition: "{{ 'cursor' not in response }}"
    """
    assert read(DIALECTS["modern"](api_server.url, paginator=paginator)) == RECORDS[:3]
