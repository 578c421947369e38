"""Record transformations, read end to end from a real server (normalisation: test_normalization).

Every test serves one page of hand-written records, runs a modern manifest whose stream carries
the transformation under test, and compares the records that come out, value by value.
"""

from __future__ import annotations

import textwrap

import pytest
from manifests import modern
from support.api_server import Response
from test_read_components import read

from engine import ManifestError


def serve(api_server, records: list[dict]) -> None:
    api_server.add_route("GET", "/items", lambda request: Response(200, {"data": records}))


def manifest(url: str, transformations: str = "") -> str:
    """A one-stream manifest with ``transformations`` (a YAML list) on its stream."""
    extra = ""
    if transformations:
        extra = "transformations:\n" + textwrap.indent(textwrap.dedent(transformations), "  ")
    return modern(url, extra_stream=extra)


def transformed(api_server, records: list[dict], transformations: str) -> list[dict]:
    serve(api_server, records)
    return read(manifest(api_server.url, transformations))


# -- key renaming --------------------------------------------------------------------------------


def test_keys_to_lower_renames_top_level_keys_only(api_server):
    records = [{"ID": 1, "UserName": "ada", "Meta": {"InnerKey": True}}]
    assert transformed(api_server, records, "- type: KeysToLower") == [
        {"id": 1, "username": "ada", "meta": {"InnerKey": True}}
    ]


def test_keys_to_snake_case(api_server):
    records = [
        {
            "id": 1,
            "firstName": "Ada",
            "HTTPStatusCode": 200,
            "last name": "Lovelace",
            "e-mail": "a@example.test",
            "2fa": False,
        }
    ]
    assert transformed(api_server, records, "- type: KeysToSnakeCase") == [
        {
            "id": 1,
            "first_name": "Ada",
            "http_status_code": 200,
            "last_name": "Lovelace",
            "e_mail": "a@example.test",
            "_2fa": False,
        }
    ]


def test_keys_replace_renames_nested_keys_too(api_server):
    records = [
        {"id": 1, "user.name": "ada", "user.meta": {"created.at": "2024", "n": [{"a.b": 1}]}}
    ]
    transformations = '- {type: KeysReplace, old: ".", new: "_"}'
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "user_name": "ada", "user_meta": {"created_at": "2024", "n": [{"a_b": 1}]}}
    ]


# -- flattening ----------------------------------------------------------------------------------


def test_flatten_fields_lifts_leaves_and_numbers_list_items(api_server):
    records = [{"id": 1, "address": {"city": "Paris", "geo": {"lat": 48.8}}, "tags": ["a", "b"]}]
    assert transformed(api_server, records, "- type: FlattenFields") == [
        {"id": 1, "city": "Paris", "lat": 48.8, "tags.0": "a", "tags.1": "b"}
    ]


def test_flatten_fields_names_a_clashing_leaf_by_its_path(api_server):
    records = [{"id": 1, "owner": {"id": 7, "name": "ada"}}]
    assert transformed(api_server, records, "- type: FlattenFields") == [
        {"id": 1, "owner.id": 7, "name": "ada"}
    ]


def test_flatten_fields_can_keep_lists(api_server):
    records = [{"id": 1, "address": {"city": "Paris"}, "tags": ["a", {"b": 2}]}]
    transformations = "- {type: FlattenFields, flatten_lists: false}"
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "city": "Paris", "tags": ["a", {"b": 2}]}
    ]


def test_dpath_flatten_fields_merges_the_object_into_the_record(api_server):
    records = [{"id": 1, "attributes": {"name": "ada", "age": 36}}]
    transformations = "- {type: DpathFlattenFields, field_path: [attributes]}"
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "attributes": {"name": "ada", "age": 36}, "name": "ada", "age": 36}
    ]


def test_dpath_flatten_fields_deletes_the_origin_and_renames_keys(api_server):
    records = [{"id": 1, "data": {"attributes": {"name": "ada"}, "kind": "user"}}]
    transformations = """
        - type: DpathFlattenFields
          field_path: [data, attributes]
          delete_origin_value: true
          key_transformation: {type: KeyTransformation, prefix: "attr_", suffix: "_v"}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "data": {"kind": "user"}, "attr_name_v": "ada"}
    ]


def test_dpath_flatten_fields_leaves_a_clashing_record_alone(api_server):
    records = [{"id": 1, "attributes": {"id": 10, "name": "ada"}}]
    transformations = """
        - {type: DpathFlattenFields, field_path: [attributes], delete_origin_value: true}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "attributes": {"id": 10, "name": "ada"}}
    ]


