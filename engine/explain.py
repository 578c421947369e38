"""What a manifest will do, stream by stream, before anything is sent: ``python -m engine explain``.

For each stream: its request, pagination, authentication, slicing, cursor, primary key and the
Dagster partitioning the integration will give it. Request, pagination, authentication and slicing
come from the normalised definition (templates are shown as written, never evaluated, so no
config value reaches the output); the partitioning comes from the built slicer, by the same rules
as ``dagster_declarative.partitions.dimensions_of`` (restated here so the engine never imports
Dagster).

A manifest the loader refuses for an unsupported component is still explained: each unsupported
component is reported by path with the loader's own message, and the streams without one are
explained as usual.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.dynamic_streams import dynamic_stream_name
from engine.errors import EngineError, UnsupportedComponentError
from engine.factory import BuildContext
from engine.factory.dynamic import build_dynamic_stream
from engine.http.client import HttpClient
from engine.manifest.normalize import normalize_manifest
from engine.manifest.references import resolve_references
from engine.manifest.yaml_loader import load_yaml_file, load_yaml_text
from engine.secrets import SecretMasker, secret_config_values
from engine.slicing.base import SingleSlice
from engine.slicing.combined import CartesianProductRouter
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.slicing.list_router import ListPartitionRouter
from engine.slicing.per_partition import PerPartitionCursor
from engine.slicing.router import LastPartitionState, PartitionRouter
from engine.slicing.substream import SubstreamPartitionRouter
from engine.source import Manifest, _packaged_spec, load_manifest

_PATH_HEAD = re.compile(r"^([A-Za-z_]+)(?:\[(\d+)\])?")
_PLACEHOLDER_DATE = "2024-01-01"
_PLACEHOLDER_DATE_TIME = "2024-01-01T00:00:00Z"


def explain(
    manifest: str | Path | Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    *,
    resolve_dynamic_streams: bool = False,
) -> dict[str, Any]:
    """The explanation of a manifest as one JSON-ready document.

    Without a config, placeholder values that satisfy the spec's types let the streams build;
    the placeholders only influence evaluated facts such as a templated step.

    Dynamic streams whose resolver reads the config or the manifest are resolved (from the
    placeholders when no config is given); those an HttpComponentsResolver lists from the API
    only when ``resolve_dynamic_streams`` is set and a config is given, since that sends requests.
    """
    loaded, unsupported, removed = _load_skipping_unsupported(manifest)
    placeholders = config is None
    may_request = resolve_dynamic_streams and not placeholders
    masker = SecretMasker()
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
            path = f"streams[{_original_index(index, removed.get('streams', []))}]"
            streams.append(_explain_stream(context, definition, path, unsupported, masker))
        for index, definition in enumerate(loaded.dynamic_stream_definitions):
            original = _original_index(index, removed.get("dynamic_streams", []))
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


# -- loading around unsupported components -------------------------------------------------


def _load_skipping_unsupported(
    manifest: str | Path | Mapping[str, Any],
) -> tuple[Manifest, list[dict[str, str]], dict[str, list[int]]]:
    """Load as :func:`load_manifest` does; on a refusal, note it, drop the top-level entry that
    holds the component (a stream, a dynamic stream) and load again."""
    try:
        return load_manifest(manifest), [], {}
    except UnsupportedComponentError:
        pass
    document, base_dir, file = _read_document(manifest)
    resolved = resolve_references(document, file=file)
    removed: dict[str, list[int]] = {}
    unsupported: list[dict[str, str]] = []
    while True:  # every refusal removes one entry of the document, so this ends
        try:
            definition, warnings = normalize_manifest(resolved, file=file)
            break
        except UnsupportedComponentError as error:
            original = _original_error(error, removed)
            unsupported.append({"path": original.path, "message": str(original)})
            if not _remove_entry(resolved, error.path, removed):
                raise original from None
    if not definition.get("spec") and file is not None:
        definition["spec"] = _packaged_spec(base_dir)
    return Manifest(definition, base_dir, file, warnings), unsupported, removed


def _read_document(manifest: str | Path | Mapping[str, Any]) -> tuple[Any, Path, str | None]:
    if isinstance(manifest, Mapping):
        return dict(manifest), Path.cwd(), None
    if isinstance(manifest, Path) or "\n" not in manifest:
        path = Path(manifest)
        return load_yaml_file(path), path.resolve().parent, str(path)
    return load_yaml_text(manifest), Path.cwd(), None


def _original_index(index: int, removed: list[int]) -> int:
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
    entry["partitioning"] = partitioning(stream.slicer)
    return entry


def describe_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What a stream definition says, as written: request, pagination, auth, slicing."""
    retriever = definition.get("retriever") or {}
    is_async = retriever.get("type") == "AsyncRetriever"
    requester = retriever.get("creation_requester" if is_async else "requester") or {}
    return {
        "request": describe_async_job(retriever) if is_async else describe_request(requester),
        "pagination": describe_pagination(
            retriever.get("download_paginator" if is_async else "paginator")
        ),
        "authentication": describe_auth(requester.get("authenticator")),
        "slicing": {
            "incremental_sync": describe_cursor(definition.get("incremental_sync")),
            "partition_router": describe_router(retriever.get("partition_router")),
        },
    }


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


