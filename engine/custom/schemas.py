"""Adapters for custom schema loaders and state migrations: both already speak our interface's
shape (``get_json_schema()``; ``should_migrate`` / ``migrate``), so the adapters only turn their
results into plain values."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from engine.custom.scope import ConnectorScope, scoped


def schema_loader(component: Any, scope: ConnectorScope) -> Callable[[], dict]:
    """A custom ``SchemaLoader``: the stream's schema is its ``get_json_schema()``."""
    return lambda: dict(scope.call(component.get_json_schema))


class ReferenceStateMigration:
    """A custom ``StateMigration``, built with the stream's model (``declarative_stream``)."""

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope

    @scoped
    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return bool(self.component.should_migrate(stream_state))

    @scoped
    def migrate(self, stream_state: Mapping[str, Any]) -> Mapping[str, Any]:
        return dict(self.component.migrate(stream_state))