def test_dpath_flatten_fields_can_replace_the_record(api_server):
    records = [
        {"id": 1, "attributes": {"id": 10, "name": "ada"}},
        {"id": 2, "attributes": None},
        {"id": 3, "attributes": {}},
    ]
    transformations = """
        - {type: DpathFlattenFields, field_path: [attributes], replace_record: true}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 10, "name": "ada"},
        {"id": 2, "attributes": None},  # nothing to flatten: the record is left as it was
        {"id": 3, "attributes": {}},
    ]


def test_dpath_flatten_fields_path_and_affixes_are_templates(api_server):
    serve(api_server, [{"id": 1, "data": {"attributes": {"name": "ada"}}}])
    transformations = """
        - type: DpathFlattenFields
          field_path: ["{{ config['root'] }}", "{{ parameters['group'] }}"]
          key_transformation: {prefix: "{{ parameters['group'] }}_", suffix: "{{ config['tag'] }}"}
          delete_origin_value: true
          $parameters: {group: attributes}
    """
    config = {"root": "data", "tag": "_v1"}
    assert read(manifest(api_server.url, transformations), config) == [
        {"id": 1, "data": {}, "attributes_name_v1": "ada"}
    ]


def test_dpath_flatten_fields_star_flattens_the_first_match_and_deletes_every_match(api_server):
    records = [
        {"id": 1, "a": {"x": {"one": 1}}, "b": {"x": {"two": 2}}, "c": {"y": 3}},
        {"id": 2, "a": {"x": None}, "b": {"x": {"two": 2}}},  # the first match is no object
    ]
    transformations = """
        - {type: DpathFlattenFields, field_path: ['*', x], delete_origin_value: true}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "a": {}, "b": {}, "c": {"y": 3}, "one": 1},
        {"id": 2, "a": {"x": None}, "b": {"x": {"two": 2}}},
    ]


def test_dpath_flatten_fields_star_over_list_items(api_server):
    records = [{"id": 1, "parts": [{"meta": {"size": 3}}, {"meta": {"size": 4}}, {"other": 0}]}]
    transformations = """
        - {type: DpathFlattenFields, field_path: [parts, '*', meta], delete_origin_value: true}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "parts": [{}, {}, {"other": 0}], "size": 3}
    ]


def test_dpath_flatten_fields_list_index_and_replace_record(api_server):
    records = [{"id": 1, "versions": [{"v": 1}, {"v": 2, "id": 7}]}]
    transformations = """
        - {type: DpathFlattenFields, field_path: [versions, "-1"], replace_record: true}
    """
    assert transformed(api_server, records, transformations) == [{"v": 2, "id": 7}]


def test_dpath_flatten_fields_with_an_empty_path_is_a_manifest_error(api_server):
    serve(api_server, [{"id": 1}])
    text = manifest(api_server.url, "- {type: DpathFlattenFields, field_path: []}")
    with pytest.raises(ManifestError, match=r"transformations\[0\].*field_path is empty"):
        read(text)


# -- AddFields -----------------------------------------------------------------------------------


def test_add_fields_value_type_casts_the_rendered_value(api_server):
    records = [{"id": 1, "count": "42", "ratio": "0.5", "flag": "true", "code": 7}]
    transformations = """
        - type: AddFields
          fields:
            - {path: [as_integer], value: "{{ record['count'] }}", value_type: integer}
            - {path: [as_number], value: "{{ record['ratio'] }}", value_type: number}
            - {path: [whole_number], value: "{{ record['count'] }}", value_type: number}
            - {path: [as_boolean], value: "{{ record['flag'] }}", value_type: boolean}
            - {path: [as_string], value: "{{ record['code'] }}", value_type: string}
            - {path: [untyped], value: "{{ record['code'] }}"}
    """
    [record] = transformed(api_server, records, transformations)
    assert record["as_integer"] == 42 and type(record["as_integer"]) is int
    assert record["as_number"] == 0.5 and type(record["as_number"]) is float
    assert record["whole_number"] == 42.0 and type(record["whole_number"]) is float
    assert record["as_boolean"] is True
    assert record["as_string"] == "7"
    assert record["untyped"] == 7  # without value_type the literal is coerced


def test_add_fields_condition_decides_per_record(api_server):
    records = [{"id": 1, "kind": "vip"}, {"id": 2, "kind": "basic"}]
    transformations = """
        - type: AddFields
          condition: "{{ record['kind'] == 'vip' }}"
          fields:
            - {path: [meta, priority], value: "high"}
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "kind": "vip", "meta": {"priority": "high"}},
        {"id": 2, "kind": "basic"},
    ]


# -- RemoveFields --------------------------------------------------------------------------------


def test_remove_fields_with_a_star_glob(api_server):
    records = [
        {
            "id": 1,
            "owner": {"secret": "s1", "name": "ada"},
            "team": {"secret": "s2"},
            "secret": "top",
        }
    ]
    transformations = "- {type: RemoveFields, field_pointers: [['*', secret]]}"
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "owner": {"name": "ada"}, "team": {}, "secret": "top"}
    ]


def test_remove_fields_with_a_double_star_glob_reaches_every_depth(api_server):
    records = [{"id": 1, "token": "t", "a": {"token": "t", "b": [{"token": "t", "keep": 1}]}}]
    transformations = "- {type: RemoveFields, field_pointers: [['**', token]]}"
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "a": {"b": [{"keep": 1}]}}
    ]


def test_remove_fields_condition_removes_only_matching_properties(api_server):
    records = [{"id": 1, "empty": None, "name": "ada", "nested": {"gone": None, "kept": 0}}]
    transformations = """
        - type: RemoveFields
          field_pointers: [["**"]]
          condition: "{{ property is none }}"
    """
    assert transformed(api_server, records, transformations) == [
        {"id": 1, "name": "ada", "nested": {"kept": 0}}
    ]
