"""Building runtime objects from the normalised manifest, once per source.

Each module registers builders for one family of components (``@builds("HttpRequester")``); the
asynchronous retriever's and dynamic streams' modules are imported when a manifest first names
one of their types (see `context.LATER`), which spares every other start-up their imports;
:class:`~engine.factory.context.BuildContext` dispatches on a component's ``type``. Everything a
builder needs at run time (templates, options, strategies) is compiled here, so the read loop
only calls methods on ready objects.
"""

from engine.factory import (  # noqa: F401  (registers the builders)
    http,
    records,
    responses,
    streams,
)
from engine.factory.context import BuildContext

__all__ = ["BuildContext"]
