"""Component mappings: where a dynamic stream writes each value into its stream template.

A ``ComponentMappingDefinition`` names a ``field_path`` in the template (segments may be templates,
or wildcards: ``*`` and friends match one key, ``**`` any number), a ``value`` template, and
optionally a ``value_type``, a ``condition`` and ``create_or_update``. Values and paths read
``components_values``, ``stream_template_config``, ``config``, ``parameters`` and, for an HTTP
listing, ``stream_slice``.

Where today's format silently does nothing (a mapping whose path the template lacks), this engine
fails with the mapping's manifest path instead: such a mapping is a typo that would never apply.

Values that come from an API (an HTTP listing) are data, never template source: text is written
as :class:`~engine.templates.interpolation.LiteralText`, so a listed ``{{ config['api_key'] }}``
renders nothing; and such a value only replaces a plain value of the template (text, number,
boolean) or a part of a JSON schema, never a whole component, and adds no key the template does not
name.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from engine.errors import ManifestError, closest
from engine.manifest.field_paths import (
    PathProblem,
    assign,
    create,
    deepest,
    in_json_schema,
    locate,
    matching,
    through_scalar,
    value_at,
)
from engine.manifest.yaml_loader import line_of
from engine.templates.interpolation import InterpolatedString, LiteralText, TemplateError

# What mapping templates may read (the format's interpolation context for these fields).
MAPPING_VARIABLES = frozenset(
    {
        "config",
        "parameters",
        "components_values",
        "stream_template_config",
        "stream_slice",
        "stream_partition",
        "stream_interval",
    }
)
VALUE_TYPES = ("string", "number", "integer", "boolean")
_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
}
_WILDCARD = re.compile(r"[*?\[]")
_PLAIN_TYPES = (str, int, float, bool)


# -- mappings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentMapping:
    """One ``ComponentMappingDefinition``, compiled: where to write which value, and when."""

    field_path: tuple[InterpolatedString, ...]
    value: InterpolatedString
    value_type: str | None
    condition: InterpolatedString | None
    create_or_update: bool
    path: str
    file: str | None
    lines: Mapping[str, int]  # the line of each key, for errors

    @property
    def static_path(self) -> list[str] | None:
        """The path when no segment is a template or a wildcard (checkable before resolution)."""
        if any(not s.is_constant or _WILDCARD.search(s.raw) for s in self.field_path):
            return None
        return [segment.raw for segment in self.field_path]

    def apply(
        self,
        stream: dict[str, Any],
        variables: Mapping[str, Any],
        config: Mapping[str, Any],
        *,
        parse_values: bool,
        may_create: bool,
        from_api: bool = False,
    ) -> None:
        """Write this mapping's value into ``stream`` (a copy of the template), in place.

        ``from_api``: the variables hold an API's data (see the module doc for what follows).
        """
        if self.condition is not None:
            try:
                holds = _holds(self.condition.eval(config, **variables))
            except TemplateError as error:
                raise self._error(str(error), "condition") from None
            if not holds:
                return
        try:
            segments = [segment.eval_str(config, **variables) for segment in self.field_path]
        except TemplateError as error:
            raise self._error(str(error), "field_path") from None
        wildcard = any(_WILDCARD.search(s) for s in segments)
        if wildcard:
            targets = list(dict.fromkeys(t for t in matching(stream, segments) if t))
        else:
            found = locate(stream, segments)
            targets = [found] if found is not None else []
        in_schema = bool(targets) and all(in_json_schema(stream, t) for t in targets)
        structured = not from_api or in_schema
        value = self._value(config, variables, parse_values, structured=structured)
        if from_api:
            value = self._as_data(stream, targets, value, in_schema)
        for target in targets:
            if locate(stream, [str(k) for k in target]) is not None:
                assign(stream, target, value)
        if targets or (wildcard and not may_create):
            return
        try:
            if not may_create:
                raise PathProblem(_missing_text(stream, segments, self.create_or_update))
            if wildcard:
                raise PathProblem(
                    f"field_path {segments} matches nothing, and a path with wildcards cannot "
                    "be created"
                )
            if value:  # the format creates paths only for non-empty values
                create(stream, segments, value)
        except PathProblem as problem:
            raise self._error(str(problem), "field_path") from None

    def check_against(self, template: Mapping[str, Any], may_create: bool) -> None:
        """At load: a literal path must be writable in the template (else the mapping is dead)."""
        segments = self.static_path
        if segments is None or locate(template, segments) is not None:
            return
        node, depth = deepest(template, segments)
        if may_create and (node is None or isinstance(node, dict)):
            return
        suggestion = None
        if isinstance(node, dict):
            suggestion = closest(segments[depth], [k for k in node if not k.startswith("$")])
        raise ManifestError(
            _missing_text(template, segments, self.create_or_update),
            path=f"{self.path}.field_path",
            file=self.file,
            line=self.lines.get("field_path"),
            suggestion=suggestion,
        )

    def _as_data(self, stream: Any, targets: list[tuple], value: Any, in_schema: bool) -> Any:
        """An API's value as it may be written: plain values only, text as literal text."""
        if in_schema:
            return value
        for target in targets:
            current = value_at(stream, target)
            if isinstance(current, (dict, list)):
                raise self._error(
                    f"the listed value would replace the whole {_described(current)} at "
                    f"{'.'.join(map(str, target))}; values from an API replace only plain "
                    "values (text, numbers, booleans) or parts of a JSON schema",
                    "field_path",
                )
        if isinstance(value, str):
            return LiteralText(value)
        if value is None or isinstance(value, _PLAIN_TYPES):
            return value
        raise self._error(
            f"the listed value is a {type(value).__name__}; values from an API are written "
            "only as plain values (text, numbers, booleans) or inside a JSON schema",
            "value",
        )

    def _value(
        self,
        config: Mapping[str, Any],
        variables: Mapping[str, Any],
        parse_values: bool,
        *,
        structured: bool = True,
    ) -> Any:
        """The mapping's value; with ``structured`` False, text never becomes a list or dict."""
        valid = None if structured else _PLAIN_TYPES
        if self.value_type is not None:
            kind = _PYTHON_TYPES[self.value_type]
            valid = kind if isinstance(kind, tuple) else (kind,)
        try:
            value = self.value.eval(config, valid_types=valid, **variables)
        except TemplateError as error:
            raise self._error(str(error), "value") from None
        if parse_values and isinstance(value, str) and self.value_type != "string":
            value = _parse_yaml(value)
        if self.value_type is None or value is None:
            return value
        try:
            return _typed(value, self.value_type)
        except ValueError:
            raise self._error(
                f"the value {value!r} is not of value_type {self.value_type!r}", "value"
            ) from None

    def _error(self, problem: str, key: str) -> ManifestError:
        return ManifestError(
            problem, path=f"{self.path}.{key}", file=self.file, line=self.lines.get(key)
        )


