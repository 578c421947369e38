"""Translation of 2022-dialect components into today's shape.

The 2022 dialect named several components and fields differently and spread some of them over
other places (``request_options_provider``, ``stream_slicer``, ``LimitPaginator``). Each function
here rewrites one 2022 mapping, before it is validated, into the form the rest of the engine
knows. Where the 2022 runtime *behaved* differently (path joining, error-handler defaults, date
windows, ``stream_state`` in request templates), the translation names the behaviour
(``path_join``, ``error_defaults``, ``date_rules``, ``templates_read_state``) so that nothing
downstream knows which dialect a manifest was written in.
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import ManifestError, UnsupportedComponentError

# 2022 short names (and names seen in 2022 docs) -> today's type names.
TYPE_ALIASES = {
    "JsonSchema": "JsonFileSchemaLoader",
    "DefaultSchemaLoader": "JsonFileSchemaLoader",
    "DatetimeStreamSlicer": "DatetimeBasedCursor",
    "ListStreamSlicer": "ListPartitionRouter",
    "SubstreamSlicer": "SubstreamPartitionRouter",
    "LimitPaginator": "DefaultPaginator",
    "ConstantBackoff": "ConstantBackoffStrategy",
    "ExponentialBackoff": "ExponentialBackoffStrategy",
    "DeclarativeOauth2Authenticator": "OAuthAuthenticator",
    "CursorPaginationStrategy": "CursorPagination",
    "InterpolatedRequestOptionsProvider": "RequestOptionsProvider",
    "JelloExtractor": "DpathExtractor",
}

# 2022 field names -> today's, per (today's) type.
FIELD_RENAMES: dict[str, dict[str, str]] = {
    "DpathExtractor": {"field_pointer": "field_path"},
    "DeclarativeStream": {"stream_cursor_field": "cursor_field"},
    "ListPartitionRouter": {"slice_values": "values"},
    "DatetimeBasedCursor": {
        "stream_state_field_start": "partition_field_start",
        "stream_state_field_end": "partition_field_end",
    },
    "ParentStreamConfig": {"stream_slice_field": "partition_field"},
    "BearerAuthenticator": {"token": "api_token"},  # its name before August 2022
}

# 2022 fields that only fed other runtime parts and have no meaning now.
DROPPED_FIELDS: dict[str, tuple[str, ...]] = {
    "SimpleRetriever": ("name", "primary_key"),
    "HttpRequester": ("name",),
    "DefaultPaginator": ("url_base",),
    "DeclarativeStream": ("options",),
}

_FORMATS = {"timestamp": "%s_as_float"}
_JELLO_PATH = re.compile(r"^_((?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\s+or\s+\[\])?$")


def legacy_field_names(type_name: str) -> set[str]:
    """Field names a 2022 component of ``type_name`` could receive from ``$options``."""
    return set(FIELD_RENAMES.get(type_name, {})) | set(DROPPED_FIELDS.get(type_name, ()))


def translate(type_name: str, original_type: str, node: dict[str, Any], path: str) -> dict:
    """Rewrite one 2022 mapping (already typed) into today's field layout, in place."""
    for old, new in FIELD_RENAMES.get(type_name, {}).items():
        if old in node and new not in node:
            node[new] = node.pop(old)
        node.pop(old, None)
    for dropped in DROPPED_FIELDS.get(type_name, ()):
        node.pop(dropped, None)
    special = _SPECIAL.get(original_type) or _SPECIAL.get(type_name)
    if special:
        special(node, path)
    return node


def _requester(node: dict, path: str) -> None:
    provider = node.pop("request_options_provider", None) or {}
    if not isinstance(provider, dict):
        raise ManifestError(
            "request_options_provider must be a mapping",
            path=f"{path}.request_options_provider",
            expected="request_parameters / request_headers / request_body_data / request_body_json",
        )
    provider = {k: v for k, v in provider.items() if k not in ("type", "class_name", "$options")}
    if "request_body_data" in provider and "request_body_json" in provider:
        raise ManifestError(
            "request_body_data and request_body_json are both set",
            path=f"{path}.request_options_provider",
            expected="at most one request body",
        )
    for key, value in provider.items():
        node.setdefault(key, value)
    node["path_join"] = "trimmed_path"
    # The 2022 runtime rendered the path, request parameters, headers and bodies (and the record
    # filter) with the stream's state as it stood at the request (SimpleRetriever's self.state).
    node["templates_read_state"] = True
    node.setdefault("error_handler", {"type": "DefaultErrorHandler"})


