"""Reference resolution for both dialects, in one pass over the document.

The 2022 dialect writes references as strings containing ``*ref(a.b.c)`` (dotted keys, where the
remaining text is first tried as a literal key, and list items as ``name[i]``); today's dialect
writes ``#/a/b/c`` (slash-separated, same literal-key-first rule, numeric segments index lists).
Both also overlay a mapping on a ``$ref`` target: the referenced mapping is copied, then the
sibling keys replace its top-level keys (a shallow merge).

Resolution is lazy and recursive, so forward references work in both dialects (the 2022 runtime
only allowed backward ones; accepting more is harmless). A reference that reaches itself raises
a ManifestError naming the chain.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from engine.errors import ManifestError, closest
from engine.manifest.yaml_loader import MAX_NODES, LocatedDict, line_of

_LEGACY_REF = re.compile(r"\*ref\(([^)]*)\)")
_INDEXED = re.compile(r"^(.*)\[(\d+)\]$")
VERBATIM_KEYS = frozenset({"config_overrides"})


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith("#/") or "*ref(" in value)


class ReferenceResolver:
    """Resolves every reference in a manifest document; targets are resolved once and copied."""

    def __init__(self, document: Any, *, file: str | None = None) -> None:
        self._document = document
        self._file = file
        self._copied = 0
        self._resolved: dict[str, Any] = {}
        self._in_progress: list[str] = []

    def resolve(self) -> Any:
        return self._resolve_node(self._document, "")

    # -- walking ---------------------------------------------------------------------------

    def _resolve_node(self, node: Any, path: str) -> Any:
        if isinstance(node, dict):
            return self._resolve_mapping(node, path)
        if isinstance(node, list):
            return [self._resolve_node(item, f"{path}[{i}]") for i, item in enumerate(node)]
        if is_reference(node):
            return self._target(node, path, line=None)
        return node

    def _resolve_mapping(self, node: dict, path: str) -> Any:
        """A mapping with its references resolved; ``{$ref: x}`` alone becomes x's value,
        whatever it is (a string, a number, a list), as in today's reference runner."""
        result: dict = LocatedDict()
        if isinstance(node, LocatedDict):
            result.line, result.key_lines = node.line, dict(node.key_lines)
        if "$ref" in node:
            target = self._target(node["$ref"], _join(path, "$ref"), line=line_of(node, "$ref"))
            siblings = [key for key in node if key != "$ref"]
            if not isinstance(target, dict) and not siblings:
                return target
            if not isinstance(target, dict):
                raise ManifestError(
                    f"$ref {node['$ref']!r} points to {_kind(target)}, and other keys "
                    f"({', '.join(map(str, siblings))}) are written beside it",
                    path=path,
                    file=self._file,
                    line=line_of(node, "$ref"),
                    expected="a reference to a mapping (only a mapping can take other keys), "
                    "or $ref alone",
                )
            result.update(target)
            if isinstance(target, LocatedDict):
                # Keys taken from the target are named at their own lines.
                result.key_lines = {**target.key_lines, **result.key_lines}
                if result.line is None:
                    result.line = target.line
        for key, value in node.items():
            if key == "$ref":
                continue
            if key in VERBATIM_KEYS:
                result[key] = copy.deepcopy(value)
            else:
                result[key] = self._resolve_node(value, _join(path, key))
        return result

    # -- targets ---------------------------------------------------------------------------

    def _target(self, reference: Any, path: str, line: int | None) -> Any:
        if not isinstance(reference, str):
            raise ManifestError(
                f"$ref must be a string, not {type(reference).__name__}",
                path=path,
                file=self._file,
                line=line,
                expected='"#/definitions/x" or "*ref(definitions.x)"',
            )
        if reference.startswith("#/"):
            key = reference
            segments_of = _pointer_segments
        else:
            match = _LEGACY_REF.search(reference)
            if not match:
                raise ManifestError(
                    f"malformed reference {reference!r}",
                    path=path,
                    file=self._file,
                    line=line,
                    expected='"#/a/b" or "*ref(a.b)"',
                )
            key = match.group(1).strip()
            segments_of = _dotted_segments
        if key in self._in_progress:
            chain = " -> ".join([*self._in_progress[self._in_progress.index(key) :], key])
            raise ManifestError(
                f"circular reference: {chain}",
                path=path,
                file=self._file,
                line=line,
                expected="references that do not lead back to themselves",
            )
        if key not in self._resolved:
            self._in_progress.append(key)
            try:
                raw = self._lookup(key, segments_of, path, line)
                self._resolved[key] = self._resolve_node(raw, _display(key))
            finally:
                self._in_progress.pop()
        target = self._resolved[key]
        self._copied += _size(target)
        if self._copied > MAX_NODES:
            raise ManifestError(
                f"references expand the manifest to more than {MAX_NODES:,} values",
                path=path,
                file=self._file,
                line=line,
                expected="a manifest whose references do not multiply without bound",
            )
        return copy.deepcopy(target)

    def _lookup(self, key: str, segments_of, path: str, line: int | None) -> Any:
        """Walk the document along ``key``, following references met on the way."""
        node = self._document
        remaining = key[2:] if key.startswith("#/") else key
        separator = "/" if key.startswith("#/") else "."
        walked: list[str] = []
        while remaining:
            if is_reference(node) or (isinstance(node, dict) and "$ref" in node):
                node = self._resolve_node(node, separator.join(walked))
            step, remaining = segments_of(node, remaining)
            if step is None:
                options = list(node.keys()) if isinstance(node, dict) else []
                first = remaining.split(separator, 1)[0]
                raise ManifestError(
                    f"reference {_display(key)!r} points to nothing: "
                    f"{separator.join([*walked, first]) or first!r} does not exist",
                    path=path,
                    file=self._file,
                    line=line,
                    expected="a path to an existing key",
                    suggestion=closest(first, options) if options else None,
                )
            name, index = step
            node = node[name] if index is None else node[name][index]
            walked.append(name if index is None else f"{name}[{index}]")
        return node


