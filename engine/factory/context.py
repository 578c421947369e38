"""The build context: the registry of builders and the helpers every builder uses."""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import ManifestError, UnsupportedComponentError
from engine.http.client import HttpClient
from engine.manifest.components import BY_REFERENCE
from engine.manifest.yaml_loader import line_of
from engine.secrets import SecretMasker
from engine.streams.pagination import NO_LIMITS, PageLimits
from engine.templates.interpolation import (
    InterpolatedBoolean,
    InterpolatedMapping,
    InterpolatedNestedMapping,
    InterpolatedString,
    TemplateError,
)

T = TypeVar("T")

Builder = Callable[["BuildContext", dict, str], Any]

# Every variable some place of the format hands to templates (spec section 2.3).
CONTEXT_NAMES = frozenset(
    {
        "config",
        "parameters",
        "options",
        "stream_slice",
        "stream_partition",
        "stream_interval",
        "stream_state",
        "next_page_token",
        "response",
        "headers",
        "last_record",
        "last_records",
        "last_page_size",
        "record",
        "value",
        "path",
        "property",
        "session_token",
        "creation_response",
        "polling_response",
        "download_target",
    }
)
_BUILDERS: dict[str, Builder] = {}
LATER = {
    "AsyncRetriever": "engine.factory.async_retrieval",
    "ConfigComponentsResolver": "engine.factory.dynamic",
    "ParametrizedComponentsResolver": "engine.factory.dynamic",
    "HttpComponentsResolver": "engine.factory.dynamic",
}
"""Types whose builders register when their module is imported, on first use."""


def builds(*type_names: str) -> Callable[[Builder], Builder]:
    def register(function: Builder) -> Builder:
        for name in type_names:
            _BUILDERS[name] = function
        return function

    return register


