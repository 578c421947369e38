"""``schema_normalization: Default``, read end to end from a real server.

Each test serves one page of records and reads it with a manifest whose stream has an inline
JSON schema and a record selector with ``schema_normalization: Default``; the expected values
are those the reference runner's TypeTransformer gives, types included.
"""

from __future__ import annotations

import orjson
from manifests import modern
from support.api_server import Response
from test_read_components import read

from engine import load_manifest

_SCHEMA_LINE = "schema: {type: object, properties: {id: {type: integer}}}"


def manifest(api_server, records: list[dict], schema: dict, *, normalize: bool = True) -> str:
    """A manifest reading the served ``records`` with ``schema`` (normalised, by default)."""
    api_server.add_route("GET", "/items", lambda request: Response(200, {"data": records}))
    text = modern(api_server.url).replace(_SCHEMA_LINE, f"schema: {orjson.dumps(schema).decode()}")
    if normalize:
        text = text.replace(
            "        extractor:", "        schema_normalization: Default\n        extractor:"
        )
    return text


def normalized(api_server, records: list[dict], schema: dict, *, normalize: bool = True) -> list:
    return read(manifest(api_server, records, schema, normalize=normalize))


def typed(value: object) -> object:
    """``value`` with the Python type of every leaf, so that 1 and 1.0 and True differ."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def obj(**properties: dict) -> dict:
    return {"type": "object", "properties": properties}


def test_top_level_values_are_cast_and_failed_casts_are_left_alone(api_server):
    schema = obj(
        id={"type": "integer"},
        price={"type": "number"},
        code={"type": ["null", "string"]},
        name={"type": "string"},
        bad={"type": "integer"},
    )
    records = [
        {"id": "1", "price": "9.5", "code": 12, "name": "n", "free": "x", "bad": "abc"},
        {"id": 2, "price": 3, "code": None, "name": 1.5, "free": 1, "bad": 4.7},
    ]
    assert typed(normalized(api_server, records, schema)) == typed(
        [
            {"id": 1, "price": 9.5, "code": "12", "name": "n", "free": "x", "bad": "abc"},
            {"id": 2, "price": 3.0, "code": None, "name": "1.5", "free": 1, "bad": 4},
        ]
    )


def test_booleans_from_words_and_from_truth(api_server):
    schema = obj(**{key: {"type": ["boolean", "null"]} for key in "abcdefgh"})
    records = [
        {"a": "true", "b": "False", "c": " YES ", "d": "off", "e": "maybe", "f": 0, "g": 2},
        {"a": "1", "b": "n", "c": None, "d": True, "h": []},
    ]
    assert typed(normalized(api_server, records, schema)) == typed(
        [
            {"a": True, "b": False, "c": True, "d": False, "e": "maybe", "f": False, "g": True},
            {"a": True, "b": False, "c": None, "d": True, "h": False},
        ]
    )


def test_nested_objects_and_arrays_of_objects_are_walked(api_server):
    schema = obj(
        id={"type": "integer"},
        owner=obj(age={"type": ["null", "integer"]}, address=obj(zip={"type": "string"})),
        lines={
            "type": ["null", "array"],
            "items": obj(qty={"type": "integer"}, price={"type": "number"}),
        },
        tags={"type": "array", "items": {"type": "string"}},
        matrix={"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    )
    records = [
        {
            "id": "7",
            "owner": {"age": "36", "address": {"zip": 75001, "city": "Paris"}},
            "lines": [{"qty": "2", "price": "1.25"}, {"qty": "x", "price": 4}],
            "tags": [1, "a", True],
            "matrix": [["1", "2"], ["3"]],
        },
        {"id": 8, "owner": {"age": None, "address": None}, "lines": None, "tags": []},
    ]
    assert typed(normalized(api_server, records, schema)) == typed(
        [
            {
                "id": 7,
                "owner": {"age": 36, "address": {"zip": "75001", "city": "Paris"}},
                "lines": [{"qty": 2, "price": 1.25}, {"qty": "x", "price": 4.0}],
                "tags": ["1", "a", "True"],
                "matrix": [[1, 2], [3]],
            },
            {"id": 8, "owner": {"age": None, "address": None}, "lines": None, "tags": []},
        ]
    )


def test_null_where_the_type_does_not_allow_it(api_server):
    """The reference runner's casts applied to None: kept by number casts, str() by string."""
    schema = obj(
        n={"type": "integer"},
        s={"type": "string"},
        b={"type": "boolean"},
        a={"type": "array"},
        ns={"type": ["string", "null"]},
    )
    records = [{"n": None, "s": None, "b": None, "a": None, "ns": None}]
    assert typed(normalized(api_server, records, schema)) == typed(
        [{"n": None, "s": "None", "b": False, "a": [None], "ns": None}]
    )


