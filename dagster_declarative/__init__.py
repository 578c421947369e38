"""Dagster integration: every stream of a declarative manifest becomes an asset.

``engine`` never imports this package; this package imports Dagster.
"""

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
