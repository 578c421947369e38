"""Turning stream and field names into identifiers every supported database accepts.

Names are lower-cased ASCII letters, digits and underscores, at most 63 characters (PostgreSQL's
limit), never starting with a digit. Lower case matters: DuckDB compares identifiers without regard
to case even when quoted, so "Id" and "id" would otherwise be the same column there and two
different ones elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection, Sequence

MAX_IDENTIFIER_LENGTH = 63
_NOT_ALLOWED = re.compile(r"[^a-z0-9_]+")


def short_hash(text: str) -> str:
    """Eight hex digits that tell apart names which sanitise to the same identifier."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def _fit(base: str, suffix: str = "") -> str:
    return base[: MAX_IDENTIFIER_LENGTH - len(suffix)] + suffix


def sanitize_identifier(name: str) -> str:
    """A safe identifier for `name`: accents dropped, other characters replaced by `_`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_ALLOWED.sub("_", ascii_name.lower()) or "_"
    if cleaned[0].isdigit():
        cleaned = "_" + cleaned
    if len(cleaned) > MAX_IDENTIFIER_LENGTH:
        return _fit(cleaned, "_" + short_hash(name))
    return cleaned


def assign_column_names(fields: Sequence[str], reserved: Collection[str]) -> dict[str, str]:
    """Map each record field to a distinct column name that avoids the `reserved` ones.

    Fields whose names are already clean identifiers keep them; a field whose sanitised name is
    taken gets a suffix derived from its original name, so the mapping of a field does not depend on
    the order of the schema's properties.
    """
    taken = set(reserved)
    names: dict[str, str] = {}
    clean_first = sorted(fields, key=lambda field: sanitize_identifier(field) != field)
    for field in clean_first:
        candidate = sanitize_identifier(field)
        if candidate in taken:
            candidate = _fit(candidate, "_" + short_hash(field))
        taken.add(candidate)
        names[field] = candidate
    return {field: names[field] for field in fields}
