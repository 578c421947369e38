"""Reading the JSON files a command line is given (config, catalog, state), with clear errors.

Each file is size-checked and must be a regular file (`engine/manifest/input_files.py`); its content
must have the shape the engine reads, so a list where an object belongs fails here naming the
file and the key, not later as a Python TypeError.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from engine.errors import ConfigError
from engine.manifest.input_files import decode_utf8, read_input_bytes


def read_json_file(path: str, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the file in errors ("config", "state").

    A config must be an object and a catalog an object listing streams; a ``read``'s state is
    checked by :func:`read_state_file`.
    """
    data = read_input_bytes(path, what)
    decode_utf8(data, path, what)  # names UTF-16 and stray bytes before the parser does
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ConfigError(f"the {what} file {path} is not valid JSON: {error}") from None
    check = _SHAPES.get(what)
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"the {what} file {path}: {problem}")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )


def _config_shape(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must hold a JSON object, not {_kind(value)}"
    return None


def _catalog_shape(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must hold a JSON object with 'streams', not {_kind(value)}"
    streams = value.get("streams", [])
    if not isinstance(streams, list):
        return f"'streams' must be a list, not {_kind(streams)}"
    for index, entry in enumerate(streams):
        where = f"streams[{index}]"
        if not isinstance(entry, dict):
            return f"{where} must be an object, not {_kind(entry)}"
        stream = entry.get("stream")
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            return f"{where}.stream must be an object with a 'name' string"
        mode = entry.get("sync_mode")
        if mode is not None and not isinstance(mode, str):
            return f"{where}.sync_mode must be a string, not {_kind(mode)}"
    return None


def _state_shape(value: Any) -> str | None:
    if isinstance(value, dict):
        for stream, state in value.items():
            if not isinstance(state, dict):
                return f"the state of stream {stream!r} must be an object, not {_kind(state)}"
        return None
    if not isinstance(value, list):
        return f"must hold a JSON object or a list of state messages, not {_kind(value)}"
    for index, message in enumerate(value):
        if not isinstance(message, dict):
            return f"[{index}] must be a state message (an object), not {_kind(message)}"
        body = message.get("state", message)
        if not isinstance(body, dict):
            return f"[{index}].state must be an object, not {_kind(body)}"
        for key in ("stream", "global", "data"):
            if key in body and body[key] is not None and not isinstance(body[key], dict):
                return f"[{index}].{key} must be an object, not {_kind(body[key])}"
        stream = body.get("stream") or {}
        inner = stream.get("stream_state")
        if inner is not None and not isinstance(inner, dict):
            return f"[{index}].stream.stream_state must be an object, not {_kind(inner)}"
        descriptor = stream.get("stream_descriptor")
        if descriptor is not None and not isinstance(descriptor, dict):
            return f"[{index}].stream.stream_descriptor must be an object, not {_kind(descriptor)}"
    return None


def read_state_file(path: str) -> Any:
    """The state a read resumes from: ``{stream: state}`` or a list of STATE messages."""
    value = read_json_file(path, "state")
    problem = _state_shape(value)
    if problem:
        raise ConfigError(f"the state file {path}: {problem}")
    return value


_SHAPES: dict[str, Callable[[Any], str | None]] = {
    "config": _config_shape,
    "catalog": _catalog_shape,
}
