"""Loading a manifest around the components the engine refuses, one stream at a time.

``explain`` uses it to describe every other stream, and the Dagster integration to load them:
a stream that asks for an unsupported component is dropped (and named in the manifest's
``left_out``) instead of failing the whole manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import UnsupportedComponentError
from engine.manifest.normalize import normalize_manifest
from engine.manifest.references import resolve_references
from engine.manifest.yaml_loader import load_yaml_file, load_yaml_text
from engine.source import Manifest, StreamProblem, _packaged_spec, load_manifest

_PATH_HEAD = re.compile(r"^([A-Za-z_]+)(?:\[(\d+)\])?")


def load_manifest_skipping_unsupported(
    manifest: str | Path | Mapping[str, Any], *, strict: bool = False
) -> tuple[Manifest, list[dict[str, str]], dict[str, list[int]]]:
    """Load as :func:`load_manifest` does; on a refusal, note it, drop the top-level entry that
    holds the component (a stream, a dynamic stream) and load again. The manifest's
    ``left_out`` names each dropped stream, so the others can still be used."""
    try:
        return load_manifest(manifest, strict=strict), [], {}
    except UnsupportedComponentError:
        pass
    document, base_dir, file = _read_document(manifest)
    resolved = resolve_references(document, file=file)
    removed: dict[str, list[int]] = {}
    unsupported: list[dict[str, str]] = []
    left_out: list[StreamProblem] = []
    while True:  # every refusal removes one entry of the document, so this ends
        try:
            definition, warnings = normalize_manifest(resolved, file=file, strict=strict)
            break
        except UnsupportedComponentError as error:
            original = _original_error(error, removed)
            unsupported.append({"path": original.path, "message": str(original)})
            name = _entry_name(resolved, error.path) or original.path
            left_out.append(StreamProblem(name, original.path, str(original)))
            if not _remove_entry(resolved, error.path, removed):
                raise original from None
    if not definition.get("spec") and file is not None:
        definition["spec"] = _packaged_spec(base_dir)
    return Manifest(definition, base_dir, file, warnings, left_out), unsupported, removed


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


def _read_document(manifest: str | Path | Mapping[str, Any]) -> tuple[Any, Path, str | None]:
    if isinstance(manifest, Mapping):
        return dict(manifest), Path.cwd(), None
    if isinstance(manifest, Path) or "\n" not in manifest:
        path = Path(manifest)
        return load_yaml_file(path), path.resolve().parent, str(path)
    return load_yaml_text(manifest), Path.cwd(), None


def original_index(index: int, removed: list[int]) -> int:
    """The index an entry had before earlier entries of its list were removed."""
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
    path = f"{key}[{original_index(index, removed[key])}]{error.path[match.end() :]}"
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
    seen.append(original_index(int(index), seen))
    del document[key][int(index)]
    return True
