"""Building a ``Custom*`` component: checking where its code comes from, importing it, and
choosing how it is built and presented to the engine.

- Its ``class_name`` (and every ``class_name`` nested in it) must lie in an allowed module or
  in the code beside the manifest (:mod:`engine.custom.loading`); anything else is refused
  before any import.
- A class written against airbyte-cdk is built by the reference's own factory
  (:mod:`engine.custom.reference`) and wrapped in its family's adapter; without airbyte-cdk
  installed, the error names the component, the class and the extra to install.
- A class written for this engine is built from its keys (:mod:`engine.custom.native`).
- A declarative component that airbyte-cdk implements and this engine does not
  (``BY_REFERENCE``: RateLimitedMultipleTokenAuthenticator, DynamicSchemaLoader) is built by the
  reference's factory the same way and wrapped in its family's adapter; the HTTP sessions it
  holds get this engine's timeout and response size limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.custom import http, pagination, records, routers, schemas
from engine.custom.loading import (
    EXTRA,
    CustomCode,
    MissingExtraError,
    cdk_version,
    custom_parts,
    is_cdk_class,
)
from engine.custom.native import build_native
from engine.custom.reference import ReferenceFactory
from engine.custom.requester import ReferenceRequester
from engine.custom.streams import guard_sessions
from engine.errors import ManifestError, UnsupportedComponentError
from engine.manifest.components import BY_REFERENCE, TYPES
from engine.manifest.yaml_loader import line_of

if TYPE_CHECKING:
    from engine.custom.host import BuildHost


class CustomBuilder:
    """One per source: the code it may load, and the reference factory once one is needed."""

    def __init__(self, ctx: BuildHost) -> None:
        self.ctx = ctx
        # Only a manifest read from a file has code beside it (YAML text has no folder).
        self.code = CustomCode(ctx.base_dir if ctx.file else None, ctx.custom_modules)
        self._reference: ReferenceFactory | None = None

    @property
    def reference(self) -> ReferenceFactory:
        if self._reference is None:
            self._reference = ReferenceFactory(self.ctx.config, self.code.scope)
        return self._reference

    def load(self, definition: dict, path: str) -> type:
        """Import the class of every custom component in ``definition`` (a component or a whole
        stream), after checking each may load; the first one's class is returned."""
        ctx = self.ctx
        names = [str(part["class_name"]) for part in custom_parts(definition)]
        for name in names:
            if self.code.module_of(name) is None:
                raise UnsupportedComponentError(
                    f"custom component {name!r} is not in a module you allowed",
                    path=path,
                    file=ctx.file,
                    line=line_of(definition, "class_name"),
                    expected="a components.py or source_<pkg>/ package beside the manifest, or "
                    "its module named in custom_component_modules (custom code only runs from "
                    "there)",
                )
        loaded = []
        for name in names:
            try:
                loaded.append(self.code.load_class(name))
            except MissingExtraError as error:
                raise _missing_cdk(ctx, definition, path, name, error) from None
            except Exception as error:
                raise ctx.error(
                    f"cannot import {name!r}: {type(error).__name__}: {error}",
                    definition,
                    "class_name",
                    path,
                ) from None
        return loaded[0]

    def build(self, definition: dict, path: str, **kwargs: Any) -> Any:
        if definition["type"] in BY_REFERENCE:
            return self._by_reference(definition, path, **kwargs)
        cls = self.load(definition, path)
        if not is_cdk_class(cls):
            return build_native(self.ctx, cls, definition, path)
        kind = str(definition["type"])
        adapt = _ADAPTERS.get(kind)
        if kind in _REFERENCE_REFUSES:
            raise UnsupportedComponentError(
                f"{kind} {definition['class_name']!r} is written against airbyte-cdk, which has "
                f"no such component: {_REFERENCE_REFUSES[kind]}",
                path=path,
                file=self.ctx.file,
                line=line_of(definition, "type"),
            )
        if adapt is None:
            raise UnsupportedComponentError(
                f"{kind} {definition['class_name']!r} cannot run here: no adapter presents "
                "this family to the engine",
                path=path,
                file=self.ctx.file,
                line=line_of(definition, "class_name"),
            )
        component = self.reference_component(definition, path, **kwargs)
        # Sessions it holds (a custom router's parent streams read through airbyte-cdk's own
        # requesters) keep this engine's bounds, as every request the engine sends does.
        guard_sessions(component, self.ctx.client)
        return self.code.scope.call(adapt, self.ctx, component, self.code.scope)

    def _by_reference(self, definition: dict, path: str, **kwargs: Any) -> Any:
        """A component only airbyte-cdk implements, presented by its family's adapter."""
        if next(custom_parts(definition), None) is not None:
            self.load(definition, path)  # nested custom classes must be allowed to load too
        component = self.reference_component(definition, path, **kwargs)
        guard_sessions(component, self.ctx.client)
        family = TYPES[str(definition["type"])].family
        adapt = _ADAPTERS[_FAMILY_ADAPTER[family]]
        return self.code.scope.call(adapt, self.ctx, component, self.code.scope)

    def stream(self, definition: dict, path: str, fields: dict[str, Any]) -> Any:
        """A stream with a custom retriever or incremental cursor, run by the reference
        (:mod:`engine.custom.streams` says why); ``fields`` are the stream's name, keys and
        schema as this engine reads them."""
        from engine.custom.streams import ReferenceRetriever, ReferenceStreamCursor
        from engine.streams.stream import Stream

        self.load(definition, path)
        client = self.ctx.client
        try:
            reference = self.reference
        except MissingExtraError as error:
            first = next(custom_parts(definition))
            raise _missing_cdk(self.ctx, first, path, str(first["class_name"]), error) from None
        cursor = ReferenceStreamCursor(reference, definition, client)
        try:
            cursor.built()
        except Exception as error:  # the connector's own code may raise anything
            raise self._cannot_build("the stream", error, definition, path) from None
        return Stream(
            retriever=ReferenceRetriever(cursor),  # type: ignore[arg-type]
            slicer=cursor,
            cursor_field=[cursor.cursor_field] if cursor.cursor_field else [],
            load_schema=cursor.json_schema,
            **fields,
        )

    def reference_component(self, definition: dict, path: str, **kwargs: Any) -> Any:
        """The component as the reference's factory builds it; its errors name the path."""
        name = str(definition.get("class_name") or definition["type"])
        try:
            return self.reference.build(definition, **_kwargs_for(definition, kwargs))
        except MissingExtraError as error:
            raise _missing_cdk(self.ctx, definition, path, name, error) from None
        except Exception as error:  # the component's own code may raise anything
            raise self._cannot_build(repr(name), error, definition, path) from None

    def _cannot_build(
        self, what: str, error: Exception, definition: dict, path: str
    ) -> ManifestError:
        """The connector's own code raised while the reference runtime built ``what``."""
        text = f"{type(error).__name__}: {self.ctx.masker.mask(str(error))}"
        return self.ctx.error(
            f"the reference runtime cannot build {what}: {text}", definition, None, path
        )