def describe_resolver(resolver: Mapping[str, Any]) -> dict[str, Any]:
    kind = resolver["type"]
    if kind == "HttpComponentsResolver":
        retriever = resolver["retriever"]
        return {"type": kind, **describe_definition({"retriever": retriever})}
    if kind == "ParametrizedComponentsResolver":
        sets = resolver["stream_parameters"]["list_of_parameters_for_stream"]
        return {"type": kind, "parameter_sets": len(sets)}
    configs = resolver["stream_config"]
    return {
        "type": kind,
        "stream_configs": [
            {
                "configs_pointer": c["configs_pointer"],
                "default_values": len(c.get("default_values") or ()),
            }
            for c in (configs if isinstance(configs, list) else [configs])
        ],
    }


def describe_mapping(mapping: Mapping[str, Any]) -> dict[str, Any]:
    described = {"field_path": mapping["field_path"], "value": mapping["value"]}
    for key in ("value_type", "condition", "create_or_update"):
        if mapping.get(key) not in (None, "", False):
            described[key] = mapping[key]
    return described


def _option(option: Any) -> str | None:
    """Where a request option puts its value: ``request_parameter 'page'``, ``the URL``..."""
    if not isinstance(option, Mapping):
        return None
    if option.get("type") == "RequestPath":
        return "the request URL (the token is the next URL)"
    name = option.get("field_name") or "/".join(map(str, option.get("field_path") or ()))
    return f"{option.get('inject_into', 'request_parameter')} {name!r}"


