"""Loading: YAML, references of both dialects, parameter propagation, implicit types."""

from __future__ import annotations

import pytest

from engine import ManifestError, load_manifest
from engine.manifest.references import resolve_references
from engine.manifest.yaml_loader import load_yaml_text


def resolve(text: str):
    return resolve_references(load_yaml_text(text))


def test_anchors_and_merge_keys():
    doc = resolve("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n")
    assert doc["child"] == {"x": 1, "y": 3}


def test_legacy_dotted_reference_prefers_the_literal_key():
    doc = resolve(
        'definitions:\n  a.b: {v: literal}\n  a: {b: {v: nested}}\nx: "*ref(definitions.a.b)"\n'
    )
    assert doc["x"] == {"v": "literal"}


def test_legacy_reference_falls_back_to_nested_keys_and_list_items():
    doc = resolve(
        'd:\n  a: {b: {v: 1}}\n  l: [{i: 0}, {i: 1}]\nx: "*ref(d.a.b.v)"\ny: "*ref(d.l[1])"\n'
    )
    assert doc["x"] == 1 and doc["y"] == {"i": 1}


def test_ref_overlay_is_shallow():
    doc = resolve(
        "base: {requester: {path: /a, method: GET}, name: n}\n"
        'child: {$ref: "#/base", requester: {path: /b}}\n'
    )
    assert doc["child"] == {"requester": {"path": "/b"}, "name": "n"}


def test_forward_references_and_references_through_references():
    doc = resolve('x: "#/later/inner"\nlater: {$ref: "#/base"}\nbase: {inner: 5}\n')
    assert doc["x"] == 5


def test_pointer_with_literal_slash_key_and_list_index():
    doc = resolve('d: {"a/b": 1, l: [10, 20]}\nx: "#/d/a/b"\ny: "#/d/l/1"\n')
    assert doc["x"] == 1 and doc["y"] == 20


def test_cycles_are_reported_with_their_chain():
    with pytest.raises(ManifestError, match=r"circular reference: #/[ab] -> #/[ab] -> #/[ab]"):
        resolve('a: "#/b"\nb: "#/a"\n')


def test_missing_reference_names_the_missing_key_and_suggests():
    with pytest.raises(ManifestError) as caught:
        resolve('definitions: {requester: {}}\nx: "#/definitions/requestr"\n')
    assert "definitions/requestr" in str(caught.value)
    assert caught.value.suggestion == "requester"


LEGACY = """
version: "0.1.0"
definitions:
  requester:
    url_base: "https://api.test"
    path: "/{{ options['name'] }}"
streams:
  - $options:
      name: users
      primary_key: id
      field_pointer: [items]
    retriever:
      requester: "*ref(definitions.requester)"
      record_selector:
        extractor:
          field_pointer: [explicit]
check:
  stream_names: [users]
"""


def test_legacy_options_fill_fields_but_explicit_values_win():
    stream = load_manifest(LEGACY).definition["streams"][0]
    assert stream["type"] == "DeclarativeStream"
    assert stream["name"] == "users" and stream["primary_key"] == "id"
    retriever = stream["retriever"]
    assert retriever["type"] == "SimpleRetriever"
    assert retriever["requester"]["type"] == "HttpRequester"
    assert retriever["requester"]["$parameters"]["name"] == "users"
    assert retriever["record_selector"]["extractor"]["field_path"] == ["explicit"]
    assert retriever["requester"]["path_join"] == "trimmed_path"


MODERN = """
version: 6.0.0
type: DeclarativeSource
check: {type: CheckStream, stream_names: [users]}
streams:
  - type: DeclarativeStream
    $parameters: {name: users, path: /users, primary_key: ""}
    primary_key: ""
    retriever:
      type: SimpleRetriever
      requester: {type: HttpRequester, url_base: "https://api.test", path: ""}
      record_selector: {extractor: {field_path: []}}
"""


def test_modern_parameters_replace_falsy_fields_and_types_are_implicit():
    stream = load_manifest(MODERN).definition["streams"][0]
    requester = stream["retriever"]["requester"]
    assert requester["path"] == "/users"  # "" is falsy, so the parameter fills it
    assert stream["retriever"]["record_selector"]["type"] == "RecordSelector"
    assert stream["retriever"]["record_selector"]["extractor"]["type"] == "DpathExtractor"
    assert stream["retriever"]["paginator"]["type"] if "paginator" in stream["retriever"] else True


def test_json_schemas_are_never_taken_for_components():
    text = (
        MODERN
        + "    schema_loader:\n      type: InlineSchemaLoader\n"
        + "      schema: {type: object, properties: {type: {type: string}}}\n"
    )
    stream = load_manifest(text).definition["streams"][0]
    assert stream["schema_loader"]["schema"]["properties"] == {"type": {"type": "string"}}


def test_legacy_stream_slicer_is_split_into_cursor_and_router():
    text = LEGACY.replace(
        '      requester: "*ref(definitions.requester)"',
        '      requester: "*ref(definitions.requester)"\n'
        "      stream_slicer:\n"
        "        type: CartesianProductStreamSlicer\n"
        "        stream_slicers:\n"
        "          - type: ListStreamSlicer\n"
        "            slice_values: [a, b]\n"
        "            cursor_field: repo\n"
        "          - type: DatetimeStreamSlicer\n"
        "            start_datetime: 2022-01-01T00:00:00Z\n"
        "            end_datetime: 2022-01-03T00:00:00Z\n"
        "            step: 1d\n"
        "            cursor_field: updated_at\n"
        "            datetime_format: '%Y-%m-%dT%H:%M:%SZ'\n",
    )
    stream = load_manifest(text).definition["streams"][0]
    assert stream["incremental_sync"]["type"] == "DatetimeBasedCursor"
    assert stream["incremental_sync"]["date_rules"] == "text_cursor_day_windows"
    router = stream["retriever"]["partition_router"]
    assert router["type"] == "ListPartitionRouter" and router["values"] == ["a", "b"]
    assert "stream_slicer" not in stream["retriever"]


def test_dialect_detection_by_version():
    assert "path_join" in load_manifest(LEGACY).definition["streams"][0]["retriever"]["requester"]
    early_modern = MODERN.replace("type: DeclarativeSource\n", "").replace("6.0.0", '"0.29.0"')
    requester = load_manifest(early_modern).definition["streams"][0]["retriever"]["requester"]
    assert "path_join" not in requester


def test_reference_bombs_are_refused_quickly():
    levels = ["l0: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for n in range(1, 10):
        refs = ", ".join(f'k{i}: "#/l{n - 1}"' for i in range(9))
        levels.append(f"l{n}: {{{refs}}}")
    with pytest.raises(ManifestError, match="references expand the manifest"):
        resolve("\n".join(levels) + "\n")


def test_deep_nesting_is_a_manifest_error():
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ManifestError):
        resolve(text)


def test_the_digest_follows_the_resolved_definition_not_its_spelling():
    def spec(**properties: object) -> dict:
        return {"type": "Spec", "connection_specification": {"properties": properties}}

    base = {"version": "6.0.0", "streams": [], "check": {"stream_names": []}}
    first = load_manifest({**base, "spec": spec(a={"type": "string"}, b={"type": "integer"})})
    reordered = load_manifest({**base, "spec": spec(b={"type": "integer"}, a={"type": "string"})})
    changed = load_manifest({**base, "spec": spec(a={"type": "string"}, b={"type": "number"})})
    assert first.digest == reordered.digest != changed.digest
    assert len(first.digest) == 16
