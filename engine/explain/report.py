"""What a manifest will do, stream by stream, before anything is sent: ``python -m engine explain``.

For each stream: its request, pagination, authentication, slicing, cursor, primary key and the
Dagster partitioning the integration will give it. Request, pagination, authentication and slicing
come from the normalised definition (`explain_components.py`); the partitioning comes from the
built slicer (`slicing/stream_partitions.py`).

A manifest the loader refuses for an unsupported component is still explained: each unsupported
component is reported by path with the loader's own message, and the streams without one are
explained as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import EngineError, UnsupportedComponentError
from engine.explain.components import describe_definition, describe_mapping, describe_resolver
from engine.factory import BuildContext
from engine.factory.dynamic import build_dynamic_stream
from engine.http.client import HttpClient
from engine.manifest.dynamic_streams import dynamic_stream_name
from engine.manifest.load import load_manifest
from engine.secrets import SecretMasker, secret_config_values
from engine.slicing.stream_partitions import StreamPartitions

_PLACEHOLDER_DATE = "2024-01-01"
_PLACEHOLDER_DATE_TIME = "2024-01-01T00:00:00Z"


def explain(
    manifest: str | Path | Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    *,
    resolve_dynamic_streams: bool = False,
    strict: bool = False,
    masker: SecretMasker | None = None,
) -> dict[str, Any]:
    """The explanation of a manifest as one JSON-ready document.

    Without a config, placeholder values that satisfy the spec's types let the streams build;
    the placeholders only influence evaluated facts such as a templated step.

    Dynamic streams whose resolver reads the config or the manifest are resolved (from the
    placeholders when no config is given); those an HttpComponentsResolver lists from the API
    only when ``resolve_dynamic_streams`` is set and a config is given, since that sends requests.
    """
    loaded = load_manifest(manifest, strict=strict, skip_unsupported=True)
    unsupported = [{"path": left.path, "message": left.reason} for left in loaded.left_out]
    placeholders = config is None
    may_request = resolve_dynamic_streams and not placeholders
    # The caller's masker, when given, learns the secrets too: it masks whatever escapes.
    masker = masker if masker is not None else SecretMasker()
    spec_schema = dict(loaded.spec.get("connection_specification") or {})
    if config is None:
        config = placeholder_config(spec_schema)
    else:
        masker.add(*secret_config_values(spec_schema, config))
    context = BuildContext(
        config=config,
        client=HttpClient(masker=masker),
        masker=masker,
        base_dir=loaded.base_dir,
        file=loaded.file,
    )
    streams, dynamic_streams = [], []
    try:
        for index, definition in enumerate(loaded.stream_definitions):
            path = f"streams[{loaded.original_index('streams', index)}]"
            streams.append(_explain_stream(context, definition, path, unsupported, masker))
        for index, definition in enumerate(loaded.dynamic_stream_definitions):
            original = loaded.original_index("dynamic_streams", index)
            dynamic_streams.append(
                _explain_dynamic_stream(
                    context,
                    definition,
                    original,
                    unsupported,
                    masker,
                    may_request=may_request,
                    placeholders=placeholders,
                )
            )
    finally:
        context.client.close()
    return {
        "manifest": loaded.file,
        "version": loaded.definition.get("version"),
        "streams": streams,
        "dynamic_streams": dynamic_streams,
        "unsupported": unsupported,
        "warnings": [masker.mask(w) for w in [*loaded.warnings, *context.warnings]],
    }


def placeholder_config(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A config of the spec's shape: defaults, first choices, and typed stand-ins."""
    value = _placeholder(schema, "")
    return value if isinstance(value, dict) else {}


