"""Safe YAML loading that remembers where every mapping came from.

Manifest errors must name the file and line of the offending component. PyYAML's safe loader
knows node positions only while it constructs; we keep them by building mappings as
:class:`LocatedDict`, a plain ``dict`` that also carries its own line and the line of each key.
Anchors, aliases and merge keys work as in any YAML file. Alias expansion and document size are
bounded, so a hostile manifest ("billion laughs") fails fast instead of exhausting memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from engine.errors import ManifestError

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_NODES = 2_000_000


class LocatedDict(dict):
    """A mapping that remembers the line it starts on and the line of each of its keys."""

    __slots__ = ("key_lines", "line")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.key_lines: dict[str, int] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> LocatedDict:
        from copy import deepcopy

        copied = LocatedDict()
        memo[id(self)] = copied
        for key, value in self.items():
            copied[key] = deepcopy(value, memo)
        copied.line = self.line
        copied.key_lines = self.key_lines
        return copied

    def __reduce__(self):  # pickling keeps plain dict semantics
        return (dict, (dict(self),))


def line_of(node: Any, key: str | None = None) -> int | None:
    """The 1-based line of ``node`` (or of ``node[key]``) when it was read from YAML."""
    if isinstance(node, LocatedDict):
        if key is not None and key in node.key_lines:
            return node.key_lines[key]
        return node.line
    return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that builds LocatedDicts and counts the nodes it expands."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._constructed = 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        self._constructed += 1
        if self._constructed > MAX_NODES:
            raise ManifestError(
                f"the document expands to more than {MAX_NODES:,} YAML nodes",
                expected="a manifest without runaway anchors/aliases",
                line=node.start_mark.line + 1,
            )
        return super().construct_object(node, deep)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    mapping = LocatedDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ManifestError(
                "a mapping key is not a plain value", line=key_node.start_mark.line + 1
            ) from None
        if isinstance(key, (int, float, bool)) or key is None:
            key = str(key) if key is not None else "null"
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Dates stay text: templates and datetime formats expect the characters the author wrote.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_text(text: str, *, file: str | None = None) -> Any:
    """Parse manifest text; YAML syntax errors become ManifestErrors with a line."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ManifestError(
            f"the manifest is {len(text):,} bytes, larger than the {MAX_DOCUMENT_BYTES:,} allowed",
            file=file,
        )
    try:
        return yaml.load(text, Loader=_Loader)
    except ManifestError as error:
        error.file = file
        raise ManifestError(
            error.problem, file=file, line=error.line, expected=error.expected
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise ManifestError(
            f"invalid YAML: {error.problem or error.context}",
            file=file,
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as error:
        raise ManifestError(f"invalid YAML: {error}", file=file) from None
    except RecursionError:
        raise ManifestError("the YAML document is nested too deeply", file=file) from None


def load_yaml_file(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read the manifest: {error.strerror}", file=str(path)) from None
    return load_yaml_text(text, file=str(path))
