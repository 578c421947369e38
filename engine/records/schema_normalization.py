"""``schema_normalization: Default``: record values cast to the types the stream's schema declares.

A module of its own because the rules are the reference runner's (the CDK's ``TypeTransformer``
with its default conversion), quirks included, so that a normalised record comes out as it does
there, and because they run on every record of such a stream: the schema is compiled once per
stream into a plan (which properties and items to visit, which cast each one gets), and a record
then costs the dictionary lookups its schema asks for, never a schema walk.

The rules, applied in place:

* ``properties`` (of an object value), ``items`` (of an array value) and ``$ref`` (local JSON
  pointers) are followed, in the order the schema lists them, at any depth; ``anyOf``,
  ``oneOf``, ``allOf``, ``additionalProperties`` and ``patternProperties`` are not;
* a value is cast to the one type its schema names, ``"null"`` aside: ``["null", "integer"]``
  casts to integer; several types, or none, cast nothing; then its own properties or items are
  visited;
* None stays None where the type allows null;
* ``integer``: ``int(value)`` (``"12"`` -> 12, ``12.7`` -> 12, ``True`` -> 1); ``number``:
  ``float(value)`` (``3`` -> 3.0); ``string``: ``str(value)`` (``12`` -> ``"12"``, ``True`` ->
  ``"True"``, None where null is not allowed -> ``"None"``); ``boolean``: a string is read as
  y/yes/t/true/on/1 or n/no/f/false/off/0 in any case, any other value by its truth;
  ``array``: a lone scalar becomes a one-item list when ``items`` names a list of simple types
  (or no type);
* a cast that fails leaves the value as it was (``"abc"`` stays ``"abc"`` under integer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

Record = dict[str, Any]
Step = Callable[[Any], None]
# A cast: values of exactly its type are already right and left alone (no call); others go
# through its function.
Cast = tuple[type, Callable[[Any], Any]]

_SIMPLE_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})
_SIMPLE_VALUES = (str, float, int, bool, type(None))
_TRUE = frozenset({"y", "yes", "t", "true", "on", "1"})
_FALSE = frozenset({"n", "no", "f", "false", "off", "0"})
_CAST_ERRORS = (TypeError, ValueError, OverflowError)


def normalizer(load_schema: Callable[[], Mapping[str, Any]]) -> Callable[[Record], Record]:
    """The normalising function of one stream; its schema is loaded and compiled on first use."""
    plan: list[Step] | None = None

    def normalize(record: Record) -> Record:
        nonlocal plan
        if plan is None:
            schema = load_schema()
            plan = _Compiler(schema).steps(schema) if isinstance(schema, Mapping) else []
        for step in plan:
            step(record)
        return record

    return normalize


class _Compiler:
    """Turns a schema into steps; shared and recursive ``$ref`` targets are compiled once."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root
        self._compiled: dict[int, list[Step]] = {}
        self._compiling: set[int] = set()

    def steps(self, schema: Mapping[str, Any]) -> list[Step]:
        known = self._compiled.get(id(schema))
        if known is not None:
            return known
        steps: list[Step] = []
        self._compiled[id(schema)] = steps  # registered first: a $ref cycle finds it
        self._compiling.add(id(schema))
        for keyword, value in schema.items():
            if keyword == "properties" and isinstance(value, Mapping):
                subs = [(str(name), sub) for name, sub in value.items() if isinstance(sub, Mapping)]
                casts = {name: cast for name, sub in subs if (cast := self._cast(sub)) is not None}
                walks = {name: walk for name, sub in subs if (walk := self._walk(sub)) is not None}
                if casts or walks:
                    steps.append(_visit_properties(casts, walks))
            elif keyword == "items" and isinstance(value, Mapping):
                cast, walk = self._cast(value), self._walk(value)
                if cast is not None or walk is not None:
                    steps.append(_visit_items(cast, walk))
            elif keyword == "$ref":
                target = self._lookup(value)
                if target is not None and (walk := self._walk(target)) is not None:
                    steps.append(_follow(walk))
        self._compiling.discard(id(schema))
        return steps

    def _walk(self, schema: Mapping[str, Any]) -> list[Step] | None:
        """The steps of ``schema`` if it has any (a schema still being compiled will have)."""
        steps = self.steps(schema)
        return steps if steps or id(schema) in self._compiling else None

    def _cast(self, schema: Mapping[str, Any]) -> Cast | None:
        """The cast of a value under ``schema`` (the target of its ``$ref``, if it has one)."""
        if "$ref" in schema:
            schema = self._lookup(schema["$ref"]) or schema
        declared = schema.get("type")
        if isinstance(declared, list):
            nullable = "null" in declared
            named = [kind for kind in declared if kind != "null"]
            if len(named) != 1:
                return None
            declared = named[0]
        else:
            nullable = declared == "null"
        if declared == "string":
            return _to_string(nullable)
        if declared == "boolean":
            return _to_boolean(nullable)
        if declared == "array":
            return _to_array(nullable, _wraps_scalars(schema.get("items", {})))
        return _NUMBER_CASTS.get(declared) if isinstance(declared, str) else None

    def _lookup(self, reference: Any) -> Mapping[str, Any] | None:
        """The schema a local reference (``#/definitions/x``) points to; None when it is not one."""
        if not isinstance(reference, str) or not reference.startswith("#"):
            return None
        node: Any = self._root
        for part in unquote(reference[1:]).split("/")[1:]:
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node if isinstance(node, Mapping) else None


