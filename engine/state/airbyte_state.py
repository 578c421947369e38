"""An Airbyte connection's state, read and written as the platform exports it.

A connection moving between Airbyte and this project keeps its cursors. The platform hands a
connection's state out as a list of ``AirbyteStateMessage`` objects (what a source emitted last
for each stream), in one of three types:

- ``STREAM``: ``{"type": "STREAM", "stream": {"stream_descriptor": {"name", "namespace"},
  "stream_state": {...}}}``, one per stream (what declarative sources write);
- ``GLOBAL``: ``{"type": "GLOBAL", "global": {"shared_state": {...}, "stream_states":
  [{"stream_descriptor", "stream_state"}, ...]}}`` (sources with one shared cursor);
- ``LEGACY``: ``{"type": "LEGACY", "data": {"<stream>": {...}, ...}}`` (older sources).

The platform's own connection-state document (``{"stateType": "stream", "streamState": [
{"streamDescriptor", "streamState"}]}``, ``"global"`` with ``globalState``, ``"legacy"`` with
``state``) is read too. Stream states are kept exactly as written: the engine reads every shape
the reference writes (plain cursors, per-partition ``states``, the global ``state``, a
StateDelegatingStream's), and the reference reads the engine's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError


@dataclass(frozen=True)
class StreamState:
    stream: str
    state: dict[str, Any]
    namespace: str | None = None


def stream_states(document: Any, where: str) -> tuple[list[StreamState], list[str]]:
    """The per-stream states of an exported connection state, and notes for the user.

    ``where`` names the file in errors. A stream named twice (in two namespaces, or twice in
    one list) is an error: the state table keys state by stream name alone.
    """
    notes: list[str] = []
    found = list(_states(document, where, notes))
    seen: dict[str, StreamState] = {}
    for item in found:
        if item.stream in seen:
            raise ConfigError(
                f"{where}: stream {item.stream!r} has two states (namespaces "
                f"{seen[item.stream].namespace!r} and {item.namespace!r}); keep one of them"
            )
        seen[item.stream] = item
    return found, notes


def stream_messages(states: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """STREAM state messages, the form the platform imports and the reference reads."""
    return [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": name}, "stream_state": dict(state)},
        }
        for name, state in states.items()
    ]


def _states(document: Any, where: str, notes: list[str]) -> Iterator[StreamState]:
    if isinstance(document, Mapping) and "stateType" in document:
        yield from _platform_document(document, where, notes)
        return
    messages = document if isinstance(document, list) else [document]
    for index, message in enumerate(messages):
        at = f"{where}[{index}]" if isinstance(document, list) else where
        if not isinstance(message, Mapping):
            raise ConfigError(f"{at}: expected a state message (a JSON object), found {message!r}")
        body = message.get("state", message) if message.get("type") == "STATE" else message
        yield from _message(body, at, notes)


def _message(message: Mapping[str, Any], at: str, notes: list[str]) -> Iterator[StreamState]:
    kind = str(message.get("type") or ("LEGACY" if "data" in message else "")).upper()
    if kind == "STREAM":
        yield _descriptor_state(_object(message.get("stream"), f"{at}.stream"), at)
    elif kind == "GLOBAL":
        body = _object(message.get("global"), f"{at}.global")
        yield from _global(body, ("shared_state", "stream_states"), at, notes)
    elif kind == "LEGACY":
        yield from _legacy(message.get("data"), f"{at}.data")
    else:
        raise ConfigError(
            f"{at}: unknown state message type {message.get('type')!r}; expected STREAM, "
            "GLOBAL or LEGACY (an Airbyte connection's exported state)"
        )


def _platform_document(
    document: Mapping[str, Any], where: str, notes: list[str]
) -> Iterator[StreamState]:
    kind = str(document.get("stateType")).lower()
    if kind == "stream":
        yield from _listed(document, "streamState", where)
    elif kind == "global":
        body = _object(document.get("globalState"), f"{where}.globalState")
        yield from _global(body, ("sharedState", "streamStates"), where, notes)
    elif kind == "legacy":
        yield from _legacy(document.get("state"), f"{where}.state")
    elif kind != "not_set":
        raise ConfigError(f"{where}: unknown stateType {document.get('stateType')!r}")


def _global(
    body: Mapping[str, Any], keys: tuple[str, str], at: str, notes: list[str]
) -> Iterator[StreamState]:
    """A global state's streams; its shared state (``keys[0]``) has no place here."""
    if body.get(keys[0]):
        notes.append(
            f"{at}: the shared state of a GLOBAL state is not imported (declarative streams "
            "keep their cursors per stream)"
        )
    yield from _listed(body, keys[1], at)


def _listed(body: Mapping[str, Any], key: str, at: str) -> Iterator[StreamState]:
    for index, entry in enumerate(body.get(key) or []):
        yield _descriptor_state(_object(entry, f"{at}.{key}[{index}]"), at)


def _descriptor_state(entry: Mapping[str, Any], at: str) -> StreamState:
    descriptor = entry.get("stream_descriptor", entry.get("streamDescriptor"))
    descriptor = _object(descriptor, f"{at}.stream_descriptor")
    name = descriptor.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{at}: a stream descriptor without a name")
    state = entry.get("stream_state", entry.get("streamState")) or {}
    return StreamState(name, dict(_object(state, f"{at} ({name})")), descriptor.get("namespace"))


def _legacy(data: Any, at: str) -> Iterator[StreamState]:
    for name, state in _object(data or {}, at).items():
        yield StreamState(str(name), dict(_object(state or {}, f"{at}.{name}")))


def _object(value: Any, at: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{at}: expected a JSON object, found {type(value).__name__}")
    return value
