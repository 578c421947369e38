"""Which Python code a manifest may run, and importing it.

Two places may hold a manifest's custom classes (``class_name``), and nothing else:

- the modules the user names (``custom_component_modules``), importable as usual;
- the code that ships beside the manifest, laid out as connector packages are: a
  ``components.py`` next to ``manifest.yaml`` (its classes named ``components.X`` or
  ``source_declarative_manifest.components.X``), or a ``source_<pkg>/`` package next to it
  (``source_<pkg>.components.X``, ``source_<pkg>.any.module.X``).

Code beside a manifest is imported from that folder under its own name, so it never depends on
``sys.path`` and a module of the same name elsewhere is never picked up instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from engine.custom.scope import ConnectorScope

# The reference runner registers a connector's components.py under both names.
COMPONENTS_MODULE = "components"
MANIFEST_PACKAGE = "source_declarative_manifest"
EXTRA = "dagster-declarative[airbyte]"


class MissingExtraError(ImportError):
    """The code of a custom component imports airbyte-cdk, which is not installed."""


class CustomCode:
    """The custom modules one manifest may import: those allowed, and those beside it."""

    def __init__(self, base_dir: Path | None, allowed: tuple[str, ...]) -> None:
        self.base_dir = base_dir
        self.allowed = allowed
        self._beside: dict[str, Path] | None = None
        # The connector's own package: the first source_<pkg> beside the manifest its code is
        # loaded from (in the reference's process, the first such module imported).
        self.scope = ConnectorScope()

    @property
    def beside(self) -> dict[str, Path]:
        """Top-level module name -> its file or package folder, for the code beside the manifest."""
        if self._beside is None:
            found: dict[str, Path] = {}
            if self.base_dir is None:
                self._beside = found
                return found
            components = self.base_dir / "components.py"
            if components.is_file():
                found[COMPONENTS_MODULE] = components
            for package in sorted(self.base_dir.glob("source_*")):
                if package.is_dir() and package.name.isidentifier():
                    found[package.name] = package
            self._beside = found
        return self._beside

    def module_of(self, class_name: str) -> str | None:
        """The module to import for ``class_name``, or None when it may not load."""
        module, _, attribute = class_name.rpartition(".")
        if not module or not attribute:
            return None
        if module == f"{MANIFEST_PACKAGE}.{COMPONENTS_MODULE}" and COMPONENTS_MODULE in self.beside:
            return COMPONENTS_MODULE
        if module.split(".")[0] in self.beside:
            return module
        if any(module == m or module.startswith(m + ".") for m in self.allowed):
            return module
        return None

    def load_class(self, class_name: str) -> Any:
        """Import the class (the module must be allowed: check :meth:`module_of` first)."""
        module_name = self.module_of(class_name)
        assert module_name is not None
        top = module_name.split(".")[0]
        if top in self.beside and top.startswith("source_") and self.scope.package is None:
            self.scope.package = top
        try:
            if top in self.beside:
                self.scope.call(_register_beside, top, self.beside[top])
            module = self.scope.call(importlib.import_module, module_name)
        except ImportError as error:
            if _is_cdk(getattr(error, "name", None) or ""):
                raise MissingExtraError(str(error)) from None
            raise
        attribute = class_name.rpartition(".")[2]
        return getattr(module, attribute)


def custom_parts(definition: Any) -> Iterator[dict]:
    """Every component with a ``class_name`` inside a definition, outermost first (a custom
    component may nest others)."""
    if isinstance(definition, dict):
        if isinstance(definition.get("class_name"), str):
            yield definition
        for key, value in definition.items():
            if key != "$parameters":
                yield from custom_parts(value)
    elif isinstance(definition, list):
        for item in definition:
            yield from custom_parts(item)


def cdk_version() -> str | None:
    """The installed airbyte-cdk's version, None when it cannot be imported (only asked once a
    manifest's component needs it)."""
    from importlib import metadata

    try:
        importlib.import_module("airbyte_cdk")
        return metadata.version("airbyte-cdk")
    except (ImportError, metadata.PackageNotFoundError):
        return None


def _is_cdk(module_name: str) -> bool:
    return module_name == "airbyte_cdk" or module_name.startswith("airbyte_cdk.")


def is_cdk_class(cls: Any) -> bool:
    """A class written against airbyte-cdk: it or one of its bases comes from there."""
    return isinstance(cls, type) and any(
        _is_cdk(getattr(base, "__module__", "")) for base in cls.__mro__
    )


def _register_beside(name: str, location: Path) -> None:
    """Import ``name`` from ``location`` (a file or package folder) under that exact name."""
    current = sys.modules.get(name)
    if current is not None and _location_of(current) == location.resolve():
        return
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    if location.is_dir() and not (location / "__init__.py").is_file():
        package = ModuleType(name)
        package.__path__ = [str(location)]
        sys.modules[name] = package
        return
    if location.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, location / "__init__.py", submodule_search_locations=[str(location)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, location)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def _location_of(module: ModuleType) -> Path | None:
    paths = list(getattr(module, "__path__", []) or [])
    if paths:
        return Path(paths[0]).resolve()
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None
