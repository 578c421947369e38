"""One connector that writes every state shape the reference runner writes, and its API.

Used by the state compatibility tests and by ``bench/reference_states.py``, which runs the same
manifest under the reference runner (airbyte-cdk 7, in a venv of its own) against the same
server to record the states in ``tests/fixtures/reference_states.json``. Standard library only,
so that both interpreters can import it.

Streams (today's dialect) and the state each writes:

- ``issues``: a date cursor with daily windows -> a plain ``{"updated_at": ...}``;
- ``comments``: per issue, a date cursor -> per-partition ``states`` (partition: the issue id
  and the parent's partition, ``{}`` here: the parent's date windows are no part of it);
- ``labels``: the same with ``incremental_dependency`` -> ``states`` with ``parent_state``;
- ``reactions``: ``global_substream_cursor`` -> ``use_global_cursor`` and the global ``state``;
- ``events``: a StateDelegatingStream (a full listing first, a change feed once it has state);
- ``notes``: per issue, with a ``LegacyToPerPartitionStateMigration`` for the 2022-style
  ``{"<issue id>": {"updated_at": ...}}`` state.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .api_server import ApiServer, DateFilter

START = "2024-01-01T00:00:00Z"
FIRST_END = "2024-01-05T00:00:00Z"
SECOND_END = "2024-01-08T00:00:00Z"
STREAMS = ("issues", "comments", "labels", "reactions", "events", "notes")
LEGACY_NOTES_STATE = {"1": {"updated_at": "2024-01-03T00:00:00Z"}}
_SINCE = {"since_param": "updated_since", "until_param": "updated_until"}


def config(end: str) -> dict[str, str]:
    return {"start_date": START, "end_date": end}


def _cursor(step: str | None = None) -> dict[str, Any]:
    cursor: dict[str, Any] = {
        "type": "DatetimeBasedCursor",
        "cursor_field": "updated_at",
        "datetime_format": "%Y-%m-%dT%H:%M:%SZ",
        "start_datetime": "{{ config['start_date'] }}",
        "end_datetime": "{{ config['end_date'] }}",
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
    if step:
        cursor.update(step=step, cursor_granularity="PT1S")
    return cursor


def _stream(name: str, path: str, cursor: dict[str, Any] | None, router: Any = None) -> dict:
    retriever: dict[str, Any] = {
        "type": "SimpleRetriever",
        "requester": {
            "type": "HttpRequester",
            "url_base": "{{ config['url'] }}",
            "path": path,
            "http_method": "GET",
        },
        "record_selector": {
            "type": "RecordSelector",
            "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
        },
    }
    if router is not None:
        retriever["partition_router"] = router
    stream: dict[str, Any] = {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": "id",
        "retriever": retriever,
        "schema_loader": {
            "type": "InlineSchemaLoader",
            "schema": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
    }
    if cursor is not None:
        stream["incremental_sync"] = cursor
    return stream


def _issues_router(**settings: Any) -> dict[str, Any]:
    return {
        "type": "SubstreamPartitionRouter",
        "parent_stream_configs": [
            {
                "type": "ParentStreamConfig",
                "stream": _stream("issues", "/issues", _cursor("P1D")),
                "parent_key": "id",
                "partition_field": "issue_id",
                **settings,
            }
        ],
    }


def _child(name: str, cursor_settings: dict | None = None, **router_settings: Any) -> dict:
    cursor = {**_cursor(), **(cursor_settings or {})}
    path = f"/issues/{{{{ stream_partition.issue_id }}}}/{name}"
    return _stream(name, path, cursor, _issues_router(**router_settings))


def manifest() -> dict[str, Any]:
    """The manifest as a mapping; the API's URL comes from the config key ``url``."""
    notes = _child("notes")
    notes["state_migrations"] = [{"type": "LegacyToPerPartitionStateMigration"}]
    events = {
        "type": "StateDelegatingStream",
        "name": "events",
        "full_refresh_stream": _stream("events", "/events", _cursor()),
        "incremental_stream": _stream("events", "/events/changes", _cursor()),
    }
    return {
        "version": "6.44.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["issues"]},
        "streams": [
            _stream("issues", "/issues", _cursor("P1D")),
            _child("comments"),
            _child("labels", incremental_dependency=True),
            _child("reactions", {"global_substream_cursor": True}),
            events,
            notes,
        ],
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "start_date": {"type": "string"},
                    "end_date": {"type": "string"},
                },
            },
        },
    }


def catalog() -> dict[str, Any]:
    """Every stream, incremental (append), as a configured catalog."""
    return {
        "streams": [
            {
                "stream": {
                    "name": name,
                    "json_schema": {"type": "object"},
                    "supported_sync_modes": ["full_refresh", "incremental"],
                },
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
            for name in STREAMS
        ]
    }


def _day(day: int, hour: int = 0) -> str:
    return f"2024-01-{day:02d}T{hour:02d}:00:00Z"


ISSUES = [
    {"id": 1, "updated_at": _day(1, 9)},
    {"id": 2, "updated_at": _day(2, 9)},
    {"id": 3, "updated_at": _day(3, 9)},
]
LATER_ISSUES = [{"id": 4, "updated_at": _day(6, 9)}, {"id": 1, "updated_at": _day(6, 10)}]


def _children(issue: int, days: list[int], base: int) -> list[dict[str, Any]]:
    return [
        {"id": base + n, "issue_id": issue, "updated_at": _day(day, 12)}
        for n, day in enumerate(days)
    ]


def serve(server: ApiServer, *, second_round: bool = False) -> None:
    """The API as it is at the first read, or (``second_round``) a few days later."""
    issues = ISSUES + (LATER_ISSUES if second_round else [])
    by_id = {issue["id"]: issue for issue in issues}  # a later version replaces the earlier
    dates = DateFilter("updated_at", **_SINCE)
    server.add_collection("/issues", list(by_id.values()), date_filter=dates)
    for index, name in enumerate(("comments", "labels", "reactions", "notes")):
        days = [[issue, issue + 1] + ([6] if second_round else []) for issue in by_id]
        per_issue = {
            issue: _children(issue, issue_days, 100 * issue + 10 * index)
            for issue, issue_days in zip(by_id, days, strict=True)
        }
        server.add_collection(f"/issues/{{issue_id}}/{name}", per_issue, date_filter=dates)
    events = [{"id": n, "updated_at": _day(n, 8)} for n in range(1, 5 + (3 if second_round else 0))]
    for path in ("/events", "/events/changes"):
        server.add_collection(path, events, date_filter=dates)


def stream_state_messages(states: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-stream states as the STREAM state messages a read starts from."""
    return [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": state}}
        for name, state in states.items()
    ]


def child_requests(requests: list[Any]) -> list[str]:
    """The requests to the children's and events' endpoints, sorted, as ``path?query`` text.

    The parent's (``/issues``) are left out: the windows of a date cursor with a step are
    another rule's business (the last window of today's dialect).
    """
    lines = []
    for request in requests:
        if request.path == "/issues":
            continue
        query = "&".join(
            f"{key}={v}" for key, values in sorted(request.query.items()) for v in values
        )
        lines.append(f"{request.path}?{query}")
    return sorted(lines)


def normalized(state: dict[str, Any]) -> dict[str, Any]:
    """A stream state with what legitimately differs between runs left out: the seconds the
    previous read took (``lookback_window``) and the order of per-partition entries."""
    result = copy.deepcopy(state)
    result.pop("lookback_window", None)
    if isinstance(result.get("states"), list):
        result["states"] = sorted(result["states"], key=lambda e: json.dumps(e, sort_keys=True))
    return result
