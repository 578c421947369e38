"""SubstreamPartitionRouter (2022: SubstreamSlicer): one partition per record of a parent stream.

The parent is a full stream, read through its own retriever, slice after slice; every parent
record that has the parent key yields ``{partition_field: value, "parent_slice": <the parent's
partition>}``, as soon as the parent's page holding it has arrived. The parent's partition is
its router's part of the slice (``{}`` for a parent sliced only by dates): as in today's
reference runner, the parent's date window is not part of it, so that a child's per-partition
state keeps matching from one read to the next. A parent with
``incremental_dependency`` is read from the state it had at the end of the previous read, so only
parents changed since then produce partitions. A parent config with ``lazy_read_pointer`` puts
the child list the parent record embeds at that path into the partition's extra fields (under
`CHILD_RESPONSE`): the child reads it as its first page (see engine.streams.retriever).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.slicing.base import CHILD_RESPONSE, Cursor, SingleSlice, Slice
from engine.slicing.router import EXTRA_FIELDS, PartitionRouter
from engine.streams.stream import Stream

_MISSING = object()


@dataclass
class ParentStreamConfig:
    stream: Stream
    parent_key: tuple[str, ...]  # a path into the parent record ("a/b" -> ("a", "b"))
    partition_field: str
    request_option: RequestOption | None = None
    incremental_dependency: bool = False
    extra_fields: tuple[tuple[str, ...], ...] = ()
    lazy_read_pointer: tuple[str, ...] = ()


@dataclass
class SubstreamPartitionRouter(PartitionRouter):
    parent_stream_configs: Sequence[ParentStreamConfig]
    _parent_state: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @property
    def parent_stream_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(dict.fromkeys(c.stream.name for c in self.parent_stream_configs))

    def iter_partitions(self, parent_state: Mapping[str, Any]) -> Iterator[Slice]:
        states: dict[str, Any] = {}
        for config in self.parent_stream_configs:
            parent = config.stream
            incremental = config.incremental_dependency and parent.cursor is not None
            start_state = parent_state.get(parent.name) if incremental else None
            for parent_slice in parent.slices(start_state or None):
                parent_partition = parent.slicer.partition(parent_slice)
                for record in parent.read_slice(parent_slice):
                    partition = _partition(config, record, parent_partition)
                    if partition is not None:
                        yield partition
                if parent.cursor is not None:
                    parent.cursor.close_slice(parent_slice)
            if incremental:
                states[parent.name] = parent.cursor.state()  # type: ignore[union-attr]
        self._parent_state = states  # only once every parent was read to the end

    def parent_state(self) -> dict[str, Any]:
        return dict(self._parent_state)

    def partition_for_value(self, value: str) -> Slice | None:
        """The partition of the parent record whose key is ``value`` (as text), built without
        reading the parent when nothing else goes into it: one parent, no extra fields, and a
        parent not partitioned by a router of its own (its partition is then ``{}``). None when
        the parent must be read to find it. The value takes the type the parent's schema gives
        its key (an integer id stays an integer, as in a full read)."""
        if len(self.parent_stream_configs) != 1:
            return None
        config = self.parent_stream_configs[0]
        slicer = config.stream.slicer
        unrouted = isinstance(slicer, SingleSlice) or (
            isinstance(slicer, Cursor) and type(slicer).partition is Cursor.partition
        )
        if config.extra_fields or config.lazy_read_pointer or not unrouted:
            return None
        return {config.partition_field: _typed(value, config), "parent_slice": {}}

    def request_options(self, stream_slice: Mapping[str, Any]) -> RequestOptions:
        options = EMPTY
        for config in self.parent_stream_configs:
            if config.request_option is not None and config.partition_field in stream_slice:
                options = options.merge(
                    config.request_option.options_for(stream_slice[config.partition_field])
                )
        return options


def _partition(
    config: ParentStreamConfig, record: Mapping[str, Any], parent_partition: Slice
) -> Slice | None:
    value = dig(record, config.parent_key)
    if value is _MISSING:
        return None
    partition: Slice = {config.partition_field: value, "parent_slice": dict(parent_partition)}
    extra = {
        ".".join(path): (None if (found := dig(record, path)) is _MISSING else found)
        for path in config.extra_fields
    }
    if config.lazy_read_pointer:  # as the reference: an absent list is an empty one
        embedded = dig(record, config.lazy_read_pointer)
        extra = {CHILD_RESPONSE: [] if embedded is _MISSING else embedded, **extra}
    if extra:
        partition[EXTRA_FIELDS] = extra
    return partition


def _typed(value: str, config: ParentStreamConfig) -> Any:
    """``value`` as the parent's schema types its key: an integer when it says integer."""
    node: Any = config.stream.json_schema
    for part in config.parent_key:
        node = (node.get("properties") or {}).get(part) if isinstance(node, Mapping) else None
    declared = node.get("type") if isinstance(node, Mapping) else None
    types = {declared} if isinstance(declared, str) else set(declared or ())
    if "integer" in types and value.lstrip("-").isdigit():
        return int(value)
    return value


def dig(record: Any, path: Sequence[str]) -> Any:
    """The value at ``path`` in nested dicts/lists, or ``_MISSING``."""
    node = record
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and _is_index(part, len(node)):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _is_index(part: str, length: int) -> bool:
    return part.lstrip("-").isdigit() and -length <= int(part) < length
