"""Manifests load as today's reference runner loads them: extra keys, $ref to any value, short
type names, packaged schema folders, linked schema files, and streams this engine cannot run."""

from __future__ import annotations

import json
import subprocess
import sys

import orjson
import pytest
from manifests import DIALECTS, modern
from support.api_server import ApiKeyAuth, BearerAuth
from support.cli import engine_cli

from engine import (
    DeclarativeSource,
    ManifestError,
    UnsupportedComponentError,
    load_manifest,
    load_source,
)

RECORDS = [{"id": i, "name": f"n{i}"} for i in range(5)]
dialects = pytest.mark.parametrize("dialect", sorted(DIALECTS))


def read(text, config=None, stream="items"):
    source = load_source(text, config or {})
    try:
        return list(source.read_records(stream))
    finally:
        source.close()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# -- unknown keys ------------------------------------------------------------------------------


@dialects
def test_unknown_keys_are_warnings_naming_path_line_and_close_match(api_server, tmp_path, dialect):
    api_server.add_collection("/items", RECORDS)
    text = DIALECTS[dialect](
        api_server.url, extra_requester="documentation: https://example.test\nhttp_methd: GET"
    )
    file = tmp_path / "manifest.yaml"
    file.write_text(text)
    manifest = load_manifest(file)
    assert read(manifest) == RECORDS
    typo = next(w for w in manifest.warnings if "'http_methd'" in w)
    assert f"manifest.yaml:{line_of(text, 'http_methd')}:" in typo
    assert "retriever.requester.http_methd: unknown key 'http_methd' in HttpRequester" in typo
    assert "Did you mean 'http_method'?" in typo
    assert "ignored" in typo
    assert any("unknown key 'documentation'" in w for w in manifest.warnings)


@dialects
def test_strict_mode_keeps_unknown_keys_errors(api_server, tmp_path, dialect):
    text = DIALECTS[dialect](api_server.url, extra_requester="http_methd: GET")
    file = tmp_path / "manifest.yaml"
    file.write_text(text)
    with pytest.raises(ManifestError) as refused:
        load_manifest(file, strict=True)
    assert "unknown key 'http_methd' in HttpRequester" in str(refused.value)
    assert refused.value.suggestion == "http_method"
    assert refused.value.line == line_of(text, "http_methd")
    with pytest.raises(ManifestError):
        load_source(str(file), {}, strict=True)


def test_a_misspelt_required_field_is_reported_as_the_typo(api_server):
    text = modern(
        api_server.url,
        paginator="type: DefaultPaginator\npagination_strategyy: {type: PageIncrement}",
    )
    with pytest.raises(ManifestError) as refused:
        load_manifest(text)
    assert "unknown key 'pagination_strategyy'" in str(refused.value)


def test_cli_warns_by_default_and_refuses_with_strict(api_server, tmp_path):
    api_server.add_collection("/items", RECORDS)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(modern(api_server.url, extra_requester="http_methd: GET"))
    config = tmp_path / "config.json"
    config.write_text("{}")
    lenient = engine_cli("read", manifest, config)
    messages = [json.loads(line) for line in lenient.stdout.splitlines()]
    assert lenient.returncode == 0
    warnings = [m["log"]["message"] for m in messages if m["type"] == "LOG"]
    assert any("'http_methd'" in w and "Did you mean 'http_method'?" in w for w in warnings)
    assert sum(m["type"] == "RECORD" for m in messages) == len(RECORDS)
    strict = engine_cli("read", manifest, config, "--strict")
    assert strict.returncode == 1
    trace = json.loads(strict.stdout.splitlines()[-1])
    assert "unknown key 'http_methd'" in trace["trace"]["error"]["message"]


# -- $ref to any value -------------------------------------------------------------------------


def test_a_ref_alone_becomes_the_value_it_points_to(api_server):
    api_server.add_collection("/items", RECORDS)
    text = modern("unused", field_path='{$ref: "#/definitions/field_path"}').replace(
        'url_base: "unused"', 'url_base: {$ref: "#/definitions/base/url"}'
    )
    text = text.replace(
        "definitions:\n",
        f'definitions:\n  base: {{url: "{api_server.url}"}}\n  field_path: [data]\n  retries: 3\n',
        1,
    )
    text = text.replace(
        "    authenticator:",
        '    error_handler: {max_retries: {$ref: "#/definitions/retries"}}\n    authenticator:',
        1,
    )
    assert read(text) == RECORDS
    handler = load_manifest(text).stream_definitions[0]["retriever"]["requester"]["error_handler"]
    assert handler["max_retries"] == 3


