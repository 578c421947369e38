"""The manifests the benchmark reads the local API with (modern dialect, one stream each).

Each is an ordinary connector manifest, the way an author would write it for this API: the
plain loops in :mod:`bench.plain` request exactly the same URLs.
"""

from __future__ import annotations

from typing import Any

from bench.api import PAGE_SIZE

DATA = {"type": "DpathExtractor", "field_path": ["data"]}
ITEM_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "amount": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "active": {"type": "boolean"},
    },
}
DAILY_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "day": {"type": "integer"},
        "updated_at": {"type": "string", "format": "date-time"},
        "value": {"type": "integer"},
    },
}
RETRY_AFTER = {
    "type": "DefaultErrorHandler",
    "max_retries": 5,
    "backoff_strategies": [{"type": "WaitTimeFromHeader", "header": "Retry-After"}],
}


def _option(field: str) -> dict[str, Any]:
    return {"type": "RequestOption", "inject_into": "request_parameter", "field_name": field}


def page_increment(start: int = 1) -> dict[str, Any]:
    return {
        "type": "DefaultPaginator",
        "page_token_option": _option("page"),
        "pagination_strategy": {
            "type": "PageIncrement",
            "page_size": PAGE_SIZE,
            "start_from_page": start,
        },
    }


OFFSET = {
    "type": "DefaultPaginator",
    "page_token_option": _option("offset"),
    "pagination_strategy": {"type": "OffsetIncrement", "page_size": PAGE_SIZE},
}
CURSOR = {
    "type": "DefaultPaginator",
    "page_token_option": _option("cursor"),
    "pagination_strategy": {
        "type": "CursorPagination",
        "cursor_value": "{{ response.next }}",
        "stop_condition": "{{ not response.next }}",
    },
}


def stream(
    url: str,
    name: str,
    path: str,
    paginator: dict[str, Any],
    *,
    schema: dict[str, Any] = ITEM_SCHEMA,
    error_handler: dict[str, Any] | None = None,
    router: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    requester: dict[str, Any] = {"type": "HttpRequester", "url_base": url, "path": path}
    if error_handler:
        requester["error_handler"] = error_handler
    return {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": "id",
        "schema_loader": {"type": "InlineSchemaLoader", "schema": schema},
        "retriever": {
            "type": "SimpleRetriever",
            "requester": requester,
            "record_selector": {"type": "RecordSelector", "extractor": DATA},
            "paginator": paginator,
            **({"partition_router": router} if router else {}),
        },
        **extra,
    }


def source(*streams: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": [streams[0]["name"]]},
        "streams": list(streams),
    }


def daily_cursor() -> dict[str, Any]:
    """365 daily slices of 2024 (up to Dec 30), the dates sent as ``start`` and ``end``."""
    return {
        "type": "DatetimeBasedCursor",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": "2024-01-01T00:00:00Z",
        "end_datetime": "2024-12-30T23:59:59Z",
        "step": "P1D",
        "cursor_granularity": "PT1S",
        "start_time_option": _option("start"),
        "end_time_option": _option("end"),
    }


def daily(url: str, path: str) -> dict[str, Any]:
    return source(
        stream(
            url,
            "daily",
            path,
            page_increment(),
            schema=DAILY_SCHEMA,
            incremental_sync=daily_cursor(),
        )
    )


def parent_child(url: str) -> dict[str, Any]:
    parents = stream(url, "parents", "/parents", page_increment())
    router = {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": parents,
                "parent_key": "id",
                "partition_field": "parent_id",
            }
        ],
    }
    children = stream(
        url,
        "children",
        "/parents/{{ stream_partition.parent_id }}/children",
        page_increment(),
        router=router,
    )
    return source(parents, children)