def _pointer_segments(node: Any, remaining: str) -> tuple[tuple[Any, int | None] | None, str]:
    """Next step of a ``#/a/b`` path: the whole remainder as a literal key first."""
    if isinstance(node, dict):
        if remaining in node:
            return (remaining, None), ""
        head, _, rest = remaining.partition("/")
        if head in node:
            return (head, None), rest
    if isinstance(node, list):
        head, _, rest = remaining.partition("/")
        if head.isdigit() and int(head) < len(node):
            return (int(head), None), rest
    return None, remaining


def _dotted_segments(node: Any, remaining: str) -> tuple[tuple[Any, int | None] | None, str]:
    """Next step of a ``*ref(a.b.c)`` path: the longest literal key wins, ``x[i]`` indexes."""
    if not isinstance(node, dict):
        return None, remaining
    parts = remaining.split(".")
    for cut in range(len(parts), 0, -1):
        candidate, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
        if candidate in node:
            return (candidate, None), rest
        indexed = _INDEXED.match(candidate)
        if indexed and isinstance(node.get(indexed.group(1)), list):
            items = node[indexed.group(1)]
            if int(indexed.group(2)) < len(items):
                return (indexed.group(1), int(indexed.group(2))), rest
    return None, remaining


def _size(node: Any) -> int:
    """How many values a copy of ``node`` holds (what each use of a reference costs)."""
    if isinstance(node, dict):
        return 1 + sum(_size(value) for value in node.values())
    if isinstance(node, list):
        return 1 + sum(_size(value) for value in node)
    return 1


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a value of type {type(value).__name__}"


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _display(key: str) -> str:
    return key if key.startswith("#/") else f"*ref({key})"


def resolve_references(document: Any, *, file: str | None = None) -> Any:
    """Return a copy of ``document`` with every reference replaced by its target."""
    try:
        return ReferenceResolver(document, file=file).resolve()
    except RecursionError:
        raise ManifestError(
            "the manifest is nested too deeply to resolve",
            file=file,
            expected="fewer nesting levels",
        ) from None
