"""QueryProperties: the list of fields a request asks the API for, split into chunks when the
API caps how many one request may name, and the chunked responses merged back into records.

The rules follow today's reference runner (airbyte-cdk 7):

- the names come from ``property_list`` (a list, or ``PropertiesFromEndpoint``: one read of
  another endpoint per stream, each record giving one name at ``property_field_path``);
- ``property_selector`` keeps only names the stream's schema lists (after its transformations);
- ``property_chunking`` cuts the names into chunks of at most ``property_limit`` names
  (``property_count``) or characters (``characters``: each name counts its length plus 3, for
  the encoded comma); ``always_include_properties`` open every chunk and do not count;
- each page is requested once per chunk (same page token), the chunk on the slice as
  ``extra_fields['query_properties']`` and, when the manifest put the component under a query
  parameter, that parameter set to the names joined by commas;
- with chunking, a page's records are merged by ``record_merge_strategy`` (``GroupByKey``,
  ``id`` by default; a record without every key value is emitted as is) and the merged records
  follow the unmerged ones, in the order their keys first appeared (key values are joined as
  text: the reference fails a stream whose key values are numbers, here they merge).

The selector reads the stream's own schema, which is what a catalog from ``discover`` holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.templates.interpolation import InterpolatedString

Record = dict[str, Any]
Transformation = Callable[[Record, Mapping[str, Any]], Record | None]

# What the reference adds to a name's length per name in ``characters`` chunking.
DELIMITER_CHARACTERS = 3


@dataclass
class PropertiesFromEndpoint:
    """Names read from another endpoint, once per stream (the reference caches them too)."""

    read_records: Callable[[], Iterator[Mapping[str, Any]]]
    field_path: Sequence[InterpolatedString]
    config: Mapping[str, Any]
    _names: list[str] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def names(self) -> list[str]:
        with self._lock:  # slices read at once share one endpoint read
            if self._names is None:
                path = [str(part.eval(self.config)) for part in self.field_path]
                # As the reference: a record without the path gives "[]", kept as a name.
                self._names = [_name_at(record, path) for record in self.read_records()]
            return self._names


def _name_at(record: Any, path: Sequence[str]) -> str:
    """The value at ``path`` as text; ``"[]"`` where there is none, as the reference gives."""
    node = record
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return "[]"
        node = node[part]
    return str(node)


@dataclass
class SchemaPropertySelector:
    """The names the stream's schema lists, after the selector's transformations."""

    load_schema: Callable[[], Mapping[str, Any]]
    transformations: Sequence[Transformation] = ()

    def select(self) -> set[str]:
        properties: Record | None = dict(self.load_schema().get("properties") or {})
        for transformation in self.transformations:
            if properties is None:
                break
            properties = transformation(properties, {})
        return set(properties or {})


@dataclass(frozen=True)
class PropertyChunking:
    limit_type: str  # "property_count" or "characters"
    limit: int | None
    merge_keys: tuple[str, ...] = ("id",)

    def chunks(
        self, names: Sequence[str], always: Sequence[str], selected: set[str] | None
    ) -> Iterator[list[str]]:
        if not self.limit:  # no limit: one chunk, the selection not applied (as the reference)
            yield [*names, *always]
            return
        chunk, size = list(always), 0
        for name in names:
            if selected is not None and name not in selected:
                continue
            cost = len(name) + DELIMITER_CHARACTERS if self.limit_type == "characters" else 1
            if size + cost > self.limit:
                yield chunk
                chunk, size = list(always), 0
            chunk.append(name)
            size += cost
        yield chunk

    def merge_key(self, record: Mapping[str, Any]) -> str | None:
        values = []
        for key in self.merge_keys:
            value = record.get(key)
            if not value:
                return None
            values.append(str(value))
        return ",".join(values)


@dataclass
class QueryProperties:
    names: list[str] | PropertiesFromEndpoint
    always_include: list[str] = field(default_factory=list)
    chunking: PropertyChunking | None = None
    selector: SchemaPropertySelector | None = None
    parameter: str | None = None
    """The query parameter the chunk goes into (the request_parameters key that held it)."""

    def chunks(self) -> Iterator[list[str]]:
        names = self.names.names() if isinstance(self.names, PropertiesFromEndpoint) else self.names
        selected = self.selector.select() if self.selector is not None else None
        if self.chunking is not None:
            yield from self.chunking.chunks(names, self.always_include, selected)
            return
        kept = [n for n in names if n in selected] if selected is not None else list(names)
        yield [*self.always_include, *kept]


class MergedRecords:
    """The records of one page read in chunks: merged by key, the rest passed through."""

    def __init__(self, chunking: PropertyChunking | None) -> None:
        self._chunking = chunking
        self._merged: dict[str, Record] = {}

    def add(self, record: Record) -> bool:
        """Take ``record`` into a merged one; False when it is to be emitted as it is."""
        if self._chunking is None:
            return False
        key = self._chunking.merge_key(record)
        if key is None:
            return False
        deep_merge(self._merged.setdefault(key, {}), record)
        return True

    def records(self) -> list[Record]:
        return list(self._merged.values())


def deep_merge(target: MutableMapping[str, Any], source: Mapping[str, Any]) -> None:
    """Objects merge key by key; anything else (lists too) is replaced by the later value."""
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, MutableMapping) and isinstance(value, Mapping):
            deep_merge(current, value)
        else:
            target[key] = value