def _placeholder(schema: Any, key: str) -> Any:
    if not isinstance(schema, Mapping):
        return key or "placeholder"
    for keyword in ("default", "const"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("enum"):
        return schema["enum"][0]
    for keyword in ("oneOf", "anyOf"):
        if schema.get(keyword):
            return _placeholder(schema[keyword][0], key)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        return {k: _placeholder(v, k) for k, v in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if schema.get("format") == "date" or schema.get("pattern") == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$":
        return _PLACEHOLDER_DATE
    if schema.get("format") == "date-time" or "date" in key or "time" in key:
        return _PLACEHOLDER_DATE_TIME
    return key or "placeholder"


# -- one stream --------------------------------------------------------------------------------


def _explain_stream(
    context: BuildContext,
    definition: dict[str, Any],
    path: str,
    unsupported: list[dict[str, str]],
    masker: SecretMasker,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": definition.get("name") or (definition.get("$parameters") or {}).get("name"),
        "path": path,
        **describe_definition(definition),
        "cursor_field": None,
        "primary_key": None,
        "partitioning": None,
    }
    try:
        stream = context.build(definition, path)
    except UnsupportedComponentError as error:
        unsupported.append({"path": error.path, "message": str(error)})
        entry["partitioning"] = {"kind": "unknown", "reason": "the stream cannot be built"}
        return entry
    except EngineError as error:
        entry["partitioning"] = {
            "kind": "unknown",
            "reason": f"the stream cannot be built: {masker.mask(str(error))}",
        }
        return entry
    entry["name"] = stream.name
    entry["cursor_field"] = list(stream.cursor_field) or None
    entry["primary_key"] = [list(k) for k in stream.primary_key] or None
    entry["partitioning"] = StreamPartitions(stream).explain()
    return entry


# -- dynamic streams ---------------------------------------------------------------------------


def _explain_dynamic_stream(
    context: BuildContext,
    definition: dict[str, Any],
    index: int,
    unsupported: list[dict[str, str]],
    masker: SecretMasker,
    *,
    may_request: bool,
    placeholders: bool,
) -> dict[str, Any]:
    """The template and its resolver; the streams it makes when resolving is cheap or asked."""
    resolver = definition["components_resolver"]
    entry: dict[str, Any] = {
        "name": dynamic_stream_name(definition, index),
        "path": f"dynamic_streams[{index}]",
        "resolver": describe_resolver(resolver),
        "mappings": [describe_mapping(m) for m in resolver["components_mapping"]],
        "template": describe_definition(definition["stream_template"]),
        "resolution": None,
        "streams": None,
    }
    if resolver["type"] == "HttpComponentsResolver" and not may_request:
        entry["resolution"] = (
            "not resolved: the streams are listed by requests to the API "
            "(resolve them with a config and --resolve)"
        )
        return entry
    try:
        dynamic = build_dynamic_stream(context, definition, index)
        entry["streams"] = [
            _explain_stream(context, resolved.definition, resolved.path, unsupported, masker)
            for resolved in dynamic.resolve()
        ]
    except EngineError as error:
        entry["resolution"] = f"failed: {masker.mask(str(error))}"
        return entry
    entry["resolution"] = f"resolved to {len(entry['streams'])} stream(s)" + (
        " from placeholder config values" if placeholders else ""
    )
    return entry


# -- text ----------------------------------------------------------------------------------


def render_text(explanation: Mapping[str, Any]) -> str:
    """The explanation for a person: one block per stream, then what is not supported."""
    lines = [f"manifest {explanation.get('manifest') or '<inline>'}"]
    if explanation.get("version"):
        lines[0] += f" (version {explanation['version']})"
    for stream in explanation["streams"]:
        lines.extend(_stream_lines(stream))
    for dynamic in explanation.get("dynamic_streams") or ():
        lines.append("")
        lines.append(f"dynamic stream {dynamic['name']}  ({dynamic['path']})")
        lines.append(f"  resolver: {_inline(dynamic['resolver'])}")
        lines.extend(f"  mapping: {_inline(mapping)}" for mapping in dynamic["mappings"])
        template = dynamic["template"]
        for heading in ("request", "pagination", "authentication"):
            lines.append(f"  template {heading}: {_inline(template[heading])}")
        lines.append(f"  resolution: {dynamic['resolution']}")
        for stream in dynamic["streams"] or ():
            lines.extend(_stream_lines(stream, indent="  "))
    if explanation["unsupported"]:
        lines.append("")
        lines.append("not supported (these parts are refused at load):")
        lines.extend(f"  {item['message']}" for item in explanation["unsupported"])
    if explanation["warnings"]:
        lines.append("")
        lines.append("warnings:")
        lines.extend(f"  {warning}" for warning in explanation["warnings"])
    return "\n".join(lines) + "\n"


def _stream_lines(stream: Mapping[str, Any], indent: str = "") -> list[str]:
    slicing = stream["slicing"]
    rows = [(heading, stream[heading]) for heading in ("request", "pagination", "authentication")]
    rows += [
        ("incremental sync", slicing["incremental_sync"]),
        ("partition router", slicing["partition_router"]),
        ("cursor field", stream["cursor_field"]),
        ("primary key", stream["primary_key"]),
        ("dagster partitions", _without_keys(stream["partitioning"])),
    ]
    for custom in stream.get("custom_components") or ():
        rows.append(("custom component", f"{custom['path']}: {custom['class_name']}"))
    header = f"{indent}stream {stream['name']}  ({stream['path']})"
    lines = ["", header, *(f"{indent}  {heading}: {_inline(value)}" for heading, value in rows)]
    for example in _date_keys(stream["partitioning"]):
        lines.append(f"{indent}    partition {example['key']} -> slice {_inline(example['slice'])}")
    return lines


def _date_dimensions(partitioning: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not partitioning:
        return []
    return [d for d in partitioning.get("dimensions") or [partitioning] if "examples" in d]


def _date_keys(partitioning: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The first partition keys of the date dimension and the slice each one reads."""
    return [key for d in _date_dimensions(partitioning) for key in d["examples"]]


def _without_keys(partitioning: Mapping[str, Any] | None) -> Any:
    """The partitioning for its one-line summary (the key examples get their own lines)."""
    if not partitioning:
        return partitioning

    def strip(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k != "examples"}

    if "dimensions" in partitioning:
        return {**partitioning, "dimensions": [strip(d) for d in partitioning["dimensions"]]}
    return strip(partitioning)


def _inline(value: Any, nested: bool = False) -> str:
    """A compact one-line rendering: ``key=value`` pairs, nested in parentheses."""
    if value is None:
        return "none"
    if isinstance(value, Mapping):
        parts = [f"{k}={_inline(v, nested=True)}" for k, v in value.items() if v is not None]
        kind = value.get("kind") or value.get("type") or value.get("strategy")
        rest = [p for p in parts if not p.startswith(("kind=", "type=", "strategy="))]
        head = str(kind) if kind is not None else ""
        if not rest:
            return head or "-"
        if head:
            return f"{head} ({', '.join(rest)})"
        return f"({', '.join(rest)})" if nested else ", ".join(rest)
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return str(value)
