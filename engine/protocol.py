"""Airbyte protocol messages: built as dicts, written one JSON line each.

Only fields that are set are written, as the protocol asks. ``emitted_at`` is epoch milliseconds.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from engine.errors import failure_text
from engine.secrets import SecretMasker


def now_ms() -> int:
    return int(time.time() * 1000)


def record(stream: str, data: Mapping[str, Any], emitted_at: int | None = None) -> dict:
    return {
        "type": "RECORD",
        "record": {"stream": stream, "data": data, "emitted_at": emitted_at or now_ms()},
    }


def state(
    stream: str,
    stream_state: Mapping[str, Any],
    all_states: Mapping[str, Any],
    record_count: int | None = None,
) -> dict:
    message: dict[str, Any] = {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": stream}, "stream_state": dict(stream_state)},
            "data": dict(all_states),
        },
    }
    if record_count is not None:
        message["state"]["sourceStats"] = {"recordCount": float(record_count)}
    return message


def log(message: str, level: str = "INFO") -> dict:
    return {"type": "LOG", "log": {"level": level, "message": message}}


def spec(specification: Mapping[str, Any]) -> dict:
    body: dict[str, Any] = {
        "connectionSpecification": specification.get("connection_specification", {})
    }
    if specification.get("documentation_url"):
        body["documentationUrl"] = specification["documentation_url"]
    if specification.get("advanced_auth"):
        body["advanced_auth"] = specification["advanced_auth"]
    return {"type": "SPEC", "spec": body}


def connection_status(ok: bool, message: str | None = None) -> dict:
    status: dict[str, Any] = {"status": "SUCCEEDED" if ok else "FAILED"}
    if message:
        status["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": status}


def catalog(streams: list[dict]) -> dict:
    return {"type": "CATALOG", "catalog": {"streams": streams}}


def error_trace(error: BaseException, masker: SecretMasker | None = None) -> dict:
    """A TRACE error: the message for people, the exception chain for the curious, both masked."""
    mask = masker.mask if masker else (lambda text: text)
    failure_type = getattr(error, "failure_type", "system_error")
    message = failure_text(error)
    internal = "".join(traceback.format_exception_only(type(error), error)).strip()
    return {
        "type": "TRACE",
        "trace": {
            "type": "ERROR",
            "emitted_at": float(now_ms()),
            "error": {
                "message": mask(message),
                "internal_message": mask(internal),
                "failure_type": failure_type,
            },
        },
    }


def dumps(message: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        message, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS, default=str
    )


# One value of a message (a record) as `dumps` writes it inside the message; a partial, so
# that `dumps_values` maps it over a page without a Python call per value.
dumps_value = functools.partial(orjson.dumps, option=orjson.OPT_NON_STR_KEYS, default=str)


def dumps_values(values: Iterable[Any]) -> list[bytes]:
    """`dumps_value` of each value."""
    return list(map(dumps_value, values))