def component_mapping(node: Mapping[str, Any], path: str, file: str | None) -> ComponentMapping:
    """Compile a normalised ``ComponentMappingDefinition``; template errors name the field."""
    parameters = node.get("$parameters") or {}

    def compiled(raw: Any, key: str) -> InterpolatedString:
        if isinstance(raw, (dict, list)) or raw is None:
            raise field_error(f"{key} must be a string", path, node, key, file)
        text = raw if isinstance(raw, str) else str(raw)
        try:
            string = InterpolatedString(text, parameters=parameters)
        except TemplateError as error:
            raise field_error(f"invalid template: {error}", path, node, key, file) from None
        unknown = sorted(string.variables - MAPPING_VARIABLES)
        if unknown:
            raise field_error(
                f"the template reads an unknown variable {unknown[0]!r}",
                path,
                node,
                key,
                file,
                expected="one of " + ", ".join(sorted(MAPPING_VARIABLES)),
            )
        return string

    field_path = node["field_path"]
    if not isinstance(field_path, list) or not field_path:
        raise field_error(
            "field_path must be a non-empty list",
            path,
            node,
            "field_path",
            file,
            expected="a list of keys such as [retriever, requester, path]",
        )
    value_type = node.get("value_type")
    if value_type is not None and value_type not in VALUE_TYPES:
        raise field_error(
            f"unknown value_type {value_type!r}",
            path,
            node,
            "value_type",
            file,
            expected="one of " + ", ".join(VALUE_TYPES),
            suggestion=closest(str(value_type), VALUE_TYPES),
        )
    condition = node.get("condition")
    return ComponentMapping(
        field_path=tuple(compiled(segment, "field_path") for segment in field_path),
        value=compiled(node["value"], "value"),
        value_type=value_type,
        condition=None if condition in (None, "") else compiled(condition, "condition"),
        create_or_update=node.get("create_or_update") is True,
        path=path,
        file=file,
        lines=dict(getattr(node, "key_lines", {})),
    )


def _described(node: Any) -> str:
    if isinstance(node, dict) and isinstance(node.get("type"), str):
        return f"component {node['type']}"
    return "mapping" if isinstance(node, dict) else "list"


def _missing_text(template: Any, segments: Sequence[str], create_or_update: bool) -> str:
    node, depth = deepest(template, segments)
    if node is not None and not isinstance(node, (dict, list)):
        return through_scalar(segments, depth - 1, node)
    text = (
        f"field_path {list(segments)} is not in the stream template (it has no "
        f"{segments[depth]!r} at {'.'.join(segments[:depth]) or 'its top level'}), "
        "so this mapping would never apply"
    )
    if create_or_update:
        return text + "; HttpComponentsResolver only updates fields the template already has"
    return text + "; set create_or_update: true to add the field"


def _holds(value: Any) -> bool:
    """A condition holds unless it renders a false value: ``False``, ``None``, ``0``, empty
    text or collections (rendered text was already read as a Python literal), or ``false``."""
    return bool(value) and value != "false"


def _parse_yaml(text: str) -> Any:
    """Config and parametrized values are read as YAML (``"[a, b]"`` is a list), as the format
    does; text that is not YAML, or that YAML reads as a date, stays text."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(parsed, (datetime.date, datetime.datetime)) else parsed


def _typed(value: Any, value_type: str) -> Any:
    """``value`` as its declared type; text that spells the type is converted, else ValueError."""
    if value_type == "string":
        return value if isinstance(value, str) else str(value)
    if value_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ValueError(value)
    if isinstance(value, bool):
        raise ValueError(value)
    if value_type == "integer":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else int(str(value).strip())
    return value if isinstance(value, (int, float)) else float(str(value).strip())


def field_error(
    problem: str,
    path: str,
    node: Any,
    key: str,
    file: str | None,
    *,
    expected: str | None = None,
    suggestion: str | None = None,
) -> ManifestError:
    return ManifestError(
        problem,
        path=f"{path}.{key}",
        file=file,
        line=line_of(node, key),
        expected=expected,
        suggestion=suggestion,
    )
