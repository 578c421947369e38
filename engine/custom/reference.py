"""Building a custom component with airbyte-cdk's own factory, as the reference runner does.

The custom subtree of the manifest (the ``Custom*`` component and everything nested in it) goes
through the reference's ``ManifestComponentTransformer`` (types of nested components inferred
from their field, ``$parameters`` propagated and copied onto fields) and then its
``ModelToComponentFactory``, so nested components are real airbyte-cdk objects and the custom
class receives exactly the arguments the reference would give it. airbyte-cdk is imported here
only, and only when a manifest asks for such a component.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from typing import Any

from engine.custom.loading import EXTRA, MissingExtraError
from engine.custom.scope import ConnectorScope, install, scoped


def _cdk(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(str(error)) from None


class ReferenceFactory:
    """One per source: the reference's factory, and the config it hands every component; it
    builds inside the connector's ``scope`` (:mod:`engine.custom.scope`)."""

    def __init__(self, config: Mapping[str, Any], scope: ConnectorScope) -> None:
        parsers = "airbyte_cdk.sources.declarative.parsers"
        factory_module = _cdk(f"{parsers}.model_to_component_factory")
        self._transformer = _cdk(f"{parsers}.manifest_component_transformer")
        self._models = _cdk("airbyte_cdk.sources.declarative.models.declarative_component_schema")
        self._factory = factory_module.ModelToComponentFactory(disable_cache=True)
        self.config = dict(config)
        self.scope = scope
        install()

    @scoped
    def build(self, definition: Mapping[str, Any], **kwargs: Any) -> Any:
        """The component ``definition`` describes, built by the reference's factory;
        ``kwargs`` are what the reference's parent component would pass down."""
        prepared = self._prepared(definition)
        model = getattr(self._models, str(prepared["type"]))
        kwargs = {
            key: self.model(value) if key == "declarative_stream" else value
            for key, value in kwargs.items()
        }
        return self._factory.create_component(model, prepared, self.config, **kwargs)

    @scoped
    def stream(self, definition: Mapping[str, Any], state: Mapping[str, Any]) -> Any:
        """The reference's whole stream, starting from ``state`` (its own state manager)."""
        factory_module = _cdk("airbyte_cdk.sources.declarative.parsers.model_to_component_factory")
        models = _cdk("airbyte_cdk.models")
        manager = _cdk("airbyte_cdk.sources.connector_state_manager").ConnectorStateManager
        name = str(definition.get("name") or "")
        messages = []
        if state:
            messages.append(
                models.AirbyteStateMessage(
                    type=models.AirbyteStateType.STREAM,
                    stream=models.AirbyteStreamState(
                        stream_descriptor=models.StreamDescriptor(name=name),
                        stream_state=models.AirbyteStateBlob(**state),
                    ),
                )
            )
        factory = factory_module.ModelToComponentFactory(
            disable_cache=True, connector_state_manager=manager(messages)
        )
        prepared = self._prepared(definition)
        model = getattr(self._models, str(prepared["type"]))
        return factory.create_component(model, prepared, self.config)

    @scoped
    def model(self, definition: Mapping[str, Any]) -> Any:
        """The reference's pydantic model of a definition (what it hands some components)."""
        prepared = self._prepared(definition)
        return getattr(self._models, str(prepared["type"])).parse_obj(prepared)

    def _prepared(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        transformer = self._transformer.ManifestComponentTransformer()
        return transformer.propagate_types_and_parameters("", _plain(definition), {})


def _plain(value: Any) -> Any:
    """A deep copy made of plain dicts and lists (the reference's pydantic models want those)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.copy(value)


__all__ = ["EXTRA", "ReferenceFactory"]
