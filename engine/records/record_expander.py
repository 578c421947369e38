"""RecordExpander: each record of a page becomes the items of a list inside it, as airbyte-cdk 7
expands them (``DpathExtractor.record_expander``).

- ``expand_records_from_field`` is the path of the list in each record; ``*`` matches every key
  or index at its level, and the items of every list matched are emitted in order;
- an item that is an object is emitted as a copy; with ``remain_original_record`` it also
  carries a copy of the whole record under ``original_record`` (a scalar item then becomes
  ``{"value": item}``);
- a record whose path holds no list, or only empty ones, emits nothing, or itself unchanged
  with ``on_no_records: emit_parent``;
- a value that is not an object where records are expected passes through as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

ON_NO_RECORDS = ("skip", "emit_parent")


@dataclass(frozen=True)
class RecordExpander:
    path: tuple[str, ...]
    remain_original_record: bool = False
    emit_parent: bool = False

    def expand(self, record: Any) -> Iterator[Any]:
        if not isinstance(record, dict) or not self.path:
            yield record
            return
        found = 0
        for items in _values(record, self.path):
            if not isinstance(items, list):
                continue
            found += len(items)
            for item in items:
                if isinstance(item, dict):
                    yield self._with_parent(record, dict(item))
                elif self.remain_original_record:
                    yield self._with_parent(record, {"value": item})
                else:
                    yield item
        if found == 0 and self.emit_parent:
            yield record

    def _with_parent(self, record: dict, item: dict) -> dict:
        if self.remain_original_record:
            item["original_record"] = copy.deepcopy(record)
        return item


def _values(node: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every value at ``path`` (``*`` for any key or index), in document order."""
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        children = list(node.values()) if head == "*" else ([node[head]] if head in node else [])
    elif isinstance(node, list):
        children = list(node) if head == "*" else _at_index(node, head)
    else:
        return
    for child in children:
        yield from _values(child, rest)


def _at_index(items: list, segment: str) -> list:
    if not segment.lstrip("-").isdigit():
        return []
    index = int(segment)
    return [items[index]] if -len(items) <= index < len(items) else []
