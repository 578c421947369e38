"""From a resolved manifest document to one internal form, whatever its dialect.

The walk goes top-down from the root. At every mapping it decides the component type (explicit
``type``, ``class_name``, or the implicit type of the field it sits in), merges the inherited
``$options``/``$parameters`` with the component's own, lets parameters fill the component's fields
(by each dialect's rule), translates 2022 shapes (:mod:`engine.manifest.legacy`), and validates
every key. The result is a tree of plain dicts, each with a ``type`` of today's vocabulary and a
``$parameters`` mapping, that the builder turns into objects.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import ManifestError, UnsupportedComponentError, closest
from engine.manifest import legacy
from engine.manifest.components import (
    ALL_FIELD_NAMES,
    COMPONENT,
    COMPONENT_OR_LIST,
    COMPONENTS,
    CUSTOM_TYPES,
    FAMILY_MEMBERS,
    SHORT_NAMES,
    TYPES,
    ComponentType,
    Field,
    is_json_schema,
)
from engine.manifest.kinds import check_kind, describe, expected_kind
from engine.manifest.not_implemented import check_implemented
from engine.manifest.stream_state_templates import stream_state_warning
from engine.manifest.yaml_loader import LocatedDict, line_of

LEGACY_ROOT_KEYS = ("version", "definitions", "streams", "check", "spec")


def is_legacy(document: Any) -> bool:
    """Is this a 2022-dialect manifest?

    Today's manifests say ``type: DeclarativeSource`` at the root, or at least carry a version
    of 0.29 or later (the release that introduced ``$parameters`` and ``#/`` references).
    """
    if not isinstance(document, dict) or "type" in document:
        return False
    match = re.match(r"^\s*(\d+)\.(\d+)", str(document.get("version", "")))
    return not match or (int(match.group(1)), int(match.group(2))) < (0, 29)


class Normalizer:
    """One walk over one resolved manifest; collects warnings on the way."""

    def __init__(
        self,
        *,
        legacy_dialect: bool,
        file: str | None = None,
        parent_parameters_win: bool = False,
        strict: bool = False,
    ) -> None:
        self.legacy = legacy_dialect
        self.file = file
        # Strict mode (for manifest authors) refuses keys the format does not define; otherwise
        # they are warnings, as the reference runner accepts extra keys on every component.
        self.strict = strict
        # Re-normalising a resolved dynamic stream lets a parent's $parameters override the
        # (already merged) ones of its children, as the format's use_parent_parameters asks.
        self.parent_parameters_win = parent_parameters_win
        self.warnings: list[str] = []

    # -- entry point -----------------------------------------------------------------------

    def normalize(self, document: Any) -> dict:
        if not isinstance(document, dict):
            raise self._error("the manifest must be a mapping", "", document, expected="a mapping")
        root = LocatedDict(document)
        root.line = line_of(document)
        root.key_lines = getattr(document, "key_lines", {})
        if "type" not in root and self.legacy:
            self._check_untyped_root(root, document)
        elif "type" not in root:
            root["type"] = "DeclarativeSource"  # today's runtime adds it the same way
        elif root.get("type") != "DeclarativeSource":
            raise self._error(
                f"unknown root type {root.get('type')!r}",
                "type",
                document,
                key="type",
                expected="type: DeclarativeSource",
            )
        if "version" in root and not isinstance(root["version"], str):
            root["version"] = str(root["version"])
        return self._component_fields(root, TYPES["DeclarativeSource"], "", {})

    def _check_untyped_root(self, root: dict, document: Any) -> None:
        """2022 roots carry no type; extra keys are anchors."""
        for key in [key for key in root if key not in LEGACY_ROOT_KEYS]:
            suggestion = closest(key, LEGACY_ROOT_KEYS, cutoff=0.8)
            if suggestion and not _known_elsewhere(key):
                raise self._error(
                    f"unknown top-level key {key!r}",
                    key,
                    document,
                    key=key,
                    expected="one of " + ", ".join(LEGACY_ROOT_KEYS),
                    suggestion=suggestion,
                )
            self.warnings.append(f"top-level key {key!r} is not part of the format; ignored")
            root.pop(key)
        if "version" not in root:
            self.warnings.append("the manifest has no version; read as the 2022 dialect")
            root["version"] = "0.1.0"
        root["type"] = "DeclarativeSource"

    # -- one component ---------------------------------------------------------------------

    def component(self, node: Any, path: str, field: Field, params: dict) -> Any:
        if isinstance(node, str) and field.implicit == "MinMaxDatetime":
            node = {"datetime": node}
        if not isinstance(node, dict):
            raise self._error(
                f"expected a component, found {describe(node)}",
                path,
                None,
                expected=f"a mapping describing a {field.family or 'component'}",
            )
        node_copy: dict = LocatedDict(node)
        node_copy.line = line_of(node)
        node_copy.key_lines = getattr(node, "key_lines", {})
        original_type, type_name = self._type_of(node_copy, path, field)
        ctype = TYPES[type_name]
        own = node_copy.pop("$options" if self.legacy else "$parameters", None) or {}
        node_copy.pop("$parameters" if self.legacy else "$options", None)
        if not isinstance(own, dict):
            raise self._error("$parameters must be a mapping", path, node, expected="a mapping")
        merged = {**own, **params} if self.parent_parameters_win else {**params, **own}
        self._fill_from_parameters(node_copy, ctype, merged)
        if self.legacy:
            node_copy = legacy.translate(type_name, original_type, node_copy, path)
        node_copy["type"] = type_name
        return self._component_fields(node_copy, ctype, path, merged)

    def _type_of(self, node: dict, path: str, field: Field) -> tuple[str, str]:
        declared = node.get("type")
        class_name = node.get("class_name")
        members = FAMILY_MEMBERS.get(field.family or "", set())
        if declared is None and class_name:
            short = str(class_name).rsplit(".", 1)[-1]
            if self.legacy and (short in members or legacy.TYPE_ALIASES.get(short) in members):
                node.pop("class_name")
                declared = short
            else:
                declared = CUSTOM_TYPES.get(field.family or "")
                if declared is None:
                    raise self._error(
                        f"a custom component (class_name) cannot be used as {field.family}",
                        path,
                        node,
                    )
        if declared is None:
            declared = field.implicit
            if declared is None:
                raise self._error(
                    "the component has no type",
                    path,
                    node,
                    expected="one of " + ", ".join(sorted(members)) if members else "a type",
                )
        if not isinstance(declared, str):
            raise self._error("type must be a string", path, node, key="type")
        original = declared
        if self.legacy:
            declared = legacy.TYPE_ALIASES.get(declared, declared)
        declared = SHORT_NAMES.get(field.family or "", {}).get(declared, declared)
        if declared not in TYPES:
            raise self._error(
                f"unknown component type {original!r}",
                path,
                node,
                key="type",
                expected="one of " + ", ".join(sorted(members)) if members else None,
                suggestion=closest(original, members or TYPES),
            )
        if members and declared not in members:
            raise self._error(
                f"{original} cannot be used here",
                path,
                node,
                key="type",
                expected="one of " + ", ".join(sorted(members)),
            )
        ctype = TYPES[declared]
        if not ctype.supported:
            raise UnsupportedComponentError(
                f"{original} is not supported: {ctype.why_unsupported}",
                path=path,
                file=self.file,
                line=line_of(node, "type"),
            )
        return original, declared

    def _fill_from_parameters(self, node: dict, ctype: ComponentType, params: dict) -> None:
        if ctype.name.startswith("Custom"):
            return
        names = set(ctype.fields)
        if self.legacy:
            names |= legacy.legacy_field_names(ctype.name)
            for name in names:
                if name not in node and name in params:
                    node[name] = params[name]
        else:
            for name in names:
                if name in params and not node.get(name):
                    node[name] = params[name]

    def _component_fields(self, node: dict, ctype: ComponentType, path: str, params: dict) -> dict:
        custom = ctype.name.startswith("Custom")
        unknown: dict[str, ManifestError] = {}
        for key in list(node):
            if key in ("type", "$parameters") or custom or key in ctype.fields:
                continue
            unknown[key] = self._unknown_key(node, ctype, path, key, propagated=key in params)
            node.pop(key)
        warning = check_implemented(ctype.name, node, path, self.file, line_of)
        if warning is not None:
            self.warnings.append(warning)
        for name, field in ctype.fields.items():
            if field.required and node.get(name) is None:
                typo = next((e for e in unknown.values() if e.suggestion == name), None)
                if typo is not None:
                    raise typo  # a misspelt required field: the typo is the problem to report
                raise self._error(
                    f"{ctype.name} is missing its required field {name!r}",
                    path,
                    node,
                    expected=f"{name}: {expected_kind(field)}",
                )
        for name, value in list(node.items()):
            field = ctype.fields.get(name)
            if field is None or value is None:
                continue
            node[name] = self._value(value, _join(path, name), field, params, node, name)
        if ctype.name == "DeclarativeStream" and self.legacy:
            legacy.split_stream_slicer(node, path)
        self._nested_query_properties(node, ctype.name, path, params)
        if ctype.name == "SelectiveAuthenticator":
            node["authenticators"] = {
                str(key): self.component(
                    value,
                    f"{path}.authenticators.{key}",
                    Field(COMPONENT, family="authenticator"),
                    params,
                )
                for key, value in node["authenticators"].items()
            }
        node["$parameters"] = params
        return node

    def _nested_query_properties(self, node: dict, type_name: str, path: str, params: dict) -> None:
        """Components the format allows where a field otherwise holds plain values: a
        QueryProperties as a value of request_parameters, an endpoint as a property_list."""
        if type_name == "HttpRequester" and isinstance(node.get("request_parameters"), dict):
            where = f"{path}.request_parameters"
            node["request_parameters"] = {
                key: self.component(value, f"{where}.{key}", _QUERY_PROPERTIES, params)
                if isinstance(value, dict) and value.get("type") == "QueryProperties"
                else value
                for key, value in node["request_parameters"].items()
            }
        if type_name == "QueryProperties" and isinstance(node.get("property_list"), dict):
            node["property_list"] = self.component(
                node["property_list"], f"{path}.property_list", _FROM_ENDPOINT, params
            )

    def _unknown_key(
        self, node: dict, ctype: ComponentType, path: str, key: str, *, propagated: bool
    ) -> ManifestError:
        """A key the component does not define: a warning, or an error in strict mode.

        The reference runner's schema lets every component but the root carry extra keys
        (documentation links, comments, leftovers of older schema versions), so a published
        manifest with one still loads; the warning names the place and a close match in case
        it is a typo. Strict mode refuses them (except keys that ``$parameters`` put on the
        component, which its author did not write there).
        """
        error = self._error(
            f"unknown key {key!r} in {ctype.name}",
            _join(path, key),
            node,
            key=key,
            expected=_fields_text(ctype),
            suggestion=closest(key, ctype.fields),
        )
        if self.strict and not propagated:
            raise error
        self.warnings.append(f"{error} The key is ignored (strict mode refuses it).")
        return error

    def _value(
        self, value: Any, path: str, field: Field, params: dict, owner: dict, name: str
    ) -> Any:
        child_params = {k: v for k, v in params.items() if k != name}
        if field.kind == COMPONENT:
            return self.component(value, path, field, child_params)
        if field.kind == COMPONENTS:
            if not isinstance(value, list):
                raise self._error(
                    f"expected a list, found {describe(value)}",
                    path,
                    owner,
                    key=name,
                    expected=f"a list of {field.family} components",
                )
            return [
                self.component(v, f"{path}[{i}]", field, child_params) for i, v in enumerate(value)
            ]
        if field.kind == COMPONENT_OR_LIST:
            if isinstance(value, list):
                return [
                    self.component(v, f"{path}[{i}]", field, child_params)
                    for i, v in enumerate(value)
                ]
            return self.component(value, path, field, child_params)
        check_kind(
            value,
            field,
            lambda problem, expected: self._error(
                problem, path, owner, key=name, expected=expected
            ),
        )
        return value

    def _error(
        self,
        problem: str,
        path: str,
        node: Any,
        *,
        key: str | None = None,
        expected: str | None = None,
        suggestion: str | None = None,
    ) -> ManifestError:
        return ManifestError(
            problem,
            path=path,
            file=self.file,
            line=line_of(node, key),
            expected=expected,
            suggestion=suggestion,
        )


_QUERY_PROPERTIES = Field(COMPONENT, family="query_properties", implicit="QueryProperties")
_FROM_ENDPOINT = Field(
    COMPONENT, family="properties_from_endpoint", implicit="PropertiesFromEndpoint"
)

# JSON-schema words some published manifests leave on components; harmless, so only a warning.
_STRAY_SCHEMA_WORDS = frozenset({"additionalProperties", "description", "title", "$schema"})


def _known_elsewhere(key: str) -> bool:
    return key in ALL_FIELD_NAMES or key in _STRAY_SCHEMA_WORDS


def _fields_text(ctype: ComponentType) -> str:
    names = sorted(ctype.fields)
    return "one of " + ", ".join(names) if names else f"no fields on {ctype.name}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def normalize_manifest(
    document: Any, *, file: str | None = None, strict: bool = False
) -> tuple[dict, list[str]]:
    """Normalise a resolved manifest; returns the internal form and the warnings met."""
    normalizer = Normalizer(legacy_dialect=is_legacy(document), file=file, strict=strict)
    normalized = normalizer.normalize(document)
    reads_state = None if normalizer.legacy else stream_state_warning(normalized)
    return normalized, [*normalizer.warnings, *filter(None, [reads_state])]


__all__ = ["is_json_schema", "normalize_manifest"]
