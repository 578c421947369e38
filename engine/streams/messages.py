"""A read's protocol messages: RECORDs, STATEs after the records they cover, and LOGs.

The events of `engine.streams.reader.iter_slices` become the messages of the Airbyte protocol,
as dicts or, for the command line, RECORDs already serialised as JSON lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import protocol
from engine.errors import ConfigError, EngineError, failure_text
from engine.streams.reader import PAGE, RECORD, iter_slices
from engine.streams.stream import Stream

if TYPE_CHECKING:
    from engine.secrets import SecretMasker


def read_messages(
    streams: Mapping[str, Stream],
    catalog: Mapping[str, Any] | None,
    state: Mapping[str, Any],
    *,
    concurrency: int,
    masker: SecretMasker,
    records_as_lines: bool = False,
) -> Iterator[dict[str, Any] | bytes]:
    """Protocol messages of a read of a source's ``streams``, as dicts; with
    ``records_as_lines``, RECORD messages come as ``bytes``: the JSON lines of up to
    `_LINES_PER_WRITE` records at once, serialised straight from the records (the command line
    writes them as they are). Warnings go through ``masker``.

    A stream that fails does not stop the others, as in the reference runner: its records and
    states so far are out, an ERROR line names it, the next stream is read, and the read then
    ends with its error (or, when several failed, with :class:`StreamsFailed` naming them)."""
    states = {name: dict(value) for name, value in _state_by_stream(state).items()}
    failed: dict[str, Exception] = {}
    for name, incremental in _selected(streams, catalog):
        reading = _StreamRead(
            name, streams[name], incremental, concurrency, masker, records_as_lines
        )
        try:
            yield from reading.messages(states)
        except Exception as error:  # reported now, raised once every stream is read
            failed[name] = error
            yield protocol.log(
                f"Stream {name!r} did not sync: {masker.mask(failure_text(error))}", "ERROR"
            )
    if len(failed) == 1:
        raise next(iter(failed.values()))
    if failed:
        raise StreamsFailed(failed, masker.mask)


class StreamsFailed(EngineError):
    """Several streams of one read failed; each was reported when it failed."""

    def __init__(self, failed: Mapping[str, Exception], mask: Callable[[str], str]) -> None:
        kinds = {getattr(error, "failure_type", "system_error") for error in failed.values()}
        self.failure_type = "config_error" if kinds == {"config_error"} else "system_error"
        lines = [f"{name}: {mask(failure_text(error))}" for name, error in failed.items()]
        super().__init__(f"{len(failed)} streams did not sync successfully:\n" + "\n".join(lines))


@dataclass
class _StreamRead:
    name: str
    stream: Stream
    incremental: bool
    concurrency: int
    masker: SecretMasker
    records_as_lines: bool

    def messages(self, states: dict[str, Any]) -> Iterator[dict[str, Any] | bytes]:
        """One stream's messages; ``states`` (every stream's latest) is updated as it goes.
        Records read before a failure are written before it is raised."""
        stream, incremental, name = self.stream, self.incremental, self.name
        slices = stream.iter_slices(states.get(name) if incremental else None)
        count, closed = 0, 0
        interval = stream.checkpoint_interval
        cursor = stream.cursor
        lines = _RecordLines(name) if self.records_as_lines else None
        # A state every `interval` records needs the cursor to observe record by record.
        pages = not (incremental and interval and cursor is not None)
        try:
            for event in iter_slices(stream, slices, self.concurrency, pages=pages):
                if event.kind == PAGE:
                    records = event.records or []
                    count += len(records)
                    if lines is None:
                        yield from (protocol.record(name, record) for record in records)
                        continue
                    # A page of millions of records is still written a thousand at a time.
                    for start in range(0, len(records), _LINES_PER_WRITE):
                        part = records[start : start + _LINES_PER_WRITE]
                        if lines.extend(part) >= _LINES_PER_WRITE:
                            yield lines.take()
                    continue
                if event.kind == RECORD:
                    count += 1
                    if lines is None:
                        yield protocol.record(name, event.record or {})
                    elif lines.add(event.record or {}) >= _LINES_PER_WRITE:
                        yield lines.take()
                    if incremental and interval and count % interval == 0 and cursor is not None:
                        if lines is not None and lines.pending:
                            yield lines.take()
                        yield protocol.state(name, cursor.state(), {**states, name: cursor.state()})
                    continue
                closed += 1
                if lines is not None and lines.pending:
                    yield lines.take()
                for warning in stream.take_warnings():
                    yield protocol.log(self.masker.mask(warning), "WARN")
                if incremental and cursor is not None:
                    states[name] = cursor.state()
                    yield protocol.state(name, states[name], states, record_count=count)
        except Exception:
            if lines is not None and lines.pending:
                yield lines.take()
            raise
        if incremental and not closed:  # a read with nothing to read still states its cursor
            states[name] = cursor.state() if cursor is not None else states.get(name, {})
            yield protocol.state(name, states[name], states)
        elif incremental and cursor is not None and cursor.state() != states.get(name):
            # Slices are taken lazily: a cursor that finishes once its slices run out (per
            # partition state) changes after the last slice closed.
            states[name] = cursor.state()
            yield protocol.state(name, states[name], states, record_count=count)
        yield protocol.log(f"Read {count} records from {name} stream")


_LINES_PER_WRITE = 1_000


class _RecordLines:
    """RECORD messages of one stream, gathered as serialised records and written as one
    ``bytes`` (the same text `protocol.dumps(protocol.record(...))` gives each, with the
    ``emitted_at`` of the moment they are taken)."""

    def __init__(self, stream: str) -> None:
        self._head = b'{"type":"RECORD","record":{"stream":' + protocol.dumps_value(stream)
        self._head += b',"data":'
        self._records: list[bytes] = []

    @property
    def pending(self) -> int:
        return len(self._records)

    def add(self, record: Mapping[str, Any]) -> int:
        self._records.append(protocol.dumps_value(record))
        return len(self._records)

    def extend(self, records: Iterable[Mapping[str, Any]]) -> int:
        self._records += protocol.dumps_values(records)
        return len(self._records)

    def take(self) -> bytes:
        tail = b',"emitted_at":%d}}\n' % protocol.now_ms()
        text = self._head + (tail + self._head).join(self._records) + tail
        self._records = []
        return text


def _selected(
    streams: Mapping[str, Stream], catalog: Mapping[str, Any] | None
) -> list[tuple[str, bool]]:
    if not catalog:
        return [(name, False) for name in streams]
    chosen = []
    for entry in catalog.get("streams") or []:
        name = (entry.get("stream") or {}).get("name")
        if name not in streams:
            raise ConfigError(
                f"the catalog names stream {name!r}, which the manifest does not define"
            )
        incremental = entry.get("sync_mode") == "incremental" and streams[name].supports_incremental
        chosen.append((name, incremental))
    return chosen


def _state_by_stream(state: Any) -> dict[str, Any]:
    """Accept the legacy ``{stream: state}`` blob or a list of per-stream STATE messages."""
    if isinstance(state, list):
        result = {}
        for message in state:
            body = message.get("state", message) if isinstance(message, dict) else {}
            stream = body.get("stream") or {}
            name = (stream.get("stream_descriptor") or {}).get("name")
            if name:
                result[name] = stream.get("stream_state") or {}
            elif isinstance(body.get("data"), dict):
                result.update(body["data"])
        return result
    return dict(state or {})
