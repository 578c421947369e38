"""Dagster integration: every stream of a declarative manifest becomes an asset.

``engine`` never imports this package; this package imports Dagster, but only when one of the
names below is first used: ``dagster_declarative.warehouse`` uses no Dagster, and importing it
(a DuckDB loader process does) must not cost Dagster's two seconds of start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_declarative.asset_builder import (
        build_declarative_assets,
        build_declarative_definitions,
        declarative_assets,
    )
    from dagster_declarative.components.declarative_source.component import (
        DeclarativeSourceComponent,
    )
    from dagster_declarative.execution import StreamTarget, materialize_stream
    from dagster_declarative.resource import DeclarativeSourceResource
    from dagster_declarative.schedules import build_stream_schedules
    from dagster_declarative.translator import DeclarativeTranslator, StreamDescription

_LAZY = {
    "DeclarativeSourceComponent": "dagster_declarative.components.declarative_source.component",
    "DeclarativeSourceResource": "dagster_declarative.resource",
    "DeclarativeTranslator": "dagster_declarative.translator",
    "StreamDescription": "dagster_declarative.translator",
    "StreamTarget": "dagster_declarative.execution",
    "build_declarative_assets": "dagster_declarative.asset_builder",
    "build_declarative_definitions": "dagster_declarative.asset_builder",
    "build_stream_schedules": "dagster_declarative.schedules",
    "declarative_assets": "dagster_declarative.asset_builder",
    "materialize_stream": "dagster_declarative.execution",
}
__all__ = [
    "DeclarativeSourceComponent",
    "DeclarativeSourceResource",
    "DeclarativeTranslator",
    "StreamDescription",
    "StreamTarget",
    "build_declarative_assets",
    "build_declarative_definitions",
    "build_stream_schedules",
    "declarative_assets",
    "materialize_stream",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dagster_declarative' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names too: Dagster's component registry (`dg list components`) finds the
    component by listing this package's names."""
    return sorted({*globals(), *_LAZY})