def test_a_lone_scalar_becomes_a_list_only_when_items_name_a_type_list(api_server):
    schema = obj(
        listed={"type": "array", "items": {"type": ["null", "integer"]}},
        untyped={"type": "array", "items": {}},
        named={"type": "array", "items": {"type": "integer"}},
        objects={"type": "array", "items": {"type": ["object"]}},
    )
    records = [{"listed": "5", "untyped": "x", "named": "5", "objects": "5"}]
    assert typed(normalized(api_server, records, schema)) == typed(
        [{"listed": [5], "untyped": ["x"], "named": "5", "objects": "5"}]
    )


def test_several_types_or_none_cast_nothing(api_server):
    schema = obj(
        either={"type": ["integer", "string"]},
        untyped={},
        combined={"anyOf": [{"type": "integer"}]},
    )
    records = [{"either": "1", "untyped": "1", "combined": "1"}]
    assert typed(normalized(api_server, records, schema)) == typed(
        [{"either": "1", "untyped": "1", "combined": "1"}]
    )


def test_refs_of_a_schema_file_are_followed_recursively(api_server, tmp_path):
    """A schema file keeps its own ``$ref``s (an inline schema's are the manifest's references)."""
    schema = {
        "type": "object",
        "definitions": {
            "count": {"type": "integer"},
            "node": {
                "type": "object",
                "properties": {
                    "size": {"$ref": "#/definitions/count"},
                    "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
                },
            },
        },
        "properties": {
            "id": {"$ref": "#/definitions/count"},
            "tree": {"$ref": "#/definitions/node"},
        },
    }
    records = [
        {"id": "1", "tree": {"size": "3", "children": [{"size": "1", "children": [{"size": "0"}]}]}}
    ]
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "items.json").write_bytes(orjson.dumps(schema))
    loader = "type: JsonFileSchemaLoader\n      file_path: ./schemas/items.json"
    text = manifest(api_server, records, {}).replace(
        "type: InlineSchemaLoader\n      schema: {}", loader
    )
    (tmp_path / "manifest.yaml").write_text(text)
    assert typed(read(tmp_path / "manifest.yaml")) == typed(
        [{"id": 1, "tree": {"size": 3, "children": [{"size": 1, "children": [{"size": 0}]}]}}]
    )


def test_values_of_the_wrong_shape_are_not_walked(api_server):
    schema = obj(
        owner=obj(age={"type": "integer"}),
        lines={"type": "array", "items": obj(qty={"type": "integer"})},
    )
    records = [{"owner": ["36"], "lines": {"qty": "2"}}]
    assert normalized(api_server, records, schema) == records


def test_without_schema_normalization_values_are_untouched(api_server):
    schema = obj(id={"type": "integer"}, flag={"type": "boolean"})
    records = [{"id": "1", "flag": "true"}]
    assert normalized(api_server, records, schema, normalize=False) == records


def test_an_untyped_state_migration_is_a_legacy_to_per_partition_one():
    text = modern("http://127.0.0.1:9", extra_stream="state_migrations:\n  - {}")
    (stream,) = load_manifest(text).stream_definitions
    assert stream["state_migrations"][0]["type"] == "LegacyToPerPartitionStateMigration"