def _wraps_scalars(items: Any) -> bool:
    """Whether an array schema takes a lone scalar as a one-item list, as the reference runner
    decides it: when the set of ``items.type`` holds only simple types. A type written as a
    plain string counts as the set of its letters there, so ``items: {type: string}`` wraps
    nothing; ``items: {type: [string]}`` or no ``items`` type does."""
    if not isinstance(items, Mapping):
        return False
    try:
        return set(items.get("type", ())) <= _SIMPLE_TYPES
    except TypeError:
        return False


def _visit_properties(casts: dict[str, Cast], walks: dict[str, list[Step]]) -> Step:
    """Casts an object's properties, then walks those whose schema has steps of its own."""
    cast_items = tuple(casts.items())
    walk_items = tuple(walks.items())

    def visit(value: Any) -> None:
        if not isinstance(value, dict):
            return
        if len(value) < len(cast_items):
            for key in value:
                cast = casts.get(key)
                if cast is not None and type(item := value[key]) is not cast[0]:
                    value[key] = cast[1](item)
        else:
            for key, (right, function) in cast_items:
                if key in value and type(item := value[key]) is not right:
                    value[key] = function(item)
        for key, steps in walk_items:
            if key in value:
                item = value[key]
                for step in steps:
                    step(item)

    return visit


def _visit_items(cast: Cast | None, steps: list[Step] | None) -> Step:
    def visit(value: Any) -> None:
        if not isinstance(value, list):
            return
        if cast is not None:
            right, function = cast
            for index, item in enumerate(value):
                if type(item) is not right:
                    value[index] = function(item)
        if steps is not None:
            for item in value:
                for step in steps:
                    step(item)

    return visit


def _follow(steps: list[Step]) -> Step:
    def visit(value: Any) -> None:
        for step in steps:
            step(value)

    return visit


# -- casts: one per declared type; those that treat None by its own rule know if null is allowed --


def _to_integer(value: Any) -> Any:
    if value is None:  # int(None) fails: None stays, null allowed or not
        return value
    try:
        return int(value)
    except _CAST_ERRORS:
        return value


def _to_number(value: Any) -> Any:
    if value is None:
        return value
    try:
        return float(value)
    except _CAST_ERRORS:
        return value


def _to_string(nullable: bool) -> Cast:
    def cast(value: Any) -> Any:
        return value if value is None and nullable else str(value)

    return str, cast


def _to_boolean(nullable: bool) -> Cast:
    def cast(value: Any) -> Any:
        if value is None and nullable:
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            return True if word in _TRUE else False if word in _FALSE else value
        return bool(value)

    return bool, cast


def _to_array(nullable: bool, wraps: bool) -> Cast | None:
    if not wraps:
        return None

    def cast(value: Any) -> Any:
        if value is None and nullable:
            return value
        return [value] if type(value) in _SIMPLE_VALUES else value

    return list, cast


_NUMBER_CASTS: dict[str, Cast] = {"integer": (int, _to_integer), "number": (float, _to_number)}
