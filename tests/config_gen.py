"""A config that satisfies a connector's spec, generated from its JSON schema (for corpus tests)."""

from __future__ import annotations

from typing import Any

_BY_FORMAT = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "email": "a@example.test",
    "uri": "http://127.0.0.1:9",
}


def value_for(schema: Any, key: str = "") -> Any:
    if not isinstance(schema, dict):
        return "x"
    for keyword in ("const", "default"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("examples"):
        return schema["examples"][0]
    for keyword in ("oneOf", "anyOf"):
        if schema.get(keyword):
            return value_for(schema[keyword][0], key)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: value_for(v, k) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [value_for(schema.get("items") or {"type": "string"}, key)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if schema.get("format") in _BY_FORMAT:
        return _BY_FORMAT[schema["format"]]
    if "date" in key or "time" in key:
        return "2024-01-01T00:00:00Z"
    return f"test-{key or 'value'}"


def config_for(spec: dict) -> dict:
    config = value_for(spec.get("connection_specification") or {"type": "object"})
    return config if isinstance(config, dict) else {}
