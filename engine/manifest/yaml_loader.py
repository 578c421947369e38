"""Safe YAML loading that remembers where every mapping came from.

Manifest errors must name the file and line of the offending component. PyYAML's safe loader
knows node positions only while it constructs; we keep them by building mappings as
:class:`LocatedDict`, a plain ``dict`` that also carries its own line and the line of each key.
Anchors, aliases and merge keys work as in any YAML file. Alias expansion and document size are
bounded, so a hostile manifest ("billion laughs") fails fast instead of exhausting memory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from engine.errors import ManifestError
from engine.manifest.input_files import read_input_text

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
MAX_NODES = 2_000_000
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    """SafeLoader that builds LocatedDicts and refuses documents whose aliases expand too far.

    PyYAML shares one object per anchor, so a "billion laughs" document loads in microseconds;
    the cost comes later, when reference resolution and normalisation walk (and copy) the tree
    as if every alias were written out. The check therefore measures the *expanded* size on the
    composed node graph, before anything is constructed.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return self.construct_document(node)


def _check_expanded_size(root: yaml.Node) -> None:
    """Count the nodes of ``root`` with every alias written out; linear in the graph's size.

    Sizes are memoised per node object (an alias is the same node as its anchor), so a document
    whose aliases nest nine levels deep costs nine small sums, not a billion visits.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if isinstance(node, yaml.ScalarNode) and _SURROGATE.search(node.value):
            raise ManifestError(
                "a string holds a lone UTF-16 surrogate (an escape such as \\ud800), which is "
                "no character",
                line=node.start_mark.line + 1,
            )
        if not children_done:
            if id(node) in open_nodes:
                continue
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        # A child still unsized here is an ancestor: the anchor refers to itself, which the
        # constructor rejects with its own message; count it once.
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > MAX_NODES:
            raise ManifestError(
                f"the document expands to more than {MAX_NODES:,} YAML nodes",
                expected="a manifest without runaway anchors/aliases",
                line=node.start_mark.line + 1,
            )
        sizes[id(node)] = total


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


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
    """A manifest (or spec) file: a regular UTF-8 file of at most MAX_DOCUMENT_BYTES."""
    text = read_input_text(path, "manifest", limit=MAX_DOCUMENT_BYTES, error=ManifestError)
    return load_yaml_text(text, file=str(path))
