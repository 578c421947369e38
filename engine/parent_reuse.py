"""Reading a parent stream's pages once per check or read, however many streams need them.

A stream that slices by a parent (SubstreamPartitionRouter) reads the parent's records; a read of
several children of one parent, or of the parent and its children, would fetch the same parent
pages again for each. As in the reference runner, the requests of every stream that is some
stream's parent go through a response cache (`engine/http/response_cache.py`), so the repeats
are answered from it. The cache exists only while a check, or a read of streams that share a
parent, runs: a read of one stream fetches each page once anyway and keeps nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from engine.http.client import HttpClient
from engine.http.response_cache import ResponseCache
from engine.stream import Stream


def parent_stream_names(definition: Any) -> frozenset[str]:
    """Names of the streams some SubstreamPartitionRouter of the manifest reads as a parent."""
    names: set[str] = set()
    for node in _mappings(definition):
        if node.get("type") != "SubstreamPartitionRouter":
            continue
        for config in node.get("parent_stream_configs") or []:
            stream = config.get("stream") if isinstance(config, Mapping) else None
            if isinstance(stream, Mapping):
                name = stream.get("name") or (stream.get("$parameters") or {}).get("name")
                if isinstance(name, str):
                    names.add(name)
    return frozenset(names)


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
    cache = client.response_cache = ResponseCache()
    try:
        yield cache
    finally:
        client.response_cache = None
        cache.close()


def _mappings(node: Any, seen: set[int] | None = None) -> Iterator[Mapping[str, Any]]:
    """Every mapping in ``node``, each once (resolved references share their nodes)."""
    seen = set() if seen is None else seen
    if not isinstance(node, Mapping | list) or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Mapping):
        yield node
    for value in node.values() if isinstance(node, Mapping) else node:
        yield from _mappings(value, seen)
