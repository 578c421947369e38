"""Small manifests for the slicing tests, in either dialect, pointing at the test API server.

``modern`` and ``legacy`` return parsed manifests (dicts) with one stream per entry of
``streams``; each stream is given as keyword settings (its path, cursor, routers...).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

SELECTOR = {
    "type": "RecordSelector",
    "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
}
NO_RETRY = {"type": "DefaultErrorHandler", "max_retries": 0}


def modern_stream(
    url: str,
    name: str,
    path: str,
    *,
    incremental: dict | None = None,
    router: Any = None,
    request_parameters: dict | None = None,
    retries: bool = True,
    checkpoint_interval: int | None = None,
) -> dict[str, Any]:
    requester: dict[str, Any] = {"type": "HttpRequester", "url_base": url, "path": path}
    if request_parameters:
        requester["request_parameters"] = request_parameters
    if not retries:
        requester["error_handler"] = NO_RETRY
    retriever: dict[str, Any] = {
        "type": "SimpleRetriever",
        "requester": requester,
        "record_selector": SELECTOR,
    }
    if router is not None:
        retriever["partition_router"] = router
    stream: dict[str, Any] = {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": "id",
        "retriever": retriever,
        "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
    }
    if incremental is not None:
        stream["incremental_sync"] = incremental
    if checkpoint_interval:
        stream["checkpoint_interval"] = checkpoint_interval
    return stream


def lazy_router(parent: dict[str, Any], pointer: list[str]) -> dict[str, Any]:
    """A SubstreamPartitionRouter over ``parent`` (``parent_id`` from its ``id``) whose child
    reads the list each parent embeds at ``pointer`` as its first page."""
    return {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": parent,
                "parent_key": "id",
                "partition_field": "parent_id",
                "lazy_read_pointer": pointer,
            }
        ],
    }


def page_paginator(page_size: int) -> dict[str, Any]:
    """Pages ``?page=N`` from 1 (no parameter on the first), ``page_size`` records each."""
    return {
        "type": "DefaultPaginator",
        "page_token_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "page",
        },
        "pagination_strategy": {
            "type": "PageIncrement",
            "page_size": page_size,
            "start_from_page": 1,
        },
    }


def modern(*streams: dict, concurrency: int | None = None) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": [streams[0]["name"]]},
        "streams": list(streams),
    }
    if concurrency:
        manifest["concurrency_level"] = {
            "type": "ConcurrencyLevel",
            "default_concurrency": concurrency,
        }
    return manifest


def legacy(url: str, name: str, path: str, stream_slicer: dict | None = None) -> dict[str, Any]:
    """A 2022-dialect manifest (no version, ``$options``, ``stream_slicer``) with one stream."""
    retriever: dict[str, Any] = {
        "requester": {"url_base": url, "path": path, "http_method": "GET"},
        "record_selector": {"extractor": {"field_pointer": ["data"]}},
        "paginator": {"type": "NoPagination"},
    }
    if stream_slicer is not None:
        retriever["stream_slicer"] = stream_slicer
    return {
        "streams": [
            {
                "type": "DeclarativeStream",
                "$options": {"name": name, "primary_key": "id"},
                "schema_loader": {"type": "InlineSchemaLoader", "schema": {"type": "object"}},
                "retriever": retriever,
            }
        ],
        "check": {"stream_names": [name]},
    }


def legacy_offset_paginator(url: str, page_size: int) -> dict[str, Any]:
    """A 2022 ``LimitPaginator`` sending ``limit`` and ``offset`` (the API's offset style)."""
    return {
        "type": "LimitPaginator",
        "page_size": page_size,
        "limit_option": {"inject_into": "request_parameter", "field_name": "limit"},
        "page_token_option": {"inject_into": "request_parameter", "field_name": "offset"},
        "pagination_strategy": {"type": "OffsetIncrement", "page_size": page_size},
        "url_base": url,
    }


def date_cursor(start: str, end: str | None, **settings: Any) -> dict[str, Any]:
    """A modern DatetimeBasedCursor on ``updated_at`` (ISO seconds, UTC) sending since/until."""
    cursor: dict[str, Any] = {
        "type": "DatetimeBasedCursor",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": start,
        "start_time_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "updated_since",
        },
        "end_time_option": {
            "type": "RequestOption",
            "inject_into": "request_parameter",
            "field_name": "updated_until",
        },
    }
    if end is not None:
        cursor["end_datetime"] = end
    cursor.update(settings)
    return cursor


def daily_records(day0: dt.datetime, days: int) -> list[dict]:
    """Day ``d`` has ``d % 3 + 1`` records, so every daily partition has its own count."""
    records = []
    for day in range(days):
        for n in range(day % 3 + 1):
            moment = day0 + dt.timedelta(days=day, hours=6 * n + 1)
            records.append(
                {"id": f"{day}-{n}", "updated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
            )
    return records
