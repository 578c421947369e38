"""Record transformations, applied in manifest order to every record a stream reads.

Each transformation is a small callable ``(record, context) -> record``; context carries the
slice (``stream_slice``, ``stream_partition``, ``stream_interval``). Templates were compiled
when the manifest was built.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.templates.interpolation import InterpolatedBoolean, InterpolatedString

Record = dict[str, Any]
_VALUE_TYPES = {"string": str, "number": float, "integer": int, "boolean": bool}


@dataclass(frozen=True)
class AddedField:
    path: tuple[str, ...]
    value: InterpolatedString
    value_type: str | None = None


@dataclass
class AddFields:
    config: Mapping[str, Any]
    fields: Sequence[AddedField]
    condition: InterpolatedBoolean | None = None

    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record:
        for added in self.fields:
            valid = (_VALUE_TYPES[added.value_type],) if added.value_type in _VALUE_TYPES else None
            value = added.value.eval(self.config, valid_types=valid, record=record, **context)
            if valid and value not in (None, "") and not isinstance(value, valid):
                value = _cast(value, added.value_type or "")
            if self.condition is not None and not self.condition.eval(
                self.config, record=record, value=value, path=list(added.path), **context
            ):
                continue
            target = record
            for key in added.path[:-1]:
                child = target.get(key)
                if not isinstance(child, dict):
                    child = target[key] = {}
                target = child
            target[added.path[-1]] = value
        return record


def _cast(value: Any, value_type: str) -> Any:
    try:
        if value_type == "boolean":
            return str(value).lower() in ("true", "1", "yes")
        return _VALUE_TYPES[value_type](value)
    except (TypeError, ValueError):
        return value


@dataclass
class RemoveFields:
    config: Mapping[str, Any]
    pointers: Sequence[tuple[str, ...]]
    condition: InterpolatedBoolean | None = None

    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record:
        for pointer in self.pointers:
            self._remove(record, pointer)
        return record

    def _remove(self, node: Any, pointer: Sequence[str]) -> None:
        if not pointer:
            return
        head, rest = pointer[0], pointer[1:]
        if head == "**":
            # ``**`` matches any number of keys: a trailing one names every property below
            # ``node``, so children are visited before this level's properties are removed.
            for child in _children(node):
                self._remove(child, pointer)
            self._remove(node, rest or ("*",))
            return
        if isinstance(node, dict):
            keys = (
                [k for k in list(node) if fnmatch.fnmatchcase(str(k), head)]
                if _is_glob(head)
                else ([head] if head in node else [])
            )
            for key in keys:
                if rest:
                    self._remove(node[key], rest)
                elif self.condition is None or self.condition.eval(self.config, property=node[key]):
                    del node[key]
        elif isinstance(node, list):
            indexes = range(len(node)) if head == "*" else [int(head)] if head.isdigit() else []
            for index in sorted(indexes, reverse=True):
                if index < len(node):
                    if rest:
                        self._remove(node[index], rest)
                    elif self.condition is None or self.condition.eval(
                        self.config, property=node[index]
                    ):
                        del node[index]


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _children(node: Any) -> list:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def keys_to_lower(record: Record, context: Mapping[str, Any]) -> Record:
    return {str(k).lower(): v for k, v in record.items()}


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(key: str) -> str:
    words = _NON_WORD.sub(" ", _CAMEL.sub(" ", key)).split()
    text = "_".join(word.lower() for word in words)
    return f"_{text}" if text[:1].isdigit() else text


def keys_to_snake_case(record: Record, context: Mapping[str, Any]) -> Record:
    return {snake_case(str(k)): v for k, v in record.items()}


@dataclass(frozen=True)
class KeysReplace:
    old: str
    new: str

    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record:
        return _replace_keys(record, self.old, self.new)


def _replace_keys(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {str(k).replace(old, new): _replace_keys(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_keys(v, old, new) for v in value]
    return value


@dataclass(frozen=True)
class FlattenFields:
    """Lifts every nested value to the top level, named as the reference runner names it.

    A nested leaf keeps its own key (``{"address": {"city": x}}`` gives ``city``) so manifests
    and downstream columns see the names they were written for; it is named by its path
    (``address.city``) only when the bare key is taken, so a clash never overwrites a value.
    List items (with ``flatten_lists``) are named ``tags.0``, ``tags.1``, and everything under
    them keeps the full path, since bare keys of sibling items would always clash.
    """

    flatten_lists: bool = True

    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record:
        flat: Record = {}
        reserved = {str(key) for key in record}
        for key, value in record.items():
            self._flatten(value, str(key), flat, reserved, under_list=False)
        return flat

    def _flatten(
        self, value: Any, key: str, out: Record, reserved: set[str], *, under_list: bool
    ) -> None:
        if isinstance(value, dict) and value:
            for child_key, child in value.items():
                name = str(child_key)
                if under_list or name in out or name in reserved:
                    name = f"{key}.{name}"
                self._flatten(child, name, out, reserved, under_list=under_list)
        elif isinstance(value, list) and self.flatten_lists and value:
            for index, child in enumerate(value):
                self._flatten(child, f"{key}.{index}", out, reserved, under_list=True)
        else:
            while key in out:
                key = f"{key}_{len(out)}"
            out[key] = value


@dataclass(frozen=True)
class DpathFlattenFields:
    """Merges the object at ``path`` into the record, as the reference runner does.

    A ``*`` segment matches every key or item at its level: the first match is the object
    merged, and ``delete_origin_value`` deletes every match (as dpath deletes: a list item is
    popped when it is the last one, set to None otherwise, so the others keep their places).
    Keys are renamed with ``prefix`` and ``suffix``; ``replace_record`` makes the object the
    whole record. Merging keys the record already has would overwrite them: such a record is
    left as it was, origin value included.
    """

    path: tuple[str, ...]
    delete_origin_value: bool = False
    replace_record: bool = False
    prefix: str = ""
    suffix: str = ""

    def __call__(self, record: Record, context: Mapping[str, Any]) -> Record:
        matches = list(_matches(record, self.path))
        node = matches[0][2] if matches else None
        if not isinstance(node, dict):
            return record
        renamed = (
            {f"{self.prefix}{k}{self.suffix}": v for k, v in node.items()}
            if self.prefix or self.suffix
            else node
        )
        if self.replace_record and renamed:
            return renamed
        if renamed.keys() & record.keys():
            return record
        if self.delete_origin_value:
            for container, key, _ in matches:
                if isinstance(container, dict):
                    del container[key]
                elif key == len(container) - 1:
                    container.pop()
                else:
                    container[key] = None
        record.update(renamed)
        return record


def _matches(node: Any, path: Sequence[str]) -> Iterator[tuple[Any, Any, Any]]:
    """``(container, key, value)`` of every value at ``path``, in document order."""
    head, rest = path[0], path[1:]
    if head == "*":
        children = (
            list(node.items())
            if isinstance(node, dict)
            else list(enumerate(node))
            if isinstance(node, list)
            else []
        )
    elif isinstance(node, dict):
        children = [(head, node[head])] if head in node else []
    elif (
        isinstance(node, list)
        and head.lstrip("-").isdigit()
        and -len(node) <= int(head) < len(node)
    ):
        children = [(int(head) % len(node), node[int(head)])]
    else:
        children = []
    for key, value in children:
        if rest:
            yield from _matches(value, rest)
        else:
            yield node, key, value
