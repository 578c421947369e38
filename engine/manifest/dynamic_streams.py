"""Dynamic streams: one stream template, many streams, resolved when a source first needs them.

A ``DynamicDeclarativeStream`` pairs a stream template with a components resolver. The resolver
yields ``components_values`` mappings: the records of an API listing (HttpComponentsResolver), the
entries of config arrays (ConfigComponentsResolver) or parameter sets written in the manifest
(ParametrizedComponentsResolver). For each of them, every ``ComponentMappingDefinition`` writes a
value at its ``field_path`` in a copy of the (already normalised) template; the copy is then
normalised again, so that ``$parameters`` and implicit types reach what the mappings changed, and
built like any other stream.

As in today's format, only the config and parametrized resolvers read mapped values as YAML and
honour ``create_or_update``; only the config resolver takes a ``condition`` (see
:mod:`engine.manifest.component_mapping` for the mappings themselves).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from engine.errors import ManifestError, ReadError
from engine.manifest.component_mapping import ComponentMapping, component_mapping, field_error
from engine.manifest.components import TYPES, is_json_schema
from engine.manifest.field_paths import child_at, children
from engine.manifest.normalize import Normalizer
from engine.manifest.yaml_loader import line_of
from engine.streams.stream import Stream
from engine.templates.interpolation import InterpolatedString, TemplateError

if TYPE_CHECKING:
    from engine.factory.context import BuildContext

CREATING_RESOLVERS = frozenset({"ConfigComponentsResolver", "ParametrizedComponentsResolver"})
_TEMPLATE_FIELD = TYPES["DynamicDeclarativeStream"].fields["stream_template"]


def dynamic_stream_name(definition: Mapping[str, Any], index: int) -> str:
    """The name a check config refers to: ``name``, else ``dynamic_stream_<index>`` (the format's
    default)."""
    return str(definition.get("name") or f"dynamic_stream_{index}")


# -- resolvers ---------------------------------------------------------------------------------


class ComponentsResolver(Protocol):
    """Yields, per stream to make, the variables its mappings read (``components_values`` ...)."""

    kind: str
    mappings: tuple[ComponentMapping, ...]

    def contexts(self) -> Iterator[dict[str, Any]]: ...


@dataclass(frozen=True)
class StreamConfig:
    """Where in the config a list of stream configs sits, plus entries every config gets."""

    pointer: tuple[InterpolatedString, ...]
    default_values: tuple[Any, ...]

    def entries(self, config: Mapping[str, Any]) -> list[Any]:
        node: Any = config
        for segment in (p.eval_str(config) for p in self.pointer):
            found, _, node = child_at(node, segment)
            if not found:
                node = []
                break
        entries = list(node) if isinstance(node, list) else [node]
        return entries + list(self.default_values)


@dataclass(frozen=True)
class ConfigComponentsResolver:
    """One stream per combination of the entries of each stream config (a cartesian product)."""

    config: Mapping[str, Any]
    stream_configs: tuple[StreamConfig, ...]
    mappings: tuple[ComponentMapping, ...]
    kind: ClassVar[str] = "ConfigComponentsResolver"

    def contexts(self) -> Iterator[dict[str, Any]]:
        listed = [list(enumerate(c.entries(self.config))) for c in self.stream_configs]
        for combination in itertools.product(*listed):
            values: dict[str, Any] = {}
            for position, (index, entry) in enumerate(combination):
                if isinstance(entry, Mapping):
                    values.update(entry)
                else:  # a bare value is kept as (index, value), under the format's own name
                    values.setdefault(f"source_config_{position}", (index, entry))
            yield {"components_values": values}


@dataclass(frozen=True)
class ParametrizedComponentsResolver:
    """One stream per parameter set written in the manifest."""

    parameter_sets: tuple[Mapping[str, Any], ...]
    mappings: tuple[ComponentMapping, ...]
    kind: ClassVar[str] = "ParametrizedComponentsResolver"

    def contexts(self) -> Iterator[dict[str, Any]]:
        for values in self.parameter_sets:
            yield {"components_values": values}


@dataclass(frozen=True)
class HttpComponentsResolver:
    """One stream per record a retriever reads (every slice, every page)."""

    listing: Stream
    path: str
    mappings: tuple[ComponentMapping, ...]
    kind: ClassVar[str] = "HttpComponentsResolver"

    def contexts(self) -> Iterator[dict[str, Any]]:
        try:
            for stream_slice in self.listing.slices():
                for record in self.listing.read_slice(stream_slice):
                    yield {"components_values": record, "stream_slice": stream_slice}
        except ReadError as error:
            raise ReadError(
                f"{self.path}: the request listing the dynamic streams failed: {error.reason}",
                stream_slice=error.stream_slice,
                url=error.url,
                status=error.status,
                attempts=error.attempts,
                failure_type=error.failure_type,
            ) from None


# -- dynamic streams ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DynamicStream:
    """A ``DynamicDeclarativeStream`` with its resolver built; :meth:`resolve` makes the streams."""

    name: str
    path: str
    template: dict[str, Any]
    resolver: ComponentsResolver
    use_parent_parameters: bool
    config: Mapping[str, Any]
    file: str | None

    def resolve(self) -> Iterator[ResolvedStream]:
        """The normalised definition of each stream, in the resolver's order."""
        parse_values = self.resolver.kind in CREATING_RESOLVERS
        for number, context in enumerate(self.resolver.contexts(), 1):
            definition = copy.deepcopy(self.template)
            variables = {**context, "stream_template_config": self.template}
            for mapping in self.resolver.mappings:
                try:
                    mapping.apply(
                        definition,
                        variables,
                        self.config,
                        parse_values=parse_values,
                        may_create=parse_values and mapping.create_or_update,
                        from_api=self.resolver.kind == "HttpComponentsResolver",
                    )
                except ManifestError as error:
                    raise self.explained(error, f"stream number {number}") from None
            yield ResolvedStream(self, self._normalized(definition))

    def _normalized(self, definition: dict[str, Any]) -> dict[str, Any]:
        # The template's warnings were reported when the manifest loaded; these would repeat them.
        normalizer = Normalizer(
            legacy_dialect=False,
            file=self.file,
            parent_parameters_win=self.use_parent_parameters,
        )
        try:
            return normalizer.component(
                definition, f"{self.path}.stream_template", _TEMPLATE_FIELD, {}
            )
        except ManifestError as error:
            raise self.explained(error, f"stream {_name_hint(definition)!r}") from None

    def explained(self, error: ManifestError, which: str) -> ManifestError:
        """The same error, saying which generated stream of this dynamic stream it is about."""
        return type(error)(
            f"{error.problem} ({which} of dynamic stream {self.name!r})",
            path=error.path,
            file=error.file,
            line=error.line,
            expected=error.expected,
            suggestion=error.suggestion,
        )


