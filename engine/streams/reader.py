"""Reading a stream's slices, sequentially or in a bounded pool, with state never ahead of data.

:func:`iter_slices` is the core: it yields ``SliceEvent`` objects — each record as it arrives
(or, with ``pages=True``, each page's records at once), and a "done" event when a slice and
every slice before it have been fully emitted. Only at a "done" event may a caller persist
state, because only then is every record the state covers already in the caller's hands.
Workers hand records over through a bounded queue, in groups of up to `_HANDOFF_GROUP` (one
queue operation per record cost the engine a third more CPU than a plain threaded loop) or by
the page, so memory stays flat however fast the API answers. `engine.streams.messages` turns
the events into protocol messages.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from engine.http.client import RequestStats
from engine.streams.stream import Stream

RECORD, PAGE, DONE = "record", "page", "done"
_HANDOFF_GROUP = 100
_QUEUE_SIZE = 5_000 // _HANDOFF_GROUP  # groups waiting for the consumer: at most 5,000 records
_QUEUE_PAGES = 16  # pages waiting for the consumer (their size is the API's)


@dataclass(slots=True)
class SliceEvent:
    """``stats`` and ``seconds`` describe the slice on DONE events only; ``records`` holds a
    PAGE event's records."""

    kind: str  # RECORD, PAGE or DONE
    index: int
    stream_slice: dict[str, Any]
    record: dict[str, Any] | None = None
    stats: RequestStats = field(default_factory=RequestStats)
    seconds: float = 0.0
    records: list[dict[str, Any]] | None = None


# One event is built per record; sharing this placeholder spares a RequestStats for each.
_RECORD_STATS = RequestStats()


def iter_slices(
    stream: Stream, slices: Iterable[dict], concurrency: int = 1, *, pages: bool = False
) -> Iterator[SliceEvent]:
    """Events of every slice, in order; ``slices`` is taken lazily, a few ahead of the pool.

    With ``pages``, records come as PAGE events (see `Stream.read_pages`: the cursor has
    observed a page before it is handed over) instead of one RECORD event each: for callers
    that take whole pages, one event per page is most of the per-record cost gone."""
    if concurrency <= 1:
        yield from _sequential(stream, slices, pages)
        return
    pending = iter(slices)
    first = list(itertools.islice(pending, 2))
    if len(first) <= 1:
        yield from _sequential(stream, first, pages)
    else:
        yield from _concurrent(stream, itertools.chain(first, pending), concurrency, pages)


def _sequential(stream: Stream, slices: Iterable[dict], pages: bool) -> Iterator[SliceEvent]:
    cursor = stream.cursor
    for index, stream_slice in enumerate(slices):
        stats, started = RequestStats(), time.monotonic()
        if pages:
            for page in stream.read_pages(stream_slice, stats):
                yield SliceEvent(PAGE, index, stream_slice, None, _RECORD_STATS, 0.0, page)
        else:
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
        per event: read by pages, that is one per page)."""
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


def _concurrent(
    stream: Stream, slices: Iterator[dict], concurrency: int, pages: bool
) -> Iterator[SliceEvent]:
    """Slices read by a pool; at most ``2 * concurrency`` taken but not yet closed, so neither
    the slice list nor the pool's queue ever holds more than that."""
    handoff: queue.Queue[tuple[int, Any]] = queue.Queue(
        maxsize=_QUEUE_PAGES if pages else _QUEUE_SIZE
    )
    stop = threading.Event()
    open_slices: dict[int, tuple[dict, RequestStats]] = {}
    seconds: dict[int, float] = {}

    def work(index: int, stream_slice: dict, stats: RequestStats) -> None:
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            if pages:
                for page in stream.read_pages(stream_slice, stats):
                    if stop.is_set():
                        return
                    handoff.put((index, page))
            else:
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
            elif pages:
                yield SliceEvent(PAGE, index, open_slices[index][0], None, _RECORD_STATS, 0.0, item)
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
