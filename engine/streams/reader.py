"""Reading a stream's slices, sequentially or in a bounded pool, with state never ahead of data.

:func:`iter_slices` is the core: it yields ``SliceEvent`` objects — each record as it arrives,
and a "done" event when a slice and every slice before it have been fully emitted. Only at a
"done" event may a caller persist state, because only then is every record the state covers
already in the caller's hands. Workers hand records over through a bounded queue, in groups of up
to `_HANDOFF_GROUP` (one queue operation per record cost the engine a third more CPU than a plain
threaded loop), so memory stays flat however fast the API answers. :func:`read_messages` turns
the events into protocol messages.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import protocol
from engine.errors import ConfigError, EngineError, failure_text
from engine.http.client import RequestStats
from engine.streams.stream import Stream

if TYPE_CHECKING:
    from engine.secrets import SecretMasker

RECORD, DONE = "record", "done"
_HANDOFF_GROUP = 100
_QUEUE_SIZE = 5_000 // _HANDOFF_GROUP  # groups waiting for the consumer: at most 5,000 records


@dataclass(slots=True)
class SliceEvent:
    """``stats`` and ``seconds`` describe the slice on DONE events only."""

    kind: str  # RECORD or DONE
    index: int
    stream_slice: dict[str, Any]
    record: dict[str, Any] | None = None
    stats: RequestStats = field(default_factory=RequestStats)
    seconds: float = 0.0


# One event is built per record; sharing this placeholder spares a RequestStats for each.
_RECORD_STATS = RequestStats()


def iter_slices(
    stream: Stream, slices: Iterable[dict], concurrency: int = 1
) -> Iterator[SliceEvent]:
    """Events of every slice, in order; ``slices`` is taken lazily, a few ahead of the pool."""
    if concurrency <= 1:
        yield from _sequential(stream, slices)
        return
    pending = iter(slices)
    first = list(itertools.islice(pending, 2))
    if len(first) <= 1:
        yield from _sequential(stream, first)
    else:
        yield from _concurrent(stream, itertools.chain(first, pending), concurrency)


def _sequential(stream: Stream, slices: Iterable[dict]) -> Iterator[SliceEvent]:
    cursor = stream.cursor
    for index, stream_slice in enumerate(slices):
        stats, started = RequestStats(), time.monotonic()
        for record in stream.read_slice(stream_slice, stats):
            yield SliceEvent(RECORD, index, stream_slice, record, _RECORD_STATS)
        if cursor is not None:
            cursor.close_slice(stream_slice)
        yield SliceEvent(DONE, index, stream_slice, stats=stats, seconds=time.monotonic() - started)


class SliceGroups:
    """The events of :func:`iter_slices` handed out a group of slices at a time (a scheduler's
    partition), each group's in full.

    With concurrent slices, events of later groups can arrive while an earlier group is read;
    they wait here until their group is asked for.
    """

    def __init__(self, events: Iterator[SliceEvent]) -> None:
        self._events = events
        self._pending: dict[int, deque[SliceEvent]] = defaultdict(deque)

    def events(self, indexes: range) -> Iterator[SliceEvent]:
        """The events of the slices at ``indexes``, up to the last one's ``DONE``: first those
        that arrived while an earlier group was read, then the stream's (one generator step
        per record: this is a scheduler run's per-record path)."""
        left = len(indexes)
        for index in indexes:
            for event in self._pending.pop(index, ()):
                if event.kind == DONE:
                    left -= 1
                yield event
        if not left:
            return
        for event in self._events:
            if event.index not in indexes:
                self._pending[event.index].append(event)
                continue
            yield event
            if event.kind == DONE:
                left -= 1
                if not left:
                    return
        raise RuntimeError("the engine stopped before every slice of the group was read")


_FINISHED = object()


def _concurrent(stream: Stream, slices: Iterator[dict], concurrency: int) -> Iterator[SliceEvent]:
    """Slices read by a pool; at most ``2 * concurrency`` taken but not yet closed, so neither
    the slice list nor the pool's queue ever holds more than that."""
    handoff: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=_QUEUE_SIZE)
    stop = threading.Event()
    open_slices: dict[int, tuple[dict, RequestStats]] = {}
    seconds: dict[int, float] = {}

    def work(index: int, stream_slice: dict, stats: RequestStats) -> None:
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            group: list[dict[str, Any]] = []
            for record in stream.read_slice(stream_slice, stats):
                group.append(record)
                if len(group) == _HANDOFF_GROUP:
                    if stop.is_set():
                        return
                    handoff.put((index, group))
                    group = []
            if group:
                handoff.put((index, group))
            seconds[index] = time.monotonic() - started
            handoff.put((index, _FINISHED))
        except BaseException as error:  # handed to the consumer, which re-raises it
            handoff.put((index, error))

    numbered = enumerate(slices)

    def take_more() -> None:
        while len(open_slices) < 2 * concurrency:
            taken = next(numbered, None)
            if taken is None:
                return
            index, stream_slice = taken
            open_slices[index] = (stream_slice, RequestStats())
            executor.submit(work, index, stream_slice, open_slices[index][1])

    cursor = stream.cursor
    finished: set[int] = set()
    next_to_close = 0
    executor = ThreadPoolExecutor(
        max_workers=concurrency, thread_name_prefix=f"slice-{stream.name}"
    )
    try:
        take_more()
        while open_slices:
            index, item = handoff.get()
            if item is _FINISHED:
                finished.add(index)
                while next_to_close in finished:
                    finished.discard(next_to_close)
                    stream_slice, stats = open_slices.pop(next_to_close)
                    if cursor is not None:
                        cursor.close_slice(stream_slice)
                    yield SliceEvent(
                        DONE,
                        next_to_close,
                        stream_slice,
                        stats=stats,
                        seconds=seconds.pop(next_to_close, 0.0),
                    )
                    next_to_close += 1
                take_more()
            elif isinstance(item, BaseException):
                raise item
            else:
                stream_slice = open_slices[index][0]
                for record in item:
                    yield SliceEvent(RECORD, index, stream_slice, record, _RECORD_STATS)
    finally:
        stop.set()
        _drain(handoff)
        executor.shutdown(wait=True, cancel_futures=True)
        _drain(handoff)


def _drain(handoff: queue.Queue) -> None:
    while True:
        try:
            handoff.get_nowait()
        except queue.Empty:
            return


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
        try:
            for event in iter_slices(stream, slices, self.concurrency):
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
