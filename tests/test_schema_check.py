"""The schema check's verdicts: the compiled validator only speeds it up, jsonschema decides."""

from __future__ import annotations

import dagster as dg

from dagster_declarative.checks import evaluation
from engine import SchemaCheck

SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": ["null", "string"]}},
    "required": ["id"],
}


def _verdict(schema: dict, records: list[dict]) -> dict:
    checker = SchemaCheck(schema)
    checker.observe(records[:1])
    checker.observe(records[1:])
    result = evaluation(checker.take(), dg.AssetKey("items"), None, None)
    return {key: value.value for key, value in result.metadata.items()} | {"passed": result.passed}


def test_violations_are_counted_with_examples_naming_the_field() -> None:
    records = [{"id": 1, "name": "a"}, {"id": "2"}, {"name": None}, {"id": 3, "name": 4}]
    assert _verdict(SCHEMA, records) == {
        "records_checked": 4,
        "violations": 3,
        "examples": ["id: fails 'type'", "<record>: fails 'required'", "name: fails 'type'"],
        "passed": False,
    }


def test_each_take_counts_the_records_observed_since_the_last() -> None:
    """A run's units (partitions) are judged one after another by one compiled schema, and
    each verdict holds its own records' counts and examples only."""
    checker = SchemaCheck(SCHEMA)
    checker.observe([{"id": "1"}, {"id": 2}])
    first = checker.take()
    checker.observe([{"id": 3}])
    second = checker.take()
    assert (first.records, first.violations, first.examples) == (2, 1, ["id: fails 'type'"])
    assert (second.records, second.violations, second.examples) == (1, 0, [])


def test_what_jsonschema_accepts_is_no_violation() -> None:
    """Integers beyond 64 bits, formats (unchecked), and values JSON has no type for."""
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}},
    }
    records = [{"n": 1 << 70}, {"at": "not a date"}, {"extra": {1, 2}}, {"n": 2.0}]
    assert _verdict(schema, records)["violations"] == 0


def test_a_schema_the_compiled_validator_refuses_is_checked_by_jsonschema_alone() -> None:
    """A reference it cannot resolve offline: jsonschema judges every record (and fails the
    same way the check always did when the schema names what it cannot find)."""
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "definitions": {"unused": {"$ref": "https://example.invalid/remote.json"}},
    }
    assert _verdict(schema, [{"id": 1}, {"id": "x"}])["violations"] == 1
