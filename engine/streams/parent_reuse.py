"""Reading a parent stream's pages once per check or read, however many streams need them.

A stream that slices by a parent (SubstreamPartitionRouter) reads the parent's records; a read of
several children of one parent, or of the parent and its children, would fetch the same parent
pages again for each. As in the reference runner, the requests of parent streams go through a
response cache (`engine/http/response_cache.py`), so the repeats are answered from it. The cache
exists only while a check, or a read of streams that share a parent, runs: a read of one stream
fetches each page once anyway and keeps nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loading a manifest marks parents without importing the HTTP machinery
    from engine.http.client import HttpClient
    from engine.http.response_cache import ResponseCache
    from engine.streams.stream import Stream


def mark_parent_requesters(streams: list[Any]) -> None:
    """Set ``use_cache`` on the requesters the reference runner caches, unless a manifest
    turned it off (``use_cache: false``: APIs whose scrolling pages must not be replayed).

    As in the reference: the parents named in the partition routers of the manifest's streams
    (also inside cartesian, union and grouping routers), and the manifest's streams that are
    such a parent; both halves of a StateDelegatingStream. A parent's own parents, defined
    inside it, are not marked (the reference does not cache them either).
    """
    parents = []
    for stream in streams:
        for router in _routers((stream.get("retriever") or {}).get("partition_router")):
            parents.extend(
                config["stream"]
                for config in router.get("parent_stream_configs") or []
                if isinstance(config, Mapping) and isinstance(config.get("stream"), Mapping)
            )
    names = {_name(parent) for parent in parents}
    for stream in [*parents, *(s for s in streams if _name(s) in names)]:
        for part in (stream.get("full_refresh_stream"), stream.get("incremental_stream"), stream):
            requester = ((part or {}).get("retriever") or {}).get("requester")
            if isinstance(requester, dict) and requester.get("use_cache") is not False:
                requester["use_cache"] = True


def _routers(router: Any) -> Iterator[Mapping[str, Any]]:
    pending = list(router) if isinstance(router, list) else [router]
    while pending:
        current = pending.pop()
        if not isinstance(current, Mapping):
            continue
        yield current
        pending.extend(current.get("partition_routers") or [])
        if current.get("underlying_partition_router"):
            pending.append(current["underlying_partition_router"])


def _name(stream: Mapping[str, Any]) -> Any:
    return stream.get("name") or (stream.get("$parameters") or {}).get("name")


def shares_a_parent(streams: Mapping[str, Stream], selected: Iterable[str]) -> bool:
    """Whether reading ``selected`` would read some stream's pages more than once: a parent
    read by two children, or read as a stream and as a parent."""
    reads: Counter[str] = Counter()
    pending = list(selected)
    while pending:
        name = pending.pop()
        reads[name] += 1
        stream = streams.get(name)
        if stream is not None:
            pending.extend(getattr(stream, "parent_streams", None) or ())
    return any(count > 1 for count in reads.values())


@contextmanager
def parent_responses_reused(client: HttpClient) -> Iterator[ResponseCache]:
    """Keep parent responses on ``client`` for the duration of the block, then drop them."""
    if client.response_cache is not None:  # an enclosing check or read already keeps them
        yield client.response_cache
        return
    from engine.http.response_cache import ResponseCache

    cache = client.response_cache = ResponseCache()
    try:
        yield cache
    finally:
        client.response_cache = None
        cache.close()
