"""Reads that follow today's reference runner: the last date window, cursor values that do not
parse, OAuth expiry moments in any common form, templates reading missing keys, templates that
raise, and a failing stream among others."""

from __future__ import annotations

import json

import pytest
from manifests import DIALECTS
from support.api_server import BearerAuth, Pagination, Response
from support.cli import engine_cli
from support.slicing_manifests import date_cursor, legacy, modern, modern_stream

from engine import load_manifest, load_source
from engine.datetimes import parse_iso_datetime
from engine.errors import UnsupportedComponentError
from engine.templates.interpolation import TemplateError

dialects = pytest.mark.parametrize("dialect", sorted(DIALECTS))


def read(manifest, config=None, stream="items", state=None):
    source = load_source(manifest, config or {})
    try:
        return list(source.read_records(stream, state))
    finally:
        source.close()


# -- date windows ------------------------------------------------------------------------------


def _windows(api_server) -> list[tuple[str | None, str | None]]:
    return [(r.param("updated_since"), r.param("updated_until")) for r in api_server.requests]


def test_an_end_on_a_step_boundary_is_one_request_in_todays_dialect(api_server):
    api_server.add_collection("/items", [{"id": 1, "updated_at": "2023-12-15T00:00:00Z"}])
    cursor = date_cursor(
        "2023-12-01T00:00:00Z", "2024-01-01T00:00:00Z", step="P1M", cursor_granularity="PT1S"
    )
    manifest = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor))
    assert [r["id"] for r in read(manifest)] == [1]
    assert _windows(api_server) == [("2023-12-01T00:00:00Z", "2024-01-01T00:00:00Z")]


def test_interior_windows_end_a_granularity_early_and_the_last_at_the_end(api_server):
    api_server.add_collection("/items", [])
    cursor = date_cursor(
        "2023-11-01T00:00:00Z", "2024-01-01T00:00:00Z", step="P1M", cursor_granularity="P1D"
    ) | {"datetime_format": "%Y-%m-%d"}
    manifest = modern(modern_stream(api_server.url, "items", "/items", incremental=cursor))
    read(manifest)
    assert _windows(api_server) == [("2023-11-01", "2023-11-30"), ("2023-12-01", "2024-01-01")]


def test_the_2022_dialect_keeps_its_own_last_window(api_server):
    """The 2022 runtime (verified separately) still slices a window starting at the end."""
    api_server.add_collection("/items", [])
    slicer = {
        "type": "DatetimeStreamSlicer",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%d",
        "start_datetime": "2023-12-30",
        "end_datetime": "2024-01-01",
        "step": "1d",
        "start_time_option": {"inject_into": "request_parameter", "field_name": "updated_since"},
        "end_time_option": {"inject_into": "request_parameter", "field_name": "updated_until"},
    }
    read(legacy(api_server.url, "items", "/items", slicer))
    assert _windows(api_server) == [
        ("2023-12-30", "2023-12-30"),
        ("2023-12-31", "2023-12-31"),
        ("2024-01-01", "2024-01-01"),
    ]


# -- cursor values that do not parse -----------------------------------------------------------

MIXED = [
    {"id": 1, "updated_at": "2024-01-02T00:00:00Z"},
    {"id": 2, "updated_at": "last tuesday"},
    {"id": 3, "updated_at": "2024-01-03T00:00:00Z"},
    {"id": 4, "updated_at": "last tuesday"},
]


def _incremental(url: str) -> dict:
    cursor = date_cursor("2024-01-01T00:00:00Z", "2024-01-10T00:00:00Z")
    return modern(modern_stream(url, "items", "/items", incremental=cursor))


def test_a_record_whose_cursor_does_not_parse_is_emitted_with_a_warning(api_server, tmp_path):
    api_server.add_collection("/items", MIXED)
    manifest, config = tmp_path / "manifest.json", tmp_path / "config.json"
    manifest.write_text(json.dumps(_incremental(api_server.url)))
    config.write_text("{}")
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps({"streams": [{"stream": {"name": "items"}, "sync_mode": "incremental"}]})
    )
    result = engine_cli("read", manifest, config, "--catalog", str(catalog))
    assert result.returncode == 0, result.stdout
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert [m["record"]["data"]["id"] for m in messages if m["type"] == "RECORD"] == [1, 2, 3, 4]
    warnings = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    bad = [w for w in warnings if "does not parse" in w]
    assert len(bad) == 1  # one warning per value, not per record
    assert "stream 'items'" in bad[0] and "'updated_at'" in bad[0] and "'last tuesday'" in bad[0]
    states = [m["state"]["stream"]["stream_state"] for m in messages if m["type"] == "STATE"]
    assert states[-1] == {"updated_at": "2024-01-03T00:00:00Z"}


