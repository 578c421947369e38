"""Loading a manifest: read it, resolve references, normalise it once, check what needs no config.

:func:`load_manifest` is the one loader. ``explain`` and the Dagster integration ask it to
``skip_unsupported``: a stream (or dynamic stream) that asks for a component the engine refuses
is then dropped and named in the manifest's ``left_out``, instead of failing the whole manifest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.errors import UnsupportedComponentError
from engine.manifest.normalize import normalize_manifest
from engine.manifest.references import resolve_references
from engine.manifest.yaml_loader import load_yaml_file, load_yaml_text
from engine.streams.parent_reuse import mark_parent_requesters

_PATH_HEAD = re.compile(r"^([A-Za-z_]+)(?:\[(\d+)\])?")


@dataclass(frozen=True)
class StreamProblem:
    """Why one stream of a manifest cannot be built: its name, component path and the reason."""

    stream: str
    path: str
    reason: str


@dataclass
class Manifest:
    """A loaded, resolved and normalised manifest (independent of any config)."""

    definition: dict[str, Any]
    base_dir: Path
    file: str | None = None
    warnings: list[str] = field(default_factory=list)
    left_out: list[StreamProblem] = field(default_factory=list)
    """Streams dropped while loading because they use a component the engine refuses
    (``load_manifest(..., skip_unsupported=True)``)."""
    removed: dict[str, list[int]] = field(default_factory=dict)
    """The original indexes of the entries dropped from each top-level list."""

    @property
    def digest(self) -> str:
        """A short, stable hash of the resolved definition (a scheduler's code version)."""
        text = orjson.dumps(self.definition, option=orjson.OPT_SORT_KEYS, default=str)
        return hashlib.sha256(text).hexdigest()[:16]

    @property
    def spec(self) -> dict[str, Any]:
        return self.definition.get("spec") or {}

    @property
    def stream_definitions(self) -> list[dict[str, Any]]:
        return list(self.definition.get("streams") or [])

    @property
    def dynamic_stream_definitions(self) -> list[dict[str, Any]]:
        return list(self.definition.get("dynamic_streams") or [])

    @property
    def lists_streams_from_api(self) -> bool:
        """Whether building the streams sends requests: a dynamic stream listed from the API
        (an HttpComponentsResolver) needs the credentials as soon as the streams are built."""
        return any(
            (definition.get("components_resolver") or {}).get("type") == "HttpComponentsResolver"
            for definition in self.dynamic_stream_definitions
        )

    def original_index(self, key: str, index: int) -> int:
        """The index entry ``index`` of the top-level list ``key`` had in the file, before
        the entries in front of it were left out."""
        return _original_index(index, self.removed.get(key, []))


def load_manifest(
    manifest: str | Path | Mapping[str, Any],
    *,
    strict: bool = False,
    skip_unsupported: bool = False,
) -> Manifest:
    """Load a manifest from a file path, YAML text, or an already-parsed mapping.

    Keys the format does not define are warnings (``Manifest.warnings``), as in today's
    reference runner, or errors when ``strict``. With ``skip_unsupported``, each stream that
    uses a component the engine refuses is left out (``Manifest.left_out`` says why) and the
    others load.
    """
    document, base_dir, file = _read_document(manifest)
    resolved = resolve_references(document, file=file)
    removed: dict[str, list[int]] = {}
    left_out: list[StreamProblem] = []
    while True:  # every refusal removes one entry of the document, so this ends
        try:
            definition, warnings = normalize_manifest(resolved, file=file, strict=strict)
            if _has_dynamic_streams(definition):
                from engine.manifest.dynamic_streams import check_dynamic_streams

                check_dynamic_streams(definition, file)
            break
        except UnsupportedComponentError as error:
            if not skip_unsupported:
                raise
            original = _original_error(error, removed)
            name = _entry_name(resolved, error.path) or original.path
            left_out.append(StreamProblem(name, original.path, str(original)))
            if not _remove_entry(resolved, error.path, removed):
                raise original from None
    mark_parent_requesters(list(definition.get("streams") or []))
    if not definition.get("spec") and file is not None:
        definition["spec"] = _packaged_spec(base_dir)
    return Manifest(definition, base_dir, file, warnings, left_out, removed)


def _read_document(manifest: str | Path | Mapping[str, Any]) -> tuple[Any, Path, str | None]:
    """The parsed document, the folder its relative paths start from, and its file name.

    A one-line string ending in .yaml, .yml or .json names a file; any other string is YAML.
    """
    if isinstance(manifest, Mapping):
        return dict(manifest), Path.cwd(), None
    if isinstance(manifest, Path) or (
        "\n" not in manifest and manifest.endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(manifest)
        return load_yaml_file(path), path.resolve().parent, str(path)
    return load_yaml_text(str(manifest)), Path.cwd(), None


def _has_dynamic_streams(definition: Mapping[str, Any]) -> bool:
    check = definition.get("check") or {}
    return bool(
        definition.get("dynamic_streams")
        or check.get("type") == "CheckDynamicStream"
        or check.get("dynamic_streams_check_configs")
    )


def _packaged_spec(base_dir: Path) -> dict[str, Any]:
    """Connectors without a ``spec`` block ship ``spec.yaml``/``spec.json`` beside the manifest."""
    for name in ("spec.yaml", "spec.yml", "spec.json"):
        candidate = base_dir / name
        if candidate.is_file():
            loaded = load_yaml_file(candidate) or {}
            return {
                "connection_specification": loaded.get("connection_specification")
                or loaded.get("connectionSpecification")
                or {},
                "documentation_url": loaded.get("documentation_url")
                or loaded.get("documentationUrl"),
            }
    return {}


def _entry_name(document: Mapping[str, Any], path: str) -> str | None:
    """The declared name of the top-level entry (a stream) that ``path`` points into."""
    match = _PATH_HEAD.match(path)
    if not match or match.group(2) is None:
        return None
    entries = document.get(match.group(1))
    index = int(match.group(2))
    if (
        not isinstance(entries, list)
        or index >= len(entries)
        or not isinstance(entries[index], dict)
    ):
        return None
    entry = entries[index]
    name = entry.get("name") or (entry.get("$parameters") or entry.get("$options") or {}).get(
        "name"
    )
    return name if isinstance(name, str) else None


def _original_index(index: int, removed: list[int]) -> int:
    for gone in sorted(removed):
        if gone <= index:
            index += 1
    return index


def _original_error(
    error: UnsupportedComponentError, removed: dict[str, list[int]]
) -> UnsupportedComponentError:
    match = _PATH_HEAD.match(error.path)
    if not match or match.group(2) is None or match.group(1) not in removed:
        return error
    key, index = match.group(1), int(match.group(2))
    path = f"{key}[{_original_index(index, removed[key])}]{error.path[match.end() :]}"
    return UnsupportedComponentError(
        error.problem, path=path, file=error.file, line=error.line, expected=error.expected
    )


def _remove_entry(document: dict, path: str, removed: dict[str, list[int]]) -> bool:
    """Remove the top-level entry a path points into; False when the path is the root's own."""
    match = _PATH_HEAD.match(path)
    if not match or match.group(1) not in document or match.group(1) == "type":
        return False
    key, index = match.group(1), match.group(2)
    if index is None:
        del document[key]
        return True
    seen = removed.setdefault(key, [])
    seen.append(_original_index(int(index), seen))
    del document[key][int(index)]
    return True
