"""A config that satisfies a connector's spec, generated from its JSON schema (for corpus tests).

Dates are a few days before today, so date-sliced streams read a handful of windows instead of
years of them; strings honour the schema's ``pattern`` when one of the usual shapes fits it.
"""

from __future__ import annotations

import datetime as dt
import re
import re._parser as sre_parse
from typing import Any

_RECENT = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=3)
_DATE_TIME = _RECENT.strftime("%Y-%m-%dT%H:%M:%SZ")
_DATE = _RECENT.strftime("%Y-%m-%d")
_BY_FORMAT = {
    "date-time": _DATE_TIME,
    "date": _DATE,
    "email": "a@example.test",
    "uri": "http://127.0.0.1:9",
}
# Shapes tried, in order, against a string's pattern.
_SHAPES = (
    _DATE_TIME,
    _DATE,
    _RECENT.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    _RECENT.strftime("%Y-%m-%dT%H:%M:%S"),
    _RECENT.strftime("%Y-%m-%d %H:%M:%S"),
    _RECENT.strftime("%Y-%m"),
    "1",
    "test",
    "test-value",
    "https://test.example.test",
)


def _is_date_key(key: str) -> bool:
    return "date" in key or "time" in key


def value_for(schema: Any, key: str = "") -> Any:
    if not isinstance(schema, dict):
        return "x"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
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
    if "default" in schema and _fits(schema["default"], kind):
        return schema["default"]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    return _string(schema, key)


def _fits(value: object, kind: object) -> bool:
    """Whether a spec's default has the spec's own type (some published specs disagree)."""
    expected = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
    return not isinstance(kind, str) or kind not in expected or isinstance(value, expected[kind])


def _string(schema: dict, key: str) -> str:
    dated = schema.get("format") in ("date", "date-time") or _is_date_key(key)
    candidates = [] if dated else [str(e) for e in schema.get("examples") or []]
    if schema.get("format") in _BY_FORMAT:
        candidates.append(_BY_FORMAT[schema["format"]])
    if dated:
        candidates.append(_DATE_TIME)
    candidates += [*_SHAPES, f"test-{key or 'value'}"]
    pattern = schema.get("pattern")
    if pattern:
        fitting = [c for c in candidates if re.search(pattern, c)]
        candidates = fitting or [_matching(pattern)]
    if not pattern:
        candidates.insert(0 if not dated else len(candidates), f"test-{key or 'value'}")
        if dated:
            return _BY_FORMAT.get(schema.get("format", ""), _DATE_TIME)
    return candidates[0]


def _matching(pattern: str) -> str:
    """The shortest plain string a regular expression accepts (first branch, fewest repeats)."""

    def render(parsed: Any) -> str:
        out = []
        for op, arg in parsed:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(arg))
            elif name == "IN":
                first = next((a for a in arg if str(a[0]) in ("LITERAL", "RANGE")), None)
                code = (
                    97 if first is None else first[1] if str(first[0]) == "LITERAL" else first[1][0]
                )
                out.append(chr(code))
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                out.append(render(arg[2]) * max(arg[0], 1))
            elif name == "SUBPATTERN":
                out.append(render(arg[-1]))
            elif name == "BRANCH":
                out.append(render(arg[1][0]))
            elif name == "ANY":
                out.append("a")
            elif name == "CATEGORY":
                out.append("1" if "DIGIT" in str(arg) else " " if "SPACE" in str(arg) else "a")
        return "".join(out)

    return render(sre_parse.parse(pattern))


def config_for(spec: dict) -> dict:
    config = value_for(spec.get("connection_specification") or {"type": "object"})
    return config if isinstance(config, dict) else {}
