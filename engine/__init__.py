"""dagster-declarative's engine: runs declarative (Airbyte low-code) connector manifests.

Never imports Dagster. Start with :func:`load_source`.
"""

from engine.errors import (
    ConfigError,
    EngineError,
    ManifestError,
    ReadError,
    UnsupportedComponentError,
)
from engine.pagination import PageLimits
from engine.source import DeclarativeSource, Manifest, load_manifest, load_source

__all__ = [
    "ConfigError",
    "DeclarativeSource",
    "EngineError",
    "Manifest",
    "ManifestError",
    "PageLimits",
    "ReadError",
    "UnsupportedComponentError",
    "load_manifest",
    "load_source",
]