@dataclasses.dataclass
class BuildContext:
    config: Mapping[str, Any]
    client: HttpClient
    masker: SecretMasker
    base_dir: Path
    file: str | None = None
    definitions: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    custom_modules: tuple[str, ...] = ()
    warnings: list[str] = dataclasses.field(default_factory=list)
    _custom: Any = dataclasses.field(default=None, repr=False)
    page_limits: PageLimits = NO_LIMITS

    # -- dispatch --------------------------------------------------------------------------

    def build(self, definition: dict, path: str) -> Any:
        type_name = definition["type"]
        if type_name.startswith("Custom") or type_name in BY_REFERENCE:
            return self.custom(definition, path)
        if type_name in LATER and type_name not in _BUILDERS:
            importlib.import_module(LATER[type_name])
        builder = _BUILDERS.get(type_name)
        if builder is None:
            raise UnsupportedComponentError(
                f"{type_name} is not supported yet",
                path=path,
                file=self.file,
                line=line_of(definition),
            )
        return builder(self, definition, path)

    def optional(self, definition: dict | None, path: str) -> Any:
        return None if definition is None else self.build(definition, path)

    # -- templates -------------------------------------------------------------------------

    def string(
        self, definition: dict, key: str, path: str, default: str | None = None
    ) -> InterpolatedString | None:
        value = definition.get(key)
        if value is None:
            if default is None:
                return None
            value = default
        return self._compile(
            lambda: InterpolatedString(
                str(value) if not isinstance(value, str) else value,
                parameters=definition.get("$parameters"),
                where=f"{path}.{key}",
            ),
            definition,
            key,
            path,
        )

    def boolean(self, definition: dict, key: str, path: str) -> InterpolatedBoolean | None:
        value = definition.get(key)
        if value is None or value == "":
            return None
        return self._compile(
            lambda: InterpolatedBoolean(value, parameters=definition.get("$parameters")),
            definition,
            key,
            path,
        )

    def mapping(self, definition: dict, key: str, path: str, nested: bool = False) -> Any:
        value = definition.get(key)
        if value is None or value == {} or value == "":
            return None
        parameters = definition.get("$parameters")
        if isinstance(value, str):
            return self._compile(
                lambda: InterpolatedString(value, parameters=parameters, default=""),
                definition,
                key,
                path,
            )
        if not isinstance(value, dict):
            raise self.error(f"{key} must be a mapping or a template", definition, key, path)
        kind = InterpolatedNestedMapping if nested else InterpolatedMapping
        return self._compile(lambda: kind(value, parameters=parameters), definition, key, path)

    def constant(self, definition: dict, key: str, path: str, default: Any = None) -> Any:
        """A field whose template can only read config and parameters: evaluated right now."""
        compiled = self.string(definition, key, path)
        if compiled is None:
            return default
        return compiled.eval(self.config)

    def number(
        self, definition: dict, key: str, path: str, default: float | None = None
    ) -> float | None:
        value = self.constant(definition, key, path, default)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = math.nan
        if not math.isfinite(number):
            raise self.error(
                f"{key} must be a finite number, found {str(value)[:40]!r}", definition, key, path
            )
        return number

    def integer(
        self, definition: dict, key: str, path: str, default: int | None = None
    ) -> int | None:
        value = self.number(definition, key, path, None if default is None else float(default))
        return None if value is None else int(value)

    def _compile(self, make: Callable[[], Any], definition: dict, key: str, path: str) -> Any:
        try:
            self._check_variables(definition.get(key), definition, key, path)
            return make()
        except TemplateError as error:
            raise self.error(
                f"invalid template: {error}",
                definition,
                key,
                path,
                expected="a valid Jinja expression such as {{ config['start_date'] }}",
            ) from None

    def _check_variables(self, value: Any, definition: dict, key: str, path: str) -> None:
        """A template may only read names some place of the format provides (typos fail now)."""
        if isinstance(value, dict):
            for item in value.items():
                for part in item:
                    self._check_variables(part, definition, key, path)
        elif isinstance(value, list):
            for item in value:
                self._check_variables(item, definition, key, path)
        elif isinstance(value, str) and ("{{" in value or "{%" in value):
            for name in sorted(InterpolatedString(value).variables - CONTEXT_NAMES):
                raise self.error(
                    f"the template reads an unknown variable {name!r}",
                    definition,
                    key,
                    path,
                    expected="one of " + ", ".join(sorted(CONTEXT_NAMES)),
                )

    def error(
        self,
        problem: str,
        definition: dict,
        key: str | None,
        path: str,
        *,
        expected: str | None = None,
    ) -> ManifestError:
        return ManifestError(
            problem,
            path=f"{path}.{key}" if key else path,
            file=self.file,
            line=line_of(definition, key),
            expected=expected,
        )

    # -- custom components -----------------------------------------------------------------

    def custom(self, definition: dict, path: str, **kwargs: Any) -> Any:
        """A user's class (``class_name``), or a component only airbyte-cdk implements: see
        :mod:`engine.custom` for what may load and how."""
        return self._custom_builder().build(definition, path, **kwargs)

    def reference_stream(self, definition: dict, path: str, fields: dict[str, Any]) -> Any:
        """A stream whose retriever or cursor is custom, run whole by airbyte-cdk."""
        return self._custom_builder().stream(definition, path, fields)

    def _custom_builder(self) -> Any:
        if self._custom is None:
            from engine.custom import CustomBuilder

            self._custom = CustomBuilder(self)
        return self._custom


def named_behaviour(
    ctx: BuildContext, d: dict, key: str, path: str, choices: Mapping[str, T], default: str
) -> T:
    """The behaviour object normalisation chose by name in ``d[key]`` (``default`` when the
    key is absent): where the runtimes behaved differently, the manifest names what to do
    (see :mod:`engine.manifest.legacy`), never the dialect it was written in."""
    name = d.get(key) or default
    if name not in choices:
        raise ctx.error(
            f"unknown {key} {name!r}", d, key, path, expected="one of " + ", ".join(choices)
        )
    return choices[name]
