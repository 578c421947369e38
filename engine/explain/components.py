"""Plain descriptions of stream components for `explain`, from the normalised definition.

Templates are shown as written, never evaluated, so no config value reaches the output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.manifest.components import BY_REFERENCE
from engine.manifest.load import Manifest


def describe_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """What a stream definition says, as written: request, pagination, auth, slicing.

    A StateDelegatingStream is described by the stream it reads incrementally (the one its
    state selects after the first sync), with the full-refresh stream's request beside it.
    """
    if definition.get("type") == "StateDelegatingStream":
        described = describe_definition(definition.get("incremental_stream") or {})
        full_refresh = describe_definition(definition.get("full_refresh_stream") or {})
        described["request"] = {
            **described["request"],
            "first_sync_reads": _inline_request(full_refresh["request"]),
        }
        return described
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
        "custom_components": list(custom_components(definition)),
    }


def custom_components(definition: Any, path: str = "") -> Iterator[dict[str, str]]:
    """Every Python component inside a stream definition, with its path: the user's classes
    (``class_name``) and the components airbyte-cdk's own classes run (``BY_REFERENCE``)."""
    if isinstance(definition, Mapping):
        kind = str(definition.get("type") or "")
        if definition.get("class_name") or kind in BY_REFERENCE:
            yield {
                "path": path or "<stream>",
                "type": kind,
                "class_name": str(definition.get("class_name") or f"airbyte-cdk's {kind}"),
            }
        for key, value in definition.items():
            if key != "$parameters":
                yield from custom_components(value, f"{path}.{key}" if path else str(key))
    elif isinstance(definition, list):
        for index, item in enumerate(definition):
            yield from custom_components(item, f"{path}[{index}]")


def _inline_request(request: Mapping[str, Any]) -> str:
    where = request.get("url") or f"{request.get('url_base') or ''}{request.get('path') or ''}"
    return f"{request.get('method', 'GET')} {where}"


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


# -- a stream in Markdown ------------------------------------------------------------------


def describe_stream_markdown(
    manifest: Manifest, stream_name: str, json_schema: Mapping[str, Any] | None = None
) -> str:
    """What a stream is and how it is read, in Markdown (a scheduler's asset description).

    First the stream's own words (its ``description``, else its schema's ``title`` or
    ``description``), then the facts ``explain`` shows: the request, pagination, cursor, slicing
    and primary key. Only the manifest's text goes in, never a config value.
    """
    definition = _stream_definition(manifest, stream_name)
    schema = json_schema or {}
    own = (definition or {}).get("description") or schema.get("title") or schema.get("description")
    lines = [str(own).strip() + "\n"] if own else []
    if definition is None:
        return "".join(lines) + f"Stream `{stream_name}`, generated by a dynamic stream."
    facts = describe_definition(definition)
    request = facts["request"]
    where = request.get("url") or f"{request.get('url_base') or ''}{request.get('path') or ''}"
    lines.append(f"- **request**: `{request.get('method', 'GET')} {where}`")
    lines.append(f"- **pagination**: {_one_line(facts['pagination'])}")
    slicing = facts["slicing"]
    lines.append(f"- **cursor**: {_one_line(slicing['incremental_sync'])}")
    lines.append(f"- **partition router**: {_one_line(slicing['partition_router'])}")
    key = definition.get("primary_key") or (definition.get("$parameters") or {}).get("primary_key")
    lines.append(f"- **primary key**: {_one_line(key)}")
    return "\n".join(lines)


def _stream_definition(manifest: Manifest, name: str) -> Mapping[str, Any] | None:
    for definition in manifest.stream_definitions:
        parameters = definition.get("$parameters") or {}
        if (definition.get("name") or parameters.get("name")) == name:
            return definition
    return None


def _one_line(value: Any) -> str:
    """One line: a component's type and its settings, ``none`` when absent."""
    if not value:
        return "none"
    if isinstance(value, Mapping):
        kind = value.get("type") or value.get("strategy") or ""
        rest = ", ".join(
            f"{k} {_one_line(v) if isinstance(v, Mapping | list) else f'`{v}`'}"
            for k, v in value.items()
            if k not in ("type", "strategy") and v not in (None, "", [], {})
        )
        return f"{kind} ({rest})" if kind and rest else kind or rest
    if isinstance(value, list):
        return "[" + ", ".join(_one_line(v) for v in value) + "]"
    return str(value)
