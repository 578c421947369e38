"""A config checked against the spec's ``connection_specification`` (JSON Schema, draft 7).

``jsonschema`` is the authority: it words every message and decides every doubtful case. It
takes about 70 ms to import, a quarter of a small ``check``'s start-up, so a config is first
tried on the compiled ``jsonschema-rs`` validator (15 ms to import): when that one finds the
config valid under a schema without regular expressions, nothing more is needed. Whatever it
refuses or cannot compile goes to ``jsonschema``, as does any schema with a ``pattern``: the two
libraries' regular expression dialects differ (``\\p{L}`` compiles only in Rust's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import orjson

from engine.errors import ConfigError, ManifestError

if TYPE_CHECKING:
    import jsonschema


def check_config(
    schema: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    not_yet_known: Collection[str] = (),
    file: Path | None = None,
) -> None:
    """Raise `ConfigError` naming the first key (never its value) that does not conform, or
    `ManifestError` when the schema itself is not a JSON schema. Keys in ``not_yet_known``
    are taken as present and valid."""
    if _surely_valid(schema, config):
        return
    import jsonschema

    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(p) for p in error.absolute_path)
        raise ManifestError(
            f"the spec's connection_specification is not a valid JSON schema: "
            f"{error.message} (at {where or 'its root'})",
            path="spec.connection_specification",
            file=file,
        ) from None
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(
        (e for e in validator.iter_errors(config) if not _about(e, not_yet_known)),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        raise ConfigError(_config_problem(errors[0]))


def _surely_valid(schema: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether ``jsonschema-rs`` finds the config valid under a regex-free schema (formats
    unchecked and nothing fetched, as ``jsonschema`` does here)."""
    try:
        if b'"pattern' in orjson.dumps(schema):
            return False
        validator = jsonschema_rs.Draft7Validator(schema, validate_formats=False, offline=True)
        return validator.is_valid(config)
    # Not serialisable, not a schema (ValidationError is a ValueError), an unresolvable $ref,
    # or a value JSON has no type for: jsonschema decides.
    except (ValueError, TypeError, jsonschema_rs.ReferencingError):
        return False


def _about(error: jsonschema.ValidationError, keys: Collection[str]) -> bool:
    """Whether a validation error concerns one of the top-level ``keys``."""
    if error.absolute_path:
        return error.absolute_path[0] in keys
    return error.validator == "required" and _missing_key(error) in keys


def _missing_key(error: jsonschema.ValidationError) -> str:
    return error.message.split("'")[1] if "'" in error.message else error.message


def _config_problem(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<config>"
    if error.validator == "required":
        missing = _missing_key(error)
        return f"config is missing the required key {missing!r}" + (
            f" (in {where})" if error.absolute_path else ""
        )
    if error.validator == "additionalProperties":
        return f"config has keys the spec does not allow (at {where})"
    expected = error.schema.get(error.validator) if isinstance(error.schema, dict) else None
    return f"config key {where!r} is invalid: it fails '{error.validator}' (expected {expected!r})"