@dataclass(frozen=True)
class ResolvedStream:
    dynamic: DynamicStream
    definition: dict[str, Any]

    @property
    def path(self) -> str:
        return f"{self.dynamic.path}.stream_template"

    @property
    def name(self) -> str:
        return _name_hint(self.definition)

    def build(self, context: BuildContext) -> Any:
        """Build the stream; errors name it and the dynamic stream it comes from."""
        try:
            return context.build(self.definition, self.path)
        except ManifestError as error:
            raise self.dynamic.explained(error, f"stream {self.name!r}") from None


def _name_hint(definition: Mapping[str, Any]) -> str:
    return str(definition.get("name") or (definition.get("$parameters") or {}).get("name") or "")


# -- load-time checks --------------------------------------------------------------------------


def check_dynamic_streams(definition: Mapping[str, Any], file: str | None) -> None:
    """What can be checked before any config or request: names, mappings, template syntax."""
    seen: dict[str, str] = {}
    for index, dynamic in enumerate(definition.get("dynamic_streams") or []):
        path = f"dynamic_streams[{index}]"
        name = dynamic_stream_name(dynamic, index)
        if name in seen:
            raise field_error(
                f"two dynamic streams are named {name!r} ({seen[name]} and this one)",
                path,
                dynamic,
                "name",
                file,
            )
        seen[name] = path
        _check_template_syntax(dynamic["stream_template"], f"{path}.stream_template", file)
        _check_resolver(dynamic, f"{path}.components_resolver", file)
    _check_check_counts(definition.get("check") or {}, file)


def _check_resolver(dynamic: Mapping[str, Any], path: str, file: str | None) -> None:
    resolver = dynamic["components_resolver"]
    kind = resolver["type"]
    for index, node in enumerate(resolver["components_mapping"]):
        mapping = component_mapping(node, f"{path}.components_mapping[{index}]", file)
        if mapping.condition is not None and kind != "ConfigComponentsResolver":
            raise field_error(
                f"condition is only supported by ConfigComponentsResolver, not {kind}",
                mapping.path,
                node,
                "condition",
                file,
            )
        may_create = kind in CREATING_RESOLVERS and mapping.create_or_update
        mapping.check_against(dynamic["stream_template"], may_create)
    if kind == "ParametrizedComponentsResolver":
        sets = resolver["stream_parameters"]["list_of_parameters_for_stream"]
        for index, entry in enumerate(sets):
            if not isinstance(entry, Mapping):
                raise ManifestError(
                    f"each parameter set must be a mapping, found {entry!r}",
                    path=f"{path}.stream_parameters.list_of_parameters_for_stream[{index}]",
                    file=file,
                    line=line_of(resolver["stream_parameters"], "list_of_parameters_for_stream"),
                )


def _check_template_syntax(node: Any, path: str, file: str | None) -> None:
    """Every template string of a stream template compiles (its variables are checked when the
    resolved stream is built, since mappings may replace them). JSON schemas are data."""
    if is_json_schema(node):
        return
    for key, value in children(node):
        where = f"{path}.{key}" if isinstance(node, dict) else f"{path}[{key}]"
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            try:
                InterpolatedString(value)
            except TemplateError as error:
                raise ManifestError(
                    f"invalid template: {error}",
                    path=where,
                    file=file,
                    line=line_of(node, key if isinstance(key, str) else None),
                ) from None
        else:
            _check_template_syntax(value, where, file)


def _check_check_counts(check: Mapping[str, Any], file: str | None) -> None:
    counts = [("check", check, 0)] if check.get("type") == "CheckDynamicStream" else []
    for index, item in enumerate(check.get("dynamic_streams_check_configs") or []):
        counts.append((f"check.dynamic_streams_check_configs[{index}]", item, 1))
    for path, node, minimum in counts:
        count = node.get("stream_count")
        if count is not None and (not isinstance(count, int) or count < minimum):
            raise field_error(
                f"stream_count must be an integer of at least {minimum}, found {count!r}",
                path,
                node,
                "stream_count",
                file,
            )
