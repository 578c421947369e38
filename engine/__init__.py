"""dagster-declarative's engine: runs declarative (Airbyte low-code) connector manifests.

Never imports Dagster. Start with :func:`load_source`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import (
    ConfigError,
    EngineError,
    ManifestError,
    ReadError,
    UnsupportedComponentError,
)

if TYPE_CHECKING:
    from engine.manifest.load import Manifest, load_manifest
    from engine.pagination import PageLimits
    from engine.source import DeclarativeSource, load_source

_LAZY = {
    "DeclarativeSource": "engine.source",
    "Manifest": "engine.manifest.load",
    "load_manifest": "engine.manifest.load",
    "load_source": "engine.source",
    "PageLimits": "engine.pagination",
}


def __getattr__(name: str) -> Any:
    """The source API, imported on first use: ``python -m engine`` imports this package first,
    and a command that needs less (``spec``) should not wait for it."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


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