def test_an_unparsable_cursor_never_fails_a_client_side_filtered_stream(api_server):
    api_server.add_collection("/items", MIXED)
    manifest = _incremental(api_server.url)
    manifest["streams"][0]["incremental_sync"]["is_client_side_incremental"] = True
    source = load_source(manifest, {})
    stream = source.stream("items")
    assert [r["id"] for r in stream.read_records()] == [1, 2, 3, 4]
    assert len(stream.take_warnings()) == 1


# -- OAuth expiry ------------------------------------------------------------------------------


def _oauth_manifest(url: str, expiry_format: str) -> str:
    authenticator = f"""
        type: OAuthAuthenticator
        token_refresh_endpoint: "{url}/oauth/token"
        client_id: cid
        client_secret: secret
        refresh_token: rtok
        expires_in_name: expires_at
        token_expiry_date_format: "{expiry_format}"
    """
    paginator = """
        type: DefaultPaginator
        page_token_option: {inject_into: request_parameter, field_name: page}
        pagination_strategy: {type: PageIncrement, page_size: 2, start_from_page: 1}
    """
    return DIALECTS["modern"](url, authenticator=authenticator, paginator=paginator)


def _oauth_api(api_server, expires_at: str) -> list[dict]:
    """A token endpoint naming the moment its token expires, and five records on 3 pages."""
    api_server.add_route(
        "POST",
        "/oauth/token",
        lambda request: Response(200, {"access_token": "tok", "expires_at": expires_at}),
    )
    records = [{"id": i} for i in range(5)]
    api_server.add_collection(
        "/items", records, pagination=Pagination("page", page_size=2), auth=BearerAuth("tok")
    )
    return records


@pytest.mark.parametrize(
    "expires_at",
    ["2099-01-01 00:00:00", "2099-01-01T02:00:00+02:00", "2099-01-01T00:00:00Z", "4070908800"],
    ids=["declared-format", "iso-offset", "iso-z", "epoch-seconds"],
)
def test_oauth_expiry_parses_leniently_and_the_token_is_reused(api_server, expires_at):
    records = _oauth_api(api_server, expires_at)
    assert read(_oauth_manifest(api_server.url, "%Y-%m-%d %H:%M:%S")) == records
    assert [r.path for r in api_server.requests].count("/oauth/token") == 1


@pytest.mark.parametrize("use", [False, True])
def test_a_profile_assertion_is_refused_only_where_the_reference_uses_it(api_server, use):
    """airbyte-cdk 7 signs a JWT with profile_assertion only when use_profile_assertion is set;
    otherwise the refresh-token flow runs and the assertion is never read."""
    records = _oauth_api(api_server, "2099-01-01 00:00:00")
    assertion = (
        "      profile_assertion:\n"
        "        type: JwtAuthenticator\n"
        "        secret_key: k\n"
        "        algorithm: HS256\n"
        f"      use_profile_assertion: {str(use).lower()}\n"
    )
    text = _oauth_manifest(api_server.url, "%Y-%m-%d %H:%M:%S")
    assert "\n      token_expiry_date_format:" in text
    text = text.replace(
        "\n      token_expiry_date_format:", "\n" + assertion + "      token_expiry_date_format:"
    )
    if not use:
        assert read(text) == records
        return
    with pytest.raises(UnsupportedComponentError) as refused:
        read(text)
    assert refused.value.path.endswith("authenticator.use_profile_assertion")
    assert "JwtAuthenticator" in str(refused.value)


def test_an_expiry_in_the_past_refreshes_before_each_request(api_server):
    past = "2001-01-01T00:00:00+05:00"
    records = _oauth_api(api_server, past)
    assert read(_oauth_manifest(api_server.url, "%Y-%m-%d")) == records
    assert [r.path for r in api_server.requests].count("/oauth/token") == 3
    assert parse_iso_datetime(past).year == 2001


# -- templates reading missing keys ------------------------------------------------------------


@dialects
def test_a_template_reading_a_missing_key_renders_an_empty_string(api_server, dialect):
    api_server.add_collection("/items", [{"id": 1}])
    transformations = """
        transformations:
          - type: AddFields
            fields:
              - path: [parent_id]
                value: "{{ stream_slice['id'] }}"
              - path: [note]
                value: "{{ config['missing'] }}"
    """
    text = DIALECTS[dialect](api_server.url, extra_stream=transformations)
    assert read(text) == [{"id": 1, "parent_id": "", "note": ""}]


def test_a_missing_key_leaves_a_request_parameter_out(api_server):
    api_server.add_collection("/items", [{"id": 1}])
    text = DIALECTS["modern"](
        api_server.url,
        extra_requester="request_parameters:\n  q: \"{{ config['missing'] }}\"\n  k: v",
    )
    assert read(text) == [{"id": 1}]
    assert api_server.requests[0].param("q") is None
    assert api_server.requests[0].param("k") == "v"