def _limit_paginator(node: dict, path: str) -> None:
    if "limit_option" in node:
        node["page_size_option"] = node.pop("limit_option")
    page_size = node.pop("page_size", None)
    strategy = node.get("pagination_strategy")
    if page_size is not None and isinstance(strategy, dict):
        strategy.setdefault("page_size", page_size)
    _paginator(node, path)


def _paginator(node: dict, path: str) -> None:
    token = node.get("page_token_option")
    if isinstance(token, dict) and token.get("inject_into") == "path":
        node["page_token_option"] = {"type": "RequestPath"}
    size = node.get("page_size_option")
    if isinstance(size, dict) and not size.get("field_name"):
        # The 2022 runtime sent an empty-named parameter here; sending nothing is what was meant.
        node.pop("page_size_option")


def _jello(node: dict, path: str) -> None:
    transform = str(node.pop("transform", "_")).strip()
    match = _JELLO_PATH.match(transform)
    if not match:
        raise UnsupportedComponentError(
            f"JelloExtractor transform {transform!r} is not supported",
            path=path,
            expected="a transform of the form '_', '_.a.b' or '_.a or []' "
            "(or rewrite it as a DpathExtractor with field_path)",
        )
    node["field_path"] = [part for part in match.group(1).split(".") if part]


def _datetime_slicer(node: dict, path: str) -> None:
    # Without a granularity the 2022 runtime ended windows a day apart (its Nov-2022 rules);
    # with one, a granularity apart (its Jan-2023 rules). See engine.slicing.date_rules.
    node["date_rules"] = (
        "text_cursor" if node.get("cursor_granularity") else "text_cursor_day_windows"
    )
    _date_formats(node, path)
    if isinstance(node.get("cursor_datetime_formats"), list):
        node["cursor_datetime_formats"] = [
            _FORMATS.get(fmt, fmt) if isinstance(fmt, str) else fmt
            for fmt in node["cursor_datetime_formats"]
        ]


def _date_formats(node: dict, path: str) -> None:
    """The 2022 runtime's own name for float epoch seconds, in a slicer or one of its bounds."""
    fmt = node.get("datetime_format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        node["datetime_format"] = _FORMATS[fmt]


def _parent_stream_config(node: dict, path: str) -> None:
    option = node.get("request_option")
    if isinstance(option, dict) and "partition_field" in node:
        # 2022 quirk, kept for old manifests: the slice field name is the injected key.
        option["field_name"] = node["partition_field"]


def _error_handler(node: dict, path: str) -> None:
    node["error_defaults"] = "retry_429_and_5xx"


_SPECIAL = {
    "HttpRequester": _requester,
    "LimitPaginator": _limit_paginator,
    "DefaultPaginator": _paginator,
    "JelloExtractor": _jello,
    "DatetimeStreamSlicer": _datetime_slicer,
    "DatetimeBasedCursor": _datetime_slicer,
    "MinMaxDatetime": _date_formats,
    "DefaultErrorHandler": _error_handler,
    "ParentStreamConfig": _parent_stream_config,
}


def split_stream_slicer(stream: dict, path: str) -> None:
    """Move a normalised 2022 ``retriever.stream_slicer`` to where today's dialect keeps it.

    Date slicers become the stream's ``incremental_sync``; list and parent slicers become the
    retriever's ``partition_router``; a cartesian product becomes a list of routers (with at
    most one date slicer among them, which again becomes ``incremental_sync``).
    """
    retriever = stream.get("retriever")
    if not isinstance(retriever, dict) or "stream_slicer" not in retriever:
        return
    slicer = retriever.pop("stream_slicer")
    parts = (
        slicer.get("stream_slicers", [])
        if slicer["type"] == "CartesianProductStreamSlicer"
        else [slicer]
    )
    routers = []
    for part in parts:
        if part["type"] == "DatetimeBasedCursor":
            if "incremental_sync" in stream:
                raise UnsupportedComponentError(
                    "a stream can have only one date slicer",
                    path=f"{path}.retriever.stream_slicer",
                    expected="one DatetimeStreamSlicer per stream",
                )
            stream["incremental_sync"] = part
        elif part["type"] != "SingleSlice":
            routers.append(part)
    if routers:
        retriever["partition_router"] = routers if len(routers) > 1 else routers[0]
