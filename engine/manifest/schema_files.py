"""JSON schema files of a stream, with the ``$ref`` links between them resolved.

Published connectors keep one schema per stream in ``schemas/<stream>.json`` and shared parts in
``schemas/shared/``; a schema links to a shared part by file name (``{"$ref": "address.json"}``,
which the reference runner looks up in ``schemas/shared/``) or by a path from the referring file
(``{"$ref": "shared/address.json"}``). Links are replaced by the schema they point to, so the
stream's schema (and the type casting of ``schema_normalization``) is the full one. A link stays
inside the folder of the stream's schema file: one that leads out of it is refused, so a
manifest cannot make the engine read files elsewhere on the machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.errors import ManifestError

# A linked schema linking back to itself would expand without end: a link met again on its own
# path, or nested deeper than this, becomes the permissive schema ``{}``.
MAX_LINK_DEPTH = 32


class SchemaFileError(ManifestError):
    """A schema file that cannot be read, parsed or linked."""


def load_schema_file(path: Path) -> dict[str, Any]:
    """The schema in ``path`` with every link to another file replaced by what it points to.

    Links inside the file itself (``#/definitions/x``) stay: record normalisation follows them,
    recursive ones included. Links inside a linked file are replaced too (their ``#/`` means
    that file, not this one).
    """
    top = path.resolve()
    return _Linker(top).document(top, [])


class _Linker:
    def __init__(self, top: Path) -> None:
        self.top = top
        self.root = top.parent
        self.documents: dict[Path, Any] = {}
        # A part linked many times is resolved once (large shared schemas link the same parts
        # hundreds of times); the result is shared, never modified.
        self.linked: dict[tuple[Path, str], Any] = {}

    def document(self, path: Path, chain: list[str]) -> Any:
        return self._resolve(self._read(path), self._read(path), path, chain)

    def _read(self, path: Path) -> Any:
        if path not in self.documents:
            try:
                self.documents[path] = orjson.loads(path.read_bytes())
            except OSError as error:
                raise SchemaFileError(
                    f"cannot read the schema file {path}: {error.strerror}"
                ) from None
            except orjson.JSONDecodeError as error:
                raise SchemaFileError(f"schema file {path} is not valid JSON: {error}") from None
        return self.documents[path]

    def _resolve(self, node: Any, document: Any, path: Path, chain: list[str]) -> Any:
        if isinstance(node, list):
            return [self._resolve(item, document, path, chain) for item in node]
        if not isinstance(node, dict):
            return node
        reference = node.get("$ref")
        local_to_top = isinstance(reference, str) and reference.startswith("#") and path == self.top
        if not isinstance(reference, str) or local_to_top:
            return {key: self._resolve(value, document, path, chain) for key, value in node.items()}
        # Keys beside a $ref are ignored, as the reference runner's resolver ignores them.
        link = f"{path}->{reference}"
        if len(chain) >= MAX_LINK_DEPTH or link in chain:
            return {}
        return self._follow(reference, document, path, [*chain, link])

    def _follow(self, reference: str, document: Any, path: Path, chain: list[str]) -> Any:
        file_part, _, pointer = reference.partition("#")
        if file_part:
            target_path = self._locate(file_part, path)
            target_document = self._read(target_path)
        else:
            target_path, target_document = path, document
        key = (target_path, pointer)
        if key not in self.linked:
            target = _point(target_document, pointer, reference, path)
            resolved = self._resolve(target, target_document, target_path, chain)
            if file_part and isinstance(resolved, dict):
                # A linked file's definitions served that file; the reference runner drops them.
                resolved = {k: value for k, value in resolved.items() if k != "definitions"}
            self.linked[key] = resolved
        return self.linked[key]

    def _locate(self, file_part: str, referrer: Path) -> Path:
        """``schemas/shared/<link>`` first (the reference runner's rule), then the link read
        from the referring file's folder; both must stay inside the schemas folder."""
        candidates = [(self.root / "shared" / file_part).resolve()]
        candidates.append((referrer.parent / file_part).resolve())
        inside = [c for c in candidates if c.is_relative_to(self.root)]
        if not inside:
            raise SchemaFileError(
                f"schema file {referrer} links to {file_part!r}, which is outside the schemas "
                f"folder {self.root}",
                expected="links to files inside the folder of the stream's schema file",
            )
        for candidate in inside:
            if candidate.is_file():
                return candidate
        raise SchemaFileError(
            f"schema file {referrer} links to {file_part!r}, which is not a file: looked for "
            + " and ".join(str(c) for c in inside),
            expected="a $ref naming a JSON file in the schemas folder or its shared/ folder",
        )


def _point(document: Any, pointer: str, reference: str, path: Path) -> Any:
    """The part of ``document`` a JSON pointer (``/definitions/address``) names."""
    node = document
    for raw in [part for part in pointer.split("/") if part]:
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            raise SchemaFileError(
                f"schema file {path}: $ref {reference!r} points to nothing ({step!r} is missing)",
                expected="a $ref to an existing part of the schema",
            )
    return node