def describe_request(requester: Mapping[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {"method": requester.get("http_method") or "GET"}
    if requester.get("url"):
        described["url"] = requester["url"]
    else:
        described["url_base"] = requester.get("url_base")
        described["path"] = requester.get("path")
    if requester.get("type", "HttpRequester") != "HttpRequester":
        described["type"] = requester.get("type")
    return described


def describe_async_job(retriever: Mapping[str, Any]) -> dict[str, Any]:
    """An AsyncRetriever's job: how it is created, polled, judged, downloaded and cleaned up."""

    def extractor(definition: Any) -> Any:
        if not isinstance(definition, Mapping):
            return None
        return definition.get("field_path") or definition.get("class_name") or definition["type"]

    mapping = retriever.get("status_mapping") or {}
    described: dict[str, Any] = {
        "kind": "async job",
        "create": describe_request(retriever.get("creation_requester") or {}),
        "poll": describe_request(retriever.get("polling_requester") or {}),
        "status_from": extractor(retriever.get("status_extractor")),
        "statuses": {
            status: mapping[status]
            for status in ("running", "completed", "failed", "timeout", "ignore")
            if mapping.get(status)
        },
        "timeout_minutes": retriever.get("polling_job_timeout") or 60,
        "download_targets_from": extractor(
            retriever.get("download_target_extractor") or retriever.get("urls_extractor")
        ),
        "download": describe_request(retriever.get("download_requester") or {}),
        "download_format": (retriever.get("download_decoder") or {}).get("type", "JsonDecoder"),
    }
    target = retriever.get("download_target_requester") or retriever.get("url_requester")
    for key, definition in (
        ("download_targets_request", target),
        ("abort", retriever.get("abort_requester")),
        ("delete", retriever.get("delete_requester")),
    ):
        if definition:
            described[key] = describe_request(definition)
    return described


def describe_pagination(paginator: Any) -> dict[str, Any]:
    if not isinstance(paginator, Mapping) or paginator.get("type") == "NoPagination":
        return {"strategy": "none"}
    if paginator.get("type") != "DefaultPaginator":
        return {"strategy": paginator.get("class_name") or paginator.get("type")}
    strategy = paginator.get("pagination_strategy") or {}
    described: dict[str, Any] = {
        "strategy": strategy.get("class_name") or strategy.get("type"),
        "page_size": strategy.get("page_size"),
        "token_goes_to": _option(paginator.get("page_token_option")),
        "page_size_goes_to": _option(paginator.get("page_size_option")),
    }
    for key in ("cursor_value", "stop_condition", "start_from_page", "inject_on_first_request"):
        if strategy.get(key) is not None:
            described[key] = strategy[key]
    return described


_CREDENTIAL_PLACES = {
    "BearerAuthenticator": "header 'Authorization' (Bearer token)",
    "BasicHttpAuthenticator": "header 'Authorization' (Basic username:password)",
    "OAuthAuthenticator": "header 'Authorization' (Bearer access token, refreshed)",
    "JwtAuthenticator": "header 'Authorization' (signed JWT)",
    "NoAuth": "nowhere",
}


def describe_auth(authenticator: Any) -> dict[str, Any]:
    """The authenticator's type and where its credential goes; never a credential itself."""
    if not isinstance(authenticator, Mapping):
        return {"type": "none"}
    kind = str(authenticator.get("type"))
    described: dict[str, Any] = {"type": kind}
    if kind.startswith("Custom"):
        described["class_name"] = authenticator.get("class_name")
    elif kind == "ApiKeyAuthenticator":
        header = authenticator.get("header")
        described["credential_goes_to"] = (
            f"header {header!r}" if header else _option(authenticator.get("inject_into"))
        )
    elif kind == "SessionTokenAuthenticator":
        login = authenticator.get("login_requester") or {}
        described["login"] = describe_request(login)
        inner = authenticator.get("request_authentication") or {}
        described["credential_goes_to"] = (
            _option(inner.get("inject_into"))
            if inner.get("type") == "ApiKey"
            else "header 'Authorization' (Bearer session token)"
        )
    elif kind == "SelectiveAuthenticator":
        described["selected_by"] = authenticator.get("authenticator_selection_path")
        described["options"] = {
            str(key): describe_auth(value)
            for key, value in (authenticator.get("authenticators") or {}).items()
        }
    elif kind == "LegacySessionTokenAuthenticator":
        described["credential_goes_to"] = f"header {authenticator.get('header')!r}"
    else:
        described["credential_goes_to"] = _CREDENTIAL_PLACES.get(kind, "(see the manifest)")
    if kind == "OAuthAuthenticator":
        described["token_refresh_endpoint"] = authenticator.get("token_refresh_endpoint")
    return described


def _datetime_text(value: Any) -> Any:
    return value.get("datetime") if isinstance(value, Mapping) else value


def describe_cursor(cursor: Any) -> dict[str, Any] | None:
    if not isinstance(cursor, Mapping):
        return None
    kind = cursor.get("type")
    described: dict[str, Any] = {"type": kind, "cursor_field": cursor.get("cursor_field")}
    if kind == "DatetimeBasedCursor":
        described.update(
            start=_datetime_text(cursor.get("start_datetime")),
            end=_datetime_text(cursor.get("end_datetime")),
            step=cursor.get("step"),
            granularity=cursor.get("cursor_granularity"),
            format=cursor.get("datetime_format"),
            start_goes_to=_option(cursor.get("start_time_option")),
            end_goes_to=_option(cursor.get("end_time_option")),
        )
    elif kind == "IncrementingCountCursor":
        described["start_value"] = cursor.get("start_value")
    elif str(kind).startswith("Custom"):
        described["class_name"] = cursor.get("class_name")
    return described


def describe_router(router: Any) -> dict[str, Any] | None:
    if isinstance(router, list):
        routers = [describe_router(r) for r in router]
        return routers[0] if len(routers) == 1 else {"type": "product", "of": routers}
    if not isinstance(router, Mapping):
        return None
    kind = router.get("type")
    if kind == "ListPartitionRouter":
        return {
            "type": kind,
            "cursor_field": router.get("cursor_field"),
            "values": router.get("values"),
            "value_goes_to": _option(router.get("request_option")),
        }
    if kind == "SubstreamPartitionRouter":
        return {
            "type": kind,
            "parents": [
                {
                    "stream": (c.get("stream") or {}).get("name")
                    or ((c.get("stream") or {}).get("$parameters") or {}).get("name"),
                    "parent_key": c.get("parent_key"),
                    "partition_field": c.get("partition_field"),
                    "value_goes_to": _option(c.get("request_option")),
                    "incremental_dependency": bool(c.get("incremental_dependency")),
                }
                for c in router.get("parent_stream_configs") or ()
            ],
        }
    if kind == "CartesianProductStreamSlicer":
        return {"type": "product", "of": [describe_router(r) for r in router["stream_slicers"]]}
    if kind == "GroupingPartitionRouter":
        return {
            "type": kind,
            "group_size": router.get("group_size"),
            "of": describe_router(router.get("underlying_partition_router")),
        }
    return {"type": kind, "class_name": router.get("class_name")}


# -- partitioning (mirrors dagster_declarative.partitions.dimensions_of) ----------------------

_UNIT_KINDS = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly"}


def _dimensions(slicer: Any) -> list[dict[str, Any]] | None:
    """The partitionable axes of a slicer ([] when unsliced), or None when the integration reads
    it unpartitioned."""
    if isinstance(slicer, SingleSlice):
        return []
    if isinstance(slicer, LastPartitionState):
        return _dimensions(slicer.router)
    if isinstance(slicer, DatetimeBasedCursor):
        return [_date_dimension(slicer)] if slicer.step else []
    if isinstance(slicer, PerPartitionCursor):
        routers = _router_dimensions(slicer.router)
        if routers is None or len(routers) != 1 or not slicer.datetime_cursor.step:
            return None
        return [*routers, _date_dimension(slicer.datetime_cursor)]
    if isinstance(slicer, PartitionRouter):
        routers = _router_dimensions(slicer)
        return routers if routers is not None and len(routers) <= 2 else None
    return None


def _date_dimension(cursor: DatetimeBasedCursor) -> dict[str, Any]:
    step = cursor.step
    assert step is not None, "stepless cursors have no date dimension"
    unit = step.calendar_unit
    if unit is not None:
        return {"kind": _UNIT_KINDS[unit], "step": _duration_text(step)}
    dimension: dict[str, Any] = {"kind": "time-window", "step": _duration_text(step)}
    seconds = int(step.delta.total_seconds()) if not step.months else 0
    if seconds and seconds % 60 == 0 and 86400 % seconds == 0:
        minutes = seconds // 60
        dimension["cron"] = f"*/{minutes} * * * *" if minutes < 60 else f"0 */{minutes // 60} * * *"
    else:
        dimension["problem"] = (
            "no Dagster schedule repeats this step; override get_partitions_def for the stream"
        )
    return dimension


def _duration_text(step: Any) -> str:
    months = f"{step.months} month(s)" if step.months else ""
    delta = str(step.delta) if step.delta else ""
    return " + ".join(p for p in (months, delta) if p)


def _router_dimensions(router: Any) -> list[dict[str, Any]] | None:
    if isinstance(router, ListPartitionRouter):
        return [{"kind": "static", "by": router.cursor_field, "keys": len(router.values)}]
    if isinstance(router, SubstreamPartitionRouter):
        return [
            {
                "kind": "dynamic",
                "by": sorted({c.partition_field for c in router.parent_stream_configs}),
                "parents": list(router.parent_stream_names),
            }
        ]
    if isinstance(router, CartesianProductRouter):
        parts = [_router_dimensions(r) for r in router.routers]
        if any(p is None for p in parts):
            return None
        return [d for p in parts for d in p or ()]
    return None


def partitioning(slicer: Any) -> dict[str, Any]:
    """The Dagster partitioning a stream with this slicer gets from the integration."""
    dimensions = _dimensions(slicer)
    if dimensions is None:
        return {
            "kind": "none",
            "reason": f"its slicer ({type(slicer).__name__}) has more than two dimensions or a "
            "kind partitions cannot express: read unpartitioned, incrementally",
        }
    if not dimensions:
        return {"kind": "none", "reason": "the stream is not sliced"}
    if len(dimensions) == 1:
        return dimensions[0]
    return {"kind": "multi", "dimensions": dimensions}


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
        ("dagster partitions", stream["partitioning"]),
    ]
    header = f"{indent}stream {stream['name']}  ({stream['path']})"
    return ["", header, *(f"{indent}  {heading}: {_inline(value)}" for heading, value in rows)]


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
