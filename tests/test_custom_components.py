"""Custom components written against airbyte-cdk: what may load, how they are built, and what
each family's adapter hands them (the reference's own value types).

Every test puts ``support/cdk_components.py`` beside a manifest as ``components.py``, runs the
manifest against a real local API, and checks what the component recorded in ``SEEN``.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import requests
from manifests import modern
from support.api_server import ApiServer, Response

from engine import load_source
from engine.errors import ManifestError, ReadError, UnsupportedComponentError
from engine.explain.report import explain, render_text
from engine.http import budget

pytest.importorskip("airbyte_cdk", reason="needs the airbyte extra")
from airbyte_cdk.sources.types import Record, StreamSlice

COMPONENTS = Path(__file__).parent / "support" / "cdk_components.py"
SELECTOR = "extractor: {type: DpathExtractor, field_path: [data]}"


def _write(tmp_path: Path, text: str) -> Path:
    shutil.copy(COMPONENTS, tmp_path / "components.py")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    return manifest


def _read(manifest: Path, config: dict | None = None, state: dict | None = None) -> list[dict]:
    source = load_source(manifest, config or {"token": "secret-token-1"})
    try:
        return list(source.streams["items"].read_records(state))
    finally:
        source.close()


def _seen(family: str) -> list[dict]:
    return sys.modules["components"].SEEN.get(family, [])


@pytest.fixture
def items(api_server: ApiServer) -> ApiServer:
    api_server.add_route(
        "GET", "/items", lambda r: Response(200, {"data": [{"id": 1, "name": "a"}, {"id": 2}]})
    )
    return api_server


def test_extractor_gets_the_response_and_the_reference_decoder(items, tmp_path):
    text = modern(items.url).replace(
        SELECTOR,
        "extractor: {type: CustomRecordExtractor, class_name: components.Extractor, "
        "$parameters: {field: data}}",
    )
    records = _read(_write(tmp_path, text))
    assert records == [{"id": 1, "name": "a", "status": 200}, {"id": 2, "status": 200}]
    (call,) = _seen("extractor")
    assert isinstance(call["response"], requests.Response)
    assert type(call["decoder"]).__name__ == "JsonDecoder"
    assert call["config"] == {"token": "secret-token-1"}


def test_a_subclass_of_a_reference_component_keeps_its_nested_fields(items, tmp_path):
    text = modern(items.url).replace(
        SELECTOR,
        "extractor: {type: CustomRecordExtractor, class_name: components.WrappedDpath, "
        "field_path: [data]}",
    )
    assert [r["wrapped"] for r in _read(_write(tmp_path, text))] == [True, True]


def test_transformation_changes_the_record_in_place_with_the_slice(items, tmp_path):
    text = modern(
        items.url,
        extra_stream="transformations:\n  - {type: CustomTransformation, "
        "class_name: components.Transformation, suffix: '!'}",
    )
    records = _read(_write(tmp_path, text))
    assert [r["name"] for r in records] == ["a!", "None!"]
    first = _seen("transformation")[0]
    assert first["record"] == {"id": 1, "name": "a"}
    assert isinstance(first["stream_slice"], StreamSlice)
    assert first["config"] == {"token": "secret-token-1"}


def test_record_filter_sees_the_whole_page(items, tmp_path):
    text = modern(items.url).replace(
        SELECTOR,
        SELECTOR
        + "\n        record_filter: {type: CustomRecordFilter, class_name: components.Filter}",
    )
    assert [r["id"] for r in _read(_write(tmp_path, text))] == [1]
    (call,) = _seen("filter")
    assert [r["id"] for r in call["records"]] == [1, 2]
    assert isinstance(call["stream_slice"], StreamSlice) and call["token"] is None


def test_authenticator_is_the_requests_auth_and_its_token_is_masked(items, tmp_path):
    text = modern(
        items.url,
        authenticator="type: CustomAuthenticator\nclass_name: components.Auth\nheader: X-Key",
    )
    manifest = _write(tmp_path, text)
    source = load_source(manifest, {"token": "secret-token-1"})
    assert len(list(source.streams["items"].read_records())) == 2
    assert items.requests[-1].headers["x-key"] == "Custom secret-token-1"
    assert "secret-token-1" not in source.masker.mask("sent Custom secret-token-1")
    source.close()


def test_an_authenticator_that_fails_names_its_class_and_the_secret_stays_masked(items, tmp_path):
    text = modern(
        items.url,
        authenticator="type: CustomAuthenticator\nclass_name: components.TokenFetchingAuth\n"
        "header: X-Key",
    )
    with pytest.raises(ReadError) as failed:
        _read(_write(tmp_path, text))
    assert str(failed.value).startswith(
        "custom component components.TokenFetchingAuth failed: ConnectionError: token host "
    )
    assert "secret-token-1" not in str(failed.value)
    assert items.requests == []


def test_backoff_strategy_gets_the_response_and_the_attempt(items, tmp_path):
    items.fail_next("/items", Response(503, {"error": "busy"}))
    text = modern(
        items.url,
        error_handler="type: DefaultErrorHandler\nbackoff_strategies:\n"
        "  - {type: CustomBackoffStrategy, class_name: components.Backoff}",
    )
    assert len(_read(_write(tmp_path, text))) == 2
    (call,) = _seen("backoff")
    assert call["response"].status_code == 503 and call["attempt"] >= 1


def test_error_handler_decides_with_the_response(api_server, tmp_path):
    api_server.add_route("GET", "/items", lambda r: Response(404, {"error": "gone"}))
    text = modern(
        api_server.url,
        error_handler="type: CustomErrorHandler\nclass_name: components.ErrorHandler",
    )
    assert _read(_write(tmp_path, text)) == []
    assert _seen("error_handler")[0]["response"].status_code == 404


def test_pagination_strategy_gets_response_size_last_record_and_token(api_server, tmp_path):
    def page(request):
        if request.query.get("cursor") == ["2"]:
            return Response(200, {"data": [{"id": 3}]})
        return Response(200, {"data": [{"id": 1}, {"id": 2}], "next": "2"})

    api_server.add_route("GET", "/items", page)
    text = modern(
        api_server.url,
        paginator="type: DefaultPaginator\n"
        "pagination_strategy: {type: CustomPaginationStrategy, class_name: components.Pages}\n"
        "page_token_option: {type: RequestOption, inject_into: request_parameter, "
        "field_name: cursor}",
    )
    assert [r["id"] for r in _read(_write(tmp_path, text))] == [1, 2, 3]
    first, second = _seen("pagination")
    assert isinstance(first["response"], requests.Response) and first["size"] == 2
    assert isinstance(first["last"], Record) and first["last"]["id"] == 2
    assert first["token"] is None and second["token"] == "2"


def test_a_custom_paginator_is_refused_as_the_reference_has_none(items, tmp_path):
    text = modern(items.url, paginator="type: CustomPaginator\nclass_name: components.Pages")
    with pytest.raises(UnsupportedComponentError) as error:
        _read(_write(tmp_path, text))
    assert "CustomPaginator 'components.Pages' is written against airbyte-cdk" in str(error.value)
    assert "CustomPaginationStrategy" in str(error.value)
    assert "retriever.paginator" in str(error.value)


def test_partition_router_slices_and_request_options(items, tmp_path):
    text = modern(
        items.url,
        extra_stream="",
    ).replace(
        "      paginator:",
        "      partition_router: {type: CustomPartitionRouter, class_name: components.Router}\n"
        "      paginator:",
    )
    records = _read(_write(tmp_path, text), {"token": "t" * 8, "teams": ["x", "y"]})
    assert len(records) == 4
    assert sorted(r.query["team"][0] for r in items.requests) == ["x", "y"]
    assert all(isinstance(c["stream_slice"], StreamSlice) for c in _seen("router"))


def test_requester_builds_each_request_and_our_client_sends_it(items, tmp_path):
    text = modern(items.url).replace(
        '        $ref: "#/definitions/requester"',
        f"        type: CustomRequester\n        class_name: components.Requester\n"
        f"        url_base: {items.url}\n        path: /items",
    )
    assert len(_read(_write(tmp_path, text))) == 2
    assert items.requests[-1].headers["x-slice"] == "{}"
    assert isinstance(_seen("requester")[0]["stream_slice"], StreamSlice)


def test_a_requesters_own_call_budget_is_waited_on_before_every_attempt(items, tmp_path):
    items.fail_next("/items", Response(503, {"error": "busy"}))
    text = modern(items.url).replace(
        '        $ref: "#/definitions/requester"',
        f"        type: CustomRequester\n        class_name: components.BudgetedRequester\n"
        f"        url_base: {items.url}\n        path: /items",
    )
    assert len(_read(_write(tmp_path, text))) == 2
    calls = _seen("budget")
    assert len(calls) == len(items.requests) == 2  # the retry asked the budget too
    assert all(isinstance(c["request"], requests.PreparedRequest) for c in calls)
    assert calls[-1]["request"].url.endswith("/items")


def test_schema_loader_gives_the_stream_its_schema(items, tmp_path):
    text = modern(items.url).replace(
        "      type: InlineSchemaLoader\n"
        "      schema: {type: object, properties: {id: {type: integer}}}",
        "      type: CustomSchemaLoader\n      class_name: components.Schema",
    )
    source = load_source(_write(tmp_path, text), {"token": "t" * 8})
    assert source.streams["items"].json_schema["properties"]["from"] == {"const": 1}


def test_state_migration_gets_the_stream_model_and_migrates(items, tmp_path):
    text = modern(
        items.url,
        extra_stream="state_migrations:\n"
        "  - {type: CustomStateMigration, class_name: components.Migration}\n"
        "incremental_sync:\n  type: DatetimeBasedCursor\n  cursor_field: updated_at\n"
        "  datetime_format: '%Y-%m-%d'\n  start_datetime: '2024-01-01'",
    )
    source = load_source(_write(tmp_path, text), {"token": "t" * 8})
    stream = source.streams["items"]
    slices = stream.slices({"updated": "2024-03-01"})
    assert slices[0]["start_time"].startswith("2024-03-01")
    (call,) = _seen("migration")
    assert type(call["stream"]).__name__ == "DeclarativeStream"


def test_type_transformer_normalizes_each_record_with_the_schema(items, tmp_path):
    text = modern(items.url).replace(
        SELECTOR,
        SELECTOR + "\n        schema_normalization: "
        "{type: CustomSchemaNormalization, class_name: components.Normalizer}",
    )
    assert [r["id"] for r in _read(_write(tmp_path, text))] == ["1", "2"]
    first = _seen("normalizer")[0]
    assert first["record"] == {"id": 1, "name": "a"}
    assert first["schema"]["properties"]["id"] == {"type": "integer"}


# -- what may load ------------------------------------------------------------------------------


def test_a_source_package_beside_the_manifest_loads(items, tmp_path):
    package = tmp_path / "source_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(COMPONENTS, package / "components.py")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        modern(items.url).replace(
            SELECTOR,
            "extractor: {type: CustomRecordExtractor, "
            "class_name: source_probe_pkg.components.WrappedDpath, field_path: [data]}",
        )
    )
    assert len(_read(manifest)) == 2


@pytest.mark.parametrize(
    "class_name", ["os.path.join", "source_elsewhere.components.X", "json.JSONDecoder"]
)
def test_code_that_is_neither_beside_the_manifest_nor_allowed_is_refused(
    items, tmp_path, class_name
):
    text = modern(items.url).replace(
        SELECTOR, f"extractor: {{type: CustomRecordExtractor, class_name: {class_name}}}"
    )
    source = load_source(_write(tmp_path, text), {"token": "t" * 8})
    with pytest.raises(UnsupportedComponentError, match="not in a module you allowed"):
        source.streams  # noqa: B018 - building the streams is what imports custom classes


def test_a_manifest_given_as_text_has_no_code_beside_it(items, tmp_path, monkeypatch):
    shutil.copy(COMPONENTS, tmp_path / "components.py")
    monkeypatch.chdir(tmp_path)
    text = modern(items.url).replace(
        SELECTOR, "extractor: {type: CustomRecordExtractor, class_name: components.Extractor}"
    )
    with pytest.raises(UnsupportedComponentError, match="not in a module you allowed"):
        load_source(text, {"token": "t" * 8}).streams  # noqa: B018


def test_a_component_the_reference_cannot_build_names_its_path(items, tmp_path):
    text = modern(items.url).replace(
        SELECTOR, "extractor: {type: CustomRecordExtractor, class_name: components.Extractor}"
    )
    with pytest.raises(ManifestError, match=r"record_selector\.extractor: the reference runtime"):
        load_source(_write(tmp_path, text), {"token": "t" * 8}).streams  # noqa: B018


def test_a_custom_retriever_runs_the_reference_stream_and_state_follows_the_data(
    api_server, tmp_path
):
    def items(request):
        day = f"2024-01-0{len(api_server.requests)}"
        return Response(200, {"data": [{"id": 1, "updated_at": f"{day}T12:00:00Z"}]})

    api_server.add_route("GET", "/items", items)
    text = modern(
        api_server.url,
        extra_stream="incremental_sync:\n  type: DatetimeBasedCursor\n  cursor_field: updated_at\n"
        "  datetime_format: '%Y-%m-%dT%H:%M:%SZ'\n  start_datetime: '2024-01-01T00:00:00Z'\n"
        "  end_datetime: '2024-01-02T23:59:59Z'\n  step: P1D\n  cursor_granularity: PT1S",
    ).replace(
        "      type: SimpleRetriever",
        "      type: CustomRetriever\n      class_name: components.Retriever",
    )
    source = load_source(_write(tmp_path, text), {"token": "t" * 8})
    stream = source.streams["items"]
    slices = stream.slices(None)
    assert [s["start_time"][:10] for s in slices] == ["2024-01-01", "2024-01-02"]
    first = list(stream.read_slice(slices[0]))
    assert first == [{"id": 1, "updated_at": "2024-01-01T12:00:00Z", "by_retriever": True}]
    stream.cursor.close_slice(slices[0])
    # The state covers the first slice only: never past its end while the second is unread.
    assert "2024-01-01T12:00:00Z" <= stream.cursor.state()["updated_at"] <= "2024-01-01T23:59:59Z"
    assert isinstance(_seen("retriever")[0]["stream_slice"], StreamSlice)
    source.close()


def test_the_manifests_call_budget_counts_the_requests_of_a_stream_the_reference_runs(
    items, tmp_path, monkeypatch
):
    asked: list[str] = []
    acquire = budget.ApiBudget.acquire

    def noting(self, request):
        asked.append(request.url)
        acquire(self, request)

    monkeypatch.setattr(budget.ApiBudget, "acquire", noting)
    text = modern(items.url).replace(
        "      type: SimpleRetriever",
        "      type: CustomRetriever\n      class_name: components.Retriever",
    )
    text += (
        "api_budget:\n  type: HTTPAPIBudget\n  policies:\n"
        "    - type: MovingWindowCallRatePolicy\n      rates: [{limit: 100, interval: PT1S}]\n"
        "      matchers: []\n"
    )
    assert len(_read(_write(tmp_path, text))) == 2
    assert len(items.requests) == 1
    assert asked == [f"{items.url}/items"]


def test_a_custom_incremental_cursor_is_refused_as_the_reference_refuses_it(items, tmp_path):
    text = modern(
        items.url,
        extra_stream="incremental_sync: {type: CustomIncrementalSync, "
        "class_name: components.Transformation, cursor_field: updated_at}",
    )
    with pytest.raises(ManifestError, match="the reference runtime cannot build the stream"):
        load_source(_write(tmp_path, text), {"token": "t" * 8}).streams  # noqa: B018


def test_a_stream_the_reference_runs_sends_no_credential_to_another_origin(api_server, tmp_path):
    """The reference's own session follows the redirect, under this engine's rules."""
    secret = "SENTINEL-reference-session"
    key = "type: ApiKeyAuthenticator\napi_token: \"{{ config['token'] }}\"\nheader: X-API-Key"
    with ApiServer() as elsewhere:
        elsewhere.add_route("GET", "/landing", lambda r: Response(200, {"data": [{"id": 7}]}))
        landing = {"Location": f"{elsewhere.url}/landing"}
        api_server.add_route("GET", "/items", lambda r: Response(302, {}, landing))
        text = modern(api_server.url, authenticator=key).replace(
            "      type: SimpleRetriever",
            "      type: CustomRetriever\n      class_name: components.Retriever",
        )
        assert _read(_write(tmp_path, text), {"token": secret}) == [{"id": 7, "by_retriever": True}]
        (landed,) = elsewhere.requests
    assert api_server.requests[0].headers.get("x-api-key") == secret  # the API itself got it
    assert "x-api-key" not in landed.headers and secret not in str(landed.headers)


def test_explain_lists_the_custom_components_of_each_stream(items, tmp_path):
    text = modern(
        items.url,
        authenticator="type: RateLimitedMultipleTokenAuthenticator\ntokens: x\n"
        "quota_status_source: {type: QuotaStatusSource, url: http://127.0.0.1:9/q}\n"
        "quotas: [{type: TokenQuota, name: rest, remaining_path: [r], reset_path: [t]}]",
    ).replace(
        SELECTOR, "extractor: {type: CustomRecordExtractor, class_name: components.Extractor}"
    )
    manifest = _write(tmp_path, text)
    (stream,) = explain(manifest)["streams"]
    assert stream["custom_components"] == [
        {
            "path": "retriever.requester.authenticator",
            "type": "RateLimitedMultipleTokenAuthenticator",
            "class_name": "airbyte-cdk's RateLimitedMultipleTokenAuthenticator",
        },
        {
            "path": "retriever.record_selector.extractor",
            "type": "CustomRecordExtractor",
            "class_name": "components.Extractor",
        },
    ]
    shown = render_text(explain(manifest))
    assert "custom component: retriever.record_selector.extractor: components.Extractor" in shown