def _missing_cdk(
    ctx: BuildHost, definition: dict, path: str, name: str, error: Exception
) -> UnsupportedComponentError:
    """The error for a class airbyte-cdk cannot serve: not installed, or too new for it."""
    version = cdk_version()
    if version is None:
        problem = (
            f"{name} runs through airbyte-cdk's own class, and airbyte-cdk is not installed"
            if name in BY_REFERENCE
            else f"custom component {name!r} is written against airbyte-cdk, which is not installed"
        )
        expected = f"the extra that brings it: pip install '{EXTRA}'"
    else:
        problem = (
            f"custom component {name!r} imports what airbyte-cdk {version} no longer has "
            f"({error}); it was written for an older airbyte-cdk"
        )
        expected = "a version of the connector written for airbyte-cdk 7"
    return UnsupportedComponentError(
        problem,
        path=path,
        file=ctx.file,
        line=line_of(definition, "class_name" if "class_name" in definition else "type"),
        expected=expected,
    )


# Families whose parent hands them the stream's decoder in the reference's factory.
_GIVEN_A_DECODER = frozenset(
    {"CustomRecordExtractor", "CustomPaginationStrategy", "CustomRequester", "CustomAuthenticator"}
)


def _kwargs_for(definition: dict, given: dict[str, Any]) -> dict[str, Any]:
    """What the reference's parent component passes down to a component of this family."""
    kind = definition["type"]
    kwargs = dict(given)
    name = str((definition.get("$parameters") or {}).get("name", ""))
    if kind in _GIVEN_A_DECODER and "decoder" not in kwargs:
        from airbyte_cdk.sources.declarative.decoders import JsonDecoder

        kwargs["decoder"] = JsonDecoder(parameters={})
    if kind == "CustomPartitionRouter":
        kwargs.setdefault("stream_name", name)
    if kind in ("CustomRequester", "CustomAuthenticator"):
        kwargs.setdefault("name", name)
    return kwargs


def _parents(definition_component: Any) -> tuple[str, ...]:
    configs = getattr(definition_component, "parent_stream_configs", None) or ()
    return tuple(str(getattr(c.stream, "name", "")) for c in configs)


# Each adapter calls its component inside the connector's scope (engine/custom/scope.py).
_ADAPTERS: dict[str, Any] = {
    "CustomRecordExtractor": lambda ctx, c, s: records.ReferenceExtractor(c, s),
    "CustomRecordFilter": lambda ctx, c, s: records.ReferenceRecordFilter(c, s),
    "CustomTransformation": lambda ctx, c, s: records.ReferenceTransformation(c, ctx.config, s),
    "CustomSchemaNormalization": lambda ctx, c, s: records.ReferenceTypeTransformer(c, s),
    "CustomAuthenticator": lambda ctx, c, s: http.ReferenceAuthenticator(c, ctx.masker, s),
    "CustomBackoffStrategy": lambda ctx, c, s: http.ReferenceBackoff(c, s),
    "CustomErrorHandler": lambda ctx, c, s: http.ReferenceErrorHandler(c, ctx.config, s),
    "CustomRequester": lambda ctx, c, s: ReferenceRequester(
        c, ctx.client, ctx.masker, ctx.config, s
    ),
    "CustomPaginationStrategy": lambda ctx, c, s: pagination.ReferenceStrategy(c, s),
    "CustomPartitionRouter": lambda ctx, c, s: routers.ReferencePartitionRouter(c, s, _parents(c)),
    "CustomSchemaLoader": lambda ctx, c, s: schemas.schema_loader(c, s),
    "CustomStateMigration": lambda ctx, c, s: schemas.ReferenceStateMigration(c, s),
}

# The adapter presenting a component of each family that BY_REFERENCE types belong to.
_FAMILY_ADAPTER = {"authenticator": "CustomAuthenticator", "schema_loader": "CustomSchemaLoader"}

# Custom families airbyte-cdk 7 does not have (its schema offers no such type), and what it
# offers instead.
_REFERENCE_REFUSES = {
    "CustomPaginator": "its retrievers take a DefaultPaginator (with a CustomPaginationStrategy "
    "for custom logic) or NoPagination",
}
