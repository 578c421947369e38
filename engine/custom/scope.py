"""Which connector package airbyte-cdk's default schema path names.

airbyte-cdk's ``JsonFileSchemaLoader``, given no ``file_path``, reads
``./<pkg>/schemas/<stream>.json``, where ``<pkg>`` is the first module in ``sys.modules`` whose
name contains ``source_``. The reference runs one connector per process, so that is the
connector's own package. One process here may hold several connectors (a Dagster code location
with two of them, a test suite), and Dagster's own module names contain ``source_``
(``dagster._core.definitions.resource_definition``): the first such module can be anybody's.

The rule kept here: while this engine builds a connector's airbyte-cdk components or calls
them, the default names that connector's own ``source_<pkg>`` package (the one beside its
manifest that its code was loaded from); a connector without one keeps airbyte-cdk's rule.

How: a context variable holds the current connector's package, set around each build and each
call into a component (:func:`scoped`), and airbyte-cdk's ``_default_file_path`` is wrapped
once (:func:`install`) to consult it. Why this mechanism:

- a context variable is per thread (and per asyncio task): the engine reads slices in a thread
  pool and two connectors may read at once in one process. A value set by a caller does not
  flow into pool threads, so it is set where the component is called, in the calling thread;
- setting and resetting it around a call costs about 0.25 µs, about 1% of the cheapest
  airbyte-cdk transformation of a record (an ``AddFields``: about 23 µs);
- reordering ``sys.modules`` instead would change a structure every thread shares (another
  connector's read, any import) and would stay changed between calls;
- airbyte-cdk looks the function up by name at each call (``JsonFileSchemaLoader.__post_init__``),
  so replacing the module attribute reaches every loader, built by its factory or by a
  connector's own code. In an airbyte-cdk version without that function nothing is wrapped,
  and that version's own rule stands.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Concatenate, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_PACKAGE: ContextVar[str | None] = ContextVar("connector_package", default=None)
_LOADER_MODULE = "airbyte_cdk.sources.declarative.schema.json_file_schema_loader"
_DEFAULT = "_default_file_path"
_install_lock = threading.Lock()


class ConnectorScope:
    """One per source: its connector's package, once its code has been loaded from one (read at
    each call, so adapters built before that still name it)."""

    __slots__ = ("package",)

    def __init__(self) -> None:
        self.package: str | None = None

    def call(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """``function(*args, **kwargs)`` with this connector's package as the default's."""
        token = _PACKAGE.set(self.package)
        try:
            return function(*args, **kwargs)
        finally:
            _PACKAGE.reset(token)

    def iterate(self, iterable: Iterable[T]) -> Iterator[T]:
        """The items of ``iterable``, each produced inside the scope (a generator runs its code
        at each ``next``, in whichever thread asks, after the call that made it returned)."""
        iterator = self.call(iter, iterable)
        while True:
            token = _PACKAGE.set(self.package)
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                _PACKAGE.reset(token)
            yield item


class _HasScope(Protocol):
    scope: ConnectorScope


S = TypeVar("S", bound=_HasScope)


def scoped(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """A method of an adapter that calls its component: run inside the adapter's ``scope``."""

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.scope.call(method, self, *args, **kwargs)

    return run


def scoped_iterator(
    method: Callable[Concatenate[S, P], Iterable[T]],
) -> Callable[Concatenate[S, P], Iterator[T]]:
    """A generator method of an adapter: each of its items is produced inside its ``scope``."""

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self.scope.iterate(method(self, *args, **kwargs))

    return run


def install() -> None:
    """Wrap airbyte-cdk's default schema path once per process (idempotent, thread-safe)."""
    try:
        module = importlib.import_module(_LOADER_MODULE)
    except ImportError:
        return  # an airbyte-cdk without this loader has no such default to keep right
    with _install_lock:
        original = getattr(module, _DEFAULT, None)
        if not callable(original) or getattr(original, "connector_scoped", False):
            return
        setattr(module, _DEFAULT, _scoped_default(original))


def _scoped_default(original: Callable[[], str]) -> Callable[[], str]:
    def default_file_path() -> str:
        package = _PACKAGE.get()
        if package is None:
            return original()
        # The layout airbyte-cdk's rule names, with the current connector's package.
        return f"./{package}/schemas/{{{{parameters['name']}}}}.json"

    default_file_path.connector_scoped = True  # type: ignore[attr-defined]
    return default_file_path
