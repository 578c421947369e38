"""What kind of value each field of a component holds, checked and described for errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import ManifestError
from engine.manifest.components import (
    ANY,
    BOOLEAN,
    INTEGER,
    LIST,
    MAPPING,
    SCALAR,
    STRING,
    Field,
)

KIND_NAMES = {
    SCALAR: "a string, number or boolean",
    STRING: "a string",
    INTEGER: "an integer",
    BOOLEAN: "true or false",
    MAPPING: "a mapping",
    LIST: "a list",
}


def check_kind(value: Any, field: Field, fail: Callable[[str, str], ManifestError]) -> None:
    ok = True
    if field.kind == SCALAR:
        ok = isinstance(value, (str, int, float, bool))
    elif field.kind == STRING:
        ok = isinstance(value, str)
    elif field.kind == INTEGER:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and "{{" in value
        )
    elif field.kind == BOOLEAN:
        ok = isinstance(value, bool) or (isinstance(value, str) and "{{" in value)
    elif field.kind == MAPPING:
        ok = isinstance(value, dict)
    elif field.kind == LIST:
        ok = isinstance(value, list) or (isinstance(value, str) and "{{" in value)
    if not ok and field.kind != ANY:
        raise fail(
            f"expected {KIND_NAMES[field.kind]}, found {describe(value)}", KIND_NAMES[field.kind]
        )


def expected_kind(field: Field) -> str:
    return KIND_NAMES.get(field.kind, "a " + (field.family or "value"))


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    return f"{type(value).__name__} {value!r}"