# -- templates that raise ----------------------------------------------------------------------


@dialects
def test_a_template_raising_fails_the_stream_naming_its_field(api_server, dialect):
    """As both reference runtimes: with no default to fall back to, a render reading an
    attribute of an undefined value (here ``.get`` of a string) fails; the error names the
    field, never the API's value."""
    api_server.add_collection("/items", [{"id": 1, "name": "api-text {{ config['token'] }}"}])
    transformations = """
        transformations:
          - type: AddFields
            fields:
              - path: [tag]
                value: "{{ record['name'].get('x') }}"
    """
    text = DIALECTS[dialect](api_server.url, extra_stream=transformations)
    with pytest.raises(TemplateError) as failure:
        read(text, {"token": "tok-not-shown"})
    message = str(failure.value)
    assert "transformations" in message and "value" in message
    assert "'str object' has no attribute 'get'" in message
    assert "api-text" not in message and "tok-not-shown" not in message


def test_a_raising_template_with_a_default_or_in_a_mapping_does_not_fail(api_server):
    """A condition falls back to False, a request parameter is left out, as the reference."""
    api_server.add_collection("/items", [{"id": 1, "name": "n"}, {"id": 2, "name": {"x": 1}}])
    parameters = {"q": "{{ config['token'].get('x') }}", "k": "v"}
    stream = modern_stream(api_server.url, "items", "/items", request_parameters=parameters)
    stream["retriever"]["record_selector"] = {
        **stream["retriever"]["record_selector"],
        "record_filter": {"type": "RecordFilter", "condition": "{{ record['name'].get('x') }}"},
    }
    assert read(modern(stream), {"token": "t"}) == [{"id": 2, "name": {"x": 1}}]
    assert api_server.requests[0].param("q") is None
    assert api_server.requests[0].param("k") == "v"


def test_a_failing_stream_does_not_stop_the_others(api_server, tmp_path):
    """The reference's rule: the records read before the failure are out, the next stream is
    read, and the read ends with the failed stream's error (exit code 1)."""
    api_server.add_collection("/broken", [{"id": 1, "name": "plain"}])
    api_server.add_collection("/fine", [{"id": 7}])
    broken = modern_stream(api_server.url, "broken", "/broken")
    broken["retriever"]["paginator"] = {
        "type": "DefaultPaginator",
        "pagination_strategy": {
            "type": "CursorPagination",
            "cursor_value": "{{ response['data'][0]['name'].get('next') }}",
        },
        "page_token_option": {"type": "RequestPath"},
    }
    manifest, config = tmp_path / "manifest.json", tmp_path / "config.json"
    manifest.write_text(json.dumps(modern(broken, modern_stream(api_server.url, "fine", "/fine"))))
    config.write_text("{}")
    result = engine_cli("read", manifest, config)
    assert result.returncode == 1, result.stdout
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    records = [
        (m["record"]["stream"], m["record"]["data"]["id"])
        for m in messages
        if m["type"] == "RECORD"
    ]
    assert records == [("broken", 1), ("fine", 7)]
    errors = [
        m["log"]["message"] for m in messages if m["type"] == "LOG" and m["log"]["level"] == "ERROR"
    ]
    assert len(errors) == 1 and "Stream 'broken' did not sync" in errors[0]
    trace = messages[-1]["trace"]["error"]["message"]
    assert "streams[0].retriever.paginator.pagination_strategy.cursor_value" in trace
    assert "plain" not in trace


@dialects
def test_a_template_reading_stream_state_is_a_warning_in_todays_dialect(api_server, dialect):
    """airbyte-cdk 7 fails a stream evaluating such a template; the engine reads on (here the
    parameter, reading an undefined value, is left out) and says so once for today's dialect.
    The 2022 runtime handed request options the state: ``{}`` for a stream without a slicer."""
    api_server.add_collection("/items", [{"id": 1}])
    parameter = "since: \"{{ stream_state.get('updated_at', 'never') }}\""
    text = DIALECTS[dialect](api_server.url, extra_requester=f"request_parameters:\n  {parameter}")
    manifest = load_manifest(text)
    warned = [w for w in manifest.warnings if "stream_state" in w]
    if dialect == "modern":
        assert len(warned) == 1
        assert "retriever.requester.request_parameters.since" in warned[0]
        assert "airbyte-cdk 7 fails a stream" in warned[0]
    else:
        assert warned == []
    assert read(manifest) == [{"id": 1}]
    assert api_server.requests[0].param("since") == (None if dialect == "modern" else "never")
