"""Every manifest mistake gets one error naming path, file, line, expectation and a suggestion."""

from __future__ import annotations

import pytest
from manifests import modern

from engine import (
    ConfigError,
    ManifestError,
    UnsupportedComponentError,
    load_manifest,
    load_source,
)


def error_for(text: str, tmp_path) -> ManifestError:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_source(load_manifest(path), {}).streams  # noqa: B018
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_unknown_component_type_suggests_the_close_match(tmp_path):
    text = modern(
        "http://127.0.0.1:1",
        paginator="""
        type: DefaultPaginator
        pagination_strategy: {type: PageIncremnt, page_size: 5}
    """,
    )
    error = error_for(text, tmp_path)
    assert error.path == "streams[0].retriever.paginator.pagination_strategy"
    assert error.suggestion == "PageIncrement"
    assert error.file.endswith("manifest.yaml") and error.line == line_of(text, "PageIncremnt")
    assert "Expected one of CursorPagination" in str(error)


def test_unknown_key_suggests_the_close_match(tmp_path):
    text = modern(
        "http://127.0.0.1:1",
        paginator="""
        type: DefaultPaginator
        pagination_strategyy: {type: PageIncrement}
    """,
    )
    error = error_for(text, tmp_path)
    assert "unknown key 'pagination_strategyy' in DefaultPaginator" in str(error)
    assert error.suggestion == "pagination_strategy"
    assert error.line == line_of(text, "pagination_strategyy")


def test_missing_required_field(tmp_path):
    text = modern("http://127.0.0.1:1", paginator="type: DefaultPaginator")
    error = error_for(text, tmp_path)
    assert "DefaultPaginator is missing its required field 'pagination_strategy'" in str(error)
    assert error.path == "streams[0].retriever.paginator"


def test_wrong_value_type(tmp_path):
    text = modern("http://127.0.0.1:1", field_path="data")
    error = error_for(text, tmp_path)
    assert error.path == "streams[0].retriever.record_selector.extractor.field_path"
    assert "expected a list, found the string 'data'" in str(error)


def test_bad_reference(tmp_path):
    text = modern("http://127.0.0.1:1").replace(
        '$ref: "#/definitions/requester"', '$ref: "#/definitions/requestor"'
    )
    error = error_for(text, tmp_path)
    assert "points to nothing" in str(error) and error.suggestion == "requester"
    assert error.line == line_of(text, "requestor")


def test_cyclic_reference(tmp_path):
    text = modern("http://127.0.0.1:1") + 'loop_a: "#/loop_b"\nloop_b: "#/loop_a"\n'
    text = text.replace("definitions:\n", 'definitions:\n  x: "#/loop_a"\n', 1)
    assert "circular reference" in str(error_for(text, tmp_path))


def test_invalid_jinja_template(tmp_path):
    text = modern("http://127.0.0.1:1", path="/items/{{ config['x' }}")
    error = error_for(text, tmp_path)
    assert "invalid template" in str(error)
    assert error.path.endswith("requester.path")


def test_invalid_regex_names_its_path(tmp_path):
    text = modern(
        "http://127.0.0.1:1",
        error_handler="""
        type: DefaultErrorHandler
        backoff_strategies:
          - {type: WaitTimeFromHeader, header: Retry-After, regex: "([0-9]+"}
    """,
    )
    error = error_for(text, tmp_path)
    assert "invalid regex" in str(error) and "missing )" in str(error)
    assert error.path.endswith("backoff_strategies[0].regex")


def test_invalid_yaml_names_the_line(tmp_path):
    text = "version: 1\nstreams: [\n  - a\n"
    error = error_for(text, tmp_path)
    assert "invalid YAML" in str(error) and error.line is not None


def test_unsupported_component_is_refused_at_load_by_path(tmp_path):
    text = modern("http://127.0.0.1:1", authenticator="type: LegacySessionTokenAuthenticator")
    error = error_for(text, tmp_path)
    assert isinstance(error, UnsupportedComponentError)
    assert "LegacySessionTokenAuthenticator is not supported" in str(error)
    assert error.path == "streams[0].retriever.requester.authenticator"


def test_config_errors_name_the_key_and_never_the_secret(api_server):
    text = modern(
        api_server.url,
        spec_properties="""
        token: {type: string, airbyte_secret: true, pattern: "^[a-z]+$"}
        start: {type: string}
    """,
    ).replace("    properties:\n", "    required: [start]\n    properties:\n")
    source = load_source(text, {"token": "SUPER-Secret-123"})
    with pytest.raises(ConfigError) as caught:
        list(source.read_records("items"))
    assert "missing the required key 'start'" in str(caught.value)
    source = load_source(text, {"token": "SUPER-Secret-123", "start": "x"})
    with pytest.raises(ConfigError) as caught:
        source.discover()
    assert "'token'" in str(caught.value) and "SUPER-Secret-123" not in str(caught.value)


def test_template_reading_an_unknown_variable(tmp_path):
    text = modern("http://127.0.0.1:1", path="/items/{{ confg['x'] }}")
    error = error_for(text, tmp_path)
    assert "unknown variable 'confg'" in str(error)
    assert error.path.endswith("requester.path")
