"""Paths inside a stream definition: finding, matching and writing the places a
``field_path`` names (literal keys, list indexes, ``*``-style wildcards and ``**``)."""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterator, Sequence
from typing import Any

from engine.manifest.components import is_json_schema


class PathProblem(ValueError):
    """A field_path that cannot be written in this stream definition."""


def children(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    if isinstance(node, list):
        return list(enumerate(node))
    return []


def child_at(node: Any, segment: str) -> tuple[bool, Any, Any]:
    """(found, key, child) for one literal segment; list items are addressed by their index."""
    if isinstance(node, dict) and segment in node:
        return True, segment, node[segment]
    if isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
        return True, int(segment), node[int(segment)]
    return False, None, None


def locate(root: Any, segments: Sequence[str]) -> tuple[Any, ...] | None:
    """The concrete keys of an existing literal path, or None."""
    node, keys = root, []
    for segment in segments:
        found, key, node = child_at(node, segment)
        if not found:
            return None
        keys.append(key)
    return tuple(keys)


def deepest(root: Any, segments: Sequence[str]) -> tuple[Any, int]:
    """The last node a literal path reaches, and the index of the segment it stops at."""
    node = root
    for depth, segment in enumerate(segments):
        found, _, child = child_at(node, segment)
        if not found:
            return node, depth
        node = child
    return node, len(segments)


def matching(node: Any, segments: Sequence[str], prefix: tuple = ()) -> Iterator[tuple]:
    """Existing paths a wildcard path matches: ``*`` and friends match one key, ``**`` any
    number of keys (none included)."""
    if not segments:
        yield prefix
        return
    head, rest = segments[0], segments[1:]
    if head == "**":
        yield from matching(node, rest, prefix)
        for key, child in children(node):
            yield from matching(child, segments, (*prefix, key))
        return
    for key, child in children(node):
        if fnmatch.fnmatchcase(str(key), head):
            yield from matching(child, rest, (*prefix, key))


def value_at(root: Any, keys: tuple) -> Any:
    node = root
    for key in keys:
        node = node[key]
    return node


def in_json_schema(root: Any, keys: tuple) -> bool:
    """Whether the place ``keys`` leads to is a JSON schema or lies inside one (data)."""
    node = root
    for key in keys:
        if is_json_schema(node):
            return True
        node = node[key]
    return is_json_schema(node)


def assign(root: Any, keys: tuple, value: Any) -> None:
    node = root
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = copy.deepcopy(value)


def create(root: dict, segments: Sequence[str], value: Any) -> None:
    node: Any = root
    for depth, segment in enumerate(segments):
        last = depth == len(segments) - 1
        if isinstance(node, dict):
            if last:
                node[segment] = copy.deepcopy(value)
            elif not isinstance(node.get(segment), (dict, list)):
                if node.get(segment) is not None:
                    raise PathProblem(through_scalar(segments, depth, node[segment]))
                node[segment] = {}
            node = node.get(segment)
        elif isinstance(node, list):
            found, key, child = child_at(node, segment)
            if not found:
                raise PathProblem(
                    f"field_path {list(segments)} needs item {segment!r} of a list of "
                    f"{len(node)}; only mapping keys can be created"
                )
            if last:
                node[key] = copy.deepcopy(value)
            node = child
        else:
            raise PathProblem(through_scalar(segments, depth - 1, node))


def through_scalar(segments: Sequence[str], depth: int, value: Any) -> str:
    where = ".".join(segments[: depth + 1])
    return (
        f"field_path {list(segments)} goes through {where}, which is "
        f"{type(value).__name__} {value!r}, not a mapping"
    )
