"""What building a custom component needs from the engine's component factory that asks for it.

The factory (:class:`engine.factory.context.BuildContext`) calls into this package; this package
sees the factory only through this protocol, so the dependency points one way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from engine.errors import ManifestError
    from engine.http.client import HttpClient
    from engine.secrets import SecretMasker


class BuildHost(Protocol):
    """The build of one source: its config, HTTP client and masker, where its custom code may
    come from, and how nested (non-custom) components are built and errors located."""

    config: Mapping[str, Any]
    client: HttpClient
    masker: SecretMasker
    base_dir: Path
    file: str | None
    custom_modules: tuple[str, ...]

    def build(self, definition: dict, path: str) -> Any: ...

    def error(
        self,
        problem: str,
        definition: dict,
        key: str | None,
        path: str,
        *,
        expected: str | None = None,
    ) -> ManifestError: ...
