"""Which lazily read children airbyte-cdk 7 refuses to read on a first sync.

A child whose retriever's ``partition_router`` is one SubstreamPartitionRouter with a
``lazy_read_pointer`` takes, on a first sync, the list its parent record embeds as its first page
(see :mod:`engine.slicing.substream`). That list is one page per parent, not one per date window,
and it is JSON already. So airbyte-cdk 7 (``ModelToComponentFactory.create_simple_retriever``)
refuses such a first sync when the stream has a cursor other than a ``DatetimeBasedCursor``, a
``DatetimeBasedCursor`` with a ``step`` or a ``cursor_granularity`` (several windows per parent),
or a retriever ``decoder`` other than ``JsonDecoder``. From the second sync on it requests every
page and reads such a stream. The engine refuses the same reads, naming the field.

A lazily read child has no page of its own to ask again with a smaller size, so airbyte-cdk 7
refuses ``page_size_reduction`` (or a REDUCE_PAGE_SIZE response filter) beside a
``lazy_read_pointer`` at build, whatever the state: :func:`refuse_lazy_page_size_reduction`.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UnsupportedComponentError
from engine.factory.context import BuildContext
from engine.factory.page_size import uses_reduce_page_size
from engine.manifest.yaml_loader import line_of


def lazy_read_refusal(
    ctx: BuildContext, stream: dict, path: str
) -> UnsupportedComponentError | None:
    """The error a first sync of ``stream`` (at ``path``) raises when it would read a parent's
    embedded list, or None when airbyte-cdk 7 reads it."""
    retriever = stream["retriever"]
    pointer = lazy_pointer_path(retriever, f"{path}.retriever")
    if pointer is None:
        return None
    cursor = stream.get("incremental_sync")
    decoder = retriever.get("decoder")
    if isinstance(cursor, dict) and cursor.get("type") != "DatetimeBasedCursor":
        problem = f"its incremental_sync is a {cursor.get('type')}, not a DatetimeBasedCursor"
        where, holder, key = f"{path}.incremental_sync", stream, "incremental_sync"
    elif isinstance(cursor, dict) and (cursor.get("step") or cursor.get("cursor_granularity")):
        key = "step" if cursor.get("step") else "cursor_granularity"
        problem = f"its DatetimeBasedCursor has a {key} (more than one window per parent)"
        where, holder = f"{path}.incremental_sync", cursor
    elif isinstance(decoder, dict) and decoder.get("type") != "JsonDecoder":
        problem = f"its decoder is a {decoder.get('type')}, not a JsonDecoder"
        where, holder, key = f"{path}.retriever", retriever, "decoder"
    else:
        return None
    return UnsupportedComponentError(
        f"a first sync (no state) reads this stream lazily from its parent ({pointer}), and "
        f"{problem}: airbyte-cdk 7 refuses that read",
        path=f"{where}.{key}",
        file=ctx.file,
        line=line_of(holder, key),
        expected="a DatetimeBasedCursor without step and cursor_granularity and a JSON decoder, "
        "a state to resume from, or no lazy_read_pointer",
    )


def refuse_lazy_page_size_reduction(ctx: BuildContext, retriever: dict, path: str) -> None:
    """Raise when the retriever ``retriever`` (at ``path``) reads its parent lazily and may
    reduce its page size."""
    pointer = lazy_pointer_path(retriever, path)
    if pointer is None:
        return
    if retriever.get("page_size_reduction"):
        where, holder, key = path, retriever, "page_size_reduction"
    elif uses_reduce_page_size(retriever.get("requester")):
        where, holder, key = f"{path}.requester", retriever["requester"], "error_handler"
    else:
        return
    raise UnsupportedComponentError(
        f"this stream reads its parent lazily ({pointer}) and may reduce its page size: a lazily "
        "read page cannot be asked again smaller, and airbyte-cdk 7 refuses the two together",
        path=f"{where}.{key}",
        file=ctx.file,
        line=line_of(holder, key),
        expected="either page_size_reduction (with its REDUCE_PAGE_SIZE filter) or "
        "lazy_read_pointer",
    )


def lazy_pointer_path(retriever: dict, path: str) -> str | None:
    """The path of the first ``lazy_read_pointer`` that makes the reference read lazily: only
    one set in a SubstreamPartitionRouter that is the whole ``partition_router`` of a
    SimpleRetriever (inside a list of routers the reference requests every page). None: the
    retriever ``retriever`` (at ``path``) never reads lazily."""
    router: Any = retriever.get("partition_router")
    if retriever.get("type") != "SimpleRetriever" or not isinstance(router, dict):
        return None
    if router.get("type") != "SubstreamPartitionRouter":
        return None
    for index, config in enumerate(router.get("parent_stream_configs") or ()):
        if isinstance(config, dict) and config.get("lazy_read_pointer"):
            return f"{path}.partition_router.parent_stream_configs[{index}].lazy_read_pointer"
    return None
