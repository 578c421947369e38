"""Bad manifests fuzzed from a valid one: whatever Hypothesis does to it, loading and building end
in the project's error (ManifestError/EngineError with a path), never a raw traceback. Alias
bombs and huge documents are refused before they cost memory or time."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from manifests import modern

from engine import load_source
from engine.errors import EngineError, ManifestError
from engine.manifest import yaml_loader
from engine.manifest.yaml_loader import load_yaml_text

VALID = yaml.safe_load(
    modern(
        "http://127.0.0.1:9",
        paginator="""
type: DefaultPaginator
page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
pagination_strategy: {type: PageIncrement, page_size: 10}
""",
    )
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


# The spec's JSON schema is left out: an invalid schema still crashes jsonschema inside
# DeclarativeSource.validate_config (reported; see test_an_invalid_spec_schema_is_a_manifest_error).
PATHS = [path for path in _paths(VALID) if path[0] != "spec"]
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["{{", "{{ config['x'] ", "{% for %}", "{{ 1/0 }}", "#/nowhere", "*ref(x)"]),
    st.builds(lambda s: "{{ " + s + " }}", st.text(max_size=20)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.recursive(st.integers(), lambda inner: st.lists(inner, max_size=2), max_leaves=30),
)
MUTATION = st.tuples(st.sampled_from(["drop", "replace"]), st.sampled_from(PATHS), JUNK)


def _mutate(document: dict, mutations: list) -> dict:
    document = copy.deepcopy(document)
    for action, path, junk in mutations:
        parent: Any = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            if action == "drop" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = junk
        except (KeyError, IndexError, TypeError):
            continue
    return document


def _load_and_build(document: Any) -> None:
    try:
        source = load_source(document, {"token": "t"})
        source.streams  # noqa: B018 - building the streams is the point
        source.validate_config()
    except EngineError as error:
        assert str(error)
        if isinstance(error, ManifestError):
            assert error.path or error.line or error.file is None


@FUZZ
@given(st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_manifests_fail_with_the_projects_errors(mutations: list) -> None:
    _load_and_build(_mutate(VALID, mutations))


@FUZZ
@given(st.text(max_size=300))
def test_random_text_fails_with_the_projects_errors(text: str) -> None:
    with contextlib.suppress(ManifestError):
        load_yaml_text(text)


@settings(max_examples=8, deadline=None, database=None)
@given(st.integers(min_value=1, max_value=3000))
def test_deeply_nested_yaml_is_an_error_not_a_crash(depth: int) -> None:
    with contextlib.suppress(ManifestError):
        load_yaml_text("a: " + "[" * depth + "]" * depth)


def test_a_deeply_nested_mapping_is_a_manifest_error() -> None:
    nested: Any = {"type": "DeclarativeSource"}
    for _ in range(3000):
        nested = {"streams": [nested]}
    with pytest.raises(EngineError):
        load_source({**nested, "version": "6.0.0"}, {})


def _alias_bomb(levels: int, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_before_expansion() -> None:
    with pytest.raises(ManifestError, match="expands to more than"):
        load_yaml_text(_alias_bomb(10))


def test_a_manifest_with_an_alias_bomb_is_refused() -> None:
    text = (
        modern("http://127.0.0.1:9")
        + "bomb:\n"
        + "\n".join("  " + line for line in _alias_bomb(9).splitlines())
    )
    with pytest.raises(ManifestError, match="expands to more than"):
        load_source(text, {})


def test_modest_aliases_still_load() -> None:
    assert len(load_yaml_text(_alias_bomb(4))["a3"]) == 9


def test_recursive_aliases_are_an_error() -> None:
    with pytest.raises(ManifestError):
        load_yaml_text("a: &a [*a]\n")


def test_huge_documents_are_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_loader, "MAX_DOCUMENT_BYTES", 1000)
    with pytest.raises(ManifestError, match="larger than the 1,000 allowed"):
        load_yaml_text("a: " + "x" * 2000)
    real = yaml_loader.MAX_DOCUMENT_BYTES
    assert real <= 64 * 1024 * 1024


@pytest.mark.parametrize("broken", [{"type": None}, {"type": "object", "properties": 1}])
def test_an_invalid_spec_schema_is_a_manifest_error(broken: dict) -> None:
    document = copy.deepcopy(VALID)
    document["spec"]["connection_specification"] = broken
    with pytest.raises(EngineError):
        load_source(document, {"token": "t"}).validate_config()