def test_a_ref_to_a_list_with_keys_beside_it_says_so():
    text = modern("http://127.0.0.1:1", field_path='{$ref: "#/definitions/fp", extra: 1}')
    text = text.replace("definitions:\n", "definitions:\n  fp: [data]\n", 1)
    with pytest.raises(ManifestError) as refused:
        load_manifest(text)
    message = str(refused.value)
    assert "points to a list, and other keys (extra) are written beside it" in message
    assert "only a mapping can take other keys" in message


# -- short type names --------------------------------------------------------------------------


def _session(url: str, request_authentication: str) -> str:
    return f"""
        type: SessionTokenAuthenticator
        login_requester:
          type: HttpRequester
          url_base: "{url}"
          path: /login
          http_method: POST
          request_body_json: {{user: u, password: "{{{{ config['token'] }}}}"}}
        session_token_path: [token]
        request_authentication: {request_authentication}
    """


def test_session_token_request_authentication_short_names(api_server):
    issuer = api_server.add_session_login("/login", {"user": "u", "password": "p"})
    api_server.add_collection("/items", RECORDS, auth=BearerAuth(issuer))
    api_server.add_collection("/keyed", RECORDS[:2], auth=ApiKeyAuth(issuer, header="X-Session"))
    bearer = modern(api_server.url, authenticator=_session(api_server.url, "{type: Bearer}"))
    assert read(bearer, {"token": "p"}) == RECORDS
    api_key = _session(
        api_server.url,
        "{type: ApiKey, inject_into: {type: RequestOption, inject_into: header, "
        "field_name: X-Session}}",
    )
    assert (
        read(modern(api_server.url, "/keyed", authenticator=api_key), {"token": "p"})
        == (RECORDS[:2])
    )


def test_short_names_are_only_valid_inside_a_session_token_authenticator():
    with pytest.raises(ManifestError) as refused:
        load_manifest(modern("http://127.0.0.1:1", authenticator="type: Bearer"))
    assert "unknown component type 'Bearer'" in str(refused.value)


# -- schema files ------------------------------------------------------------------------------

NESTED = [{"id": "1", "address": {"zip": "75001", "line": 7}, "balance": {"amount": "12"}}]


def _schema_manifest(url: str, schema_loader: str = "") -> str:
    text = modern(url).replace(
        "        extractor: {type: DpathExtractor, field_path: [data]}",
        "        extractor: {type: DpathExtractor, field_path: [data]}\n"
        "        schema_normalization: Default",
    )
    start = text.index("    schema_loader:")
    end = text.index("spec:")
    return text[:start] + schema_loader + text[end:]


@dialects
def test_default_schema_location_is_the_package_folder_beside_the_manifest(
    api_server, tmp_path, dialect
):
    """Both dialects: a connector's package folder holds its schemas (the 2022 dialect has no
    schema normalisation, so the id stays text)."""
    api_server.add_collection("/items", NESTED)
    schemas = tmp_path / "source_shop" / "schemas"
    schemas.mkdir(parents=True)
    (schemas / "items.json").write_text(
        json.dumps({"type": "object", "properties": {"id": {"type": "integer"}}})
    )
    file = tmp_path / "manifest.yaml"
    file.write_text(
        _schema_manifest(api_server.url)
        if dialect == "modern"
        else DIALECTS[dialect](api_server.url)
    )
    source = load_source(load_manifest(file), {})
    assert source.discover()[0]["json_schema"]["properties"] == {"id": {"type": "integer"}}
    assert [r["id"] for r in source.read_records("items")] == [1 if dialect == "modern" else "1"]


def _write_linked_schemas(tmp_path) -> None:
    schemas = tmp_path / "schemas"
    (schemas / "shared").mkdir(parents=True)
    (schemas / "shared" / "address.json").write_text(
        json.dumps(
            {
                "type": ["null", "object"],
                "definitions": {"digits": {"type": "integer"}},
                "properties": {
                    "zip": {"type": "string"},
                    "line": {"$ref": "#/definitions/digits"},
                },
            }
        )
    )
    (schemas / "shared" / "money.json").write_text(
        json.dumps({"type": "object", "properties": {"amount": {"type": "number"}}})
    )
    (schemas / "items.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "address": {"$ref": "address.json"},
                    "balance": {"$ref": "shared/money.json"},
                },
            }
        )
    )


def test_links_between_schema_files_give_the_full_schema_and_its_casts(api_server, tmp_path):
    api_server.add_collection("/items", NESTED)
    _write_linked_schemas(tmp_path)
    file = tmp_path / "manifest.yaml"
    file.write_text(_schema_manifest(api_server.url))
    source = load_source(load_manifest(file), {})
    properties = source.discover()[0]["json_schema"]["properties"]
    assert properties["address"]["properties"]["line"] == {"type": "integer"}
    assert "definitions" not in properties["address"]
    assert properties["balance"]["properties"]["amount"] == {"type": "number"}
    assert list(source.read_records("items")) == [
        {"id": 1, "address": {"zip": "75001", "line": 7}, "balance": {"amount": 12.0}}
    ]


def test_a_schema_link_leaving_the_schemas_folder_is_refused(api_server, tmp_path):
    (tmp_path / "secret.json").write_text(json.dumps({"type": "object"}))
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "items.json").write_bytes(
        orjson.dumps({"type": "object", "properties": {"x": {"$ref": "../../secret.json"}}})
    )
    file = tmp_path / "manifest.yaml"
    file.write_text(_schema_manifest(api_server.url))
    with pytest.raises(ManifestError) as refused:
        load_source(load_manifest(file), {}).discover()
    assert "outside the schemas folder" in str(refused.value)


# -- streams this engine cannot run ------------------------------------------------------------


def _with_unsupported_stream(url: str) -> str:
    unsupported = f"""
  - type: DeclarativeStream
    name: reports
    retriever:
      type: SimpleRetriever
      requester:
        type: HttpRequester
        url_base: "{url}"
        path: /reports
        authenticator: {{type: LegacySessionTokenAuthenticator}}
      record_selector: {{type: RecordSelector, extractor: {{type: DpathExtractor}}}}
"""
    text = modern(url)
    return text.replace("\nspec:", unsupported + "spec:", 1)


def test_spec_and_check_work_beside_an_unsupported_stream(api_server, tmp_path):
    api_server.add_collection("/items", RECORDS)
    text = _with_unsupported_stream(api_server.url)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    config = tmp_path / "config.json"
    config.write_text("{}")
    spec = subprocess.run(
        [sys.executable, "-m", "engine", "spec", "--manifest", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert spec.returncode == 0 and json.loads(spec.stdout.splitlines()[-1])["type"] == "SPEC"
    check = engine_cli("check", manifest, config)
    assert check.returncode == 0
    assert json.loads(check.stdout.splitlines()[-1])["connectionStatus"]["status"] == "SUCCEEDED"
    discover = engine_cli("discover", manifest, config)
    assert discover.returncode == 1 and "LegacySessionTokenAuthenticator" in discover.stdout
    with pytest.raises(UnsupportedComponentError) as refused:
        load_source(text, {})
    assert refused.value.path == "streams[1].retriever.requester.authenticator"


def test_check_of_an_unsupported_stream_names_why(api_server):
    text = _with_unsupported_stream(api_server.url).replace(
        "stream_names: [items]", "stream_names: [reports]"
    )
    manifest = load_manifest(text, skip_unsupported=True)
    ok, message = DeclarativeSource(manifest, {}).check()
    assert not ok and "LegacySessionTokenAuthenticator is not supported" in message


# -- fields that change what the reference reads ------------------------------------------------


EXPANDER = (
    "extractor: {type: DpathExtractor, "
    "record_expander: {expand_records_from_field: [x], merge_parent: true}}"
)


def test_a_field_the_engine_does_not_implement_is_refused_never_ignored(api_server, tmp_path):
    api_server.add_collection("/items", RECORDS)
    text = (
        _with_unsupported_stream(api_server.url)
        .replace("        authenticator: {type: LegacySessionTokenAuthenticator}\n", "")
        .replace("extractor: {type: DpathExtractor}}", EXPANDER + "}")
    )
    with pytest.raises(UnsupportedComponentError) as refused:
        load_manifest(text)
    where = "streams[1].retriever.record_selector.extractor.record_expander.merge_parent"
    assert refused.value.path == where
    assert "merging the parent" in str(refused.value)
    manifest = load_manifest(text, skip_unsupported=True)
    assert [left.path for left in manifest.left_out] == [refused.value.path]
    assert DeclarativeSource(manifest, {}).check() == (True, None)
