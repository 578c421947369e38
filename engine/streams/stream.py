"""DeclarativeStream: a named collection of records with its slices, cursor and schema."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ReadError, describe_slice
from engine.http.client import RequestStats
from engine.slicing.base import CHILD_RESPONSE, EXTRA_FIELDS, Cursor, Slice, Slicer
from engine.slicing.datetime_cursor import DatetimeBasedCursor
from engine.streams.retriever import SimpleRetriever

logger = logging.getLogger("engine")


@dataclass
class Stream:
    name: str
    retriever: SimpleRetriever
    slicer: Slicer
    primary_key: list[list[str]] = field(default_factory=list)
    cursor_field: list[str] = field(default_factory=list)
    load_schema: Callable[[], dict[str, Any]] = dict
    checkpoint_interval: int | None = None
    parent_streams: list[str] = field(default_factory=list)
    mask: Callable[[str], str] | None = None
    """The source's secret masker: every error leaving the stream passes through it."""
    _schema: dict[str, Any] | None = field(default=None, init=False)

    @property
    def json_schema(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = self.load_schema()
        return self._schema

    @property
    def cursor(self) -> Cursor | None:
        return self.slicer if isinstance(self.slicer, Cursor) else None

    @property
    def supports_incremental(self) -> bool:
        return bool(self.cursor_field)

    def slices(self, state: Mapping[str, Any] | None = None) -> list[Slice]:
        return list(self.iter_slices(state))

    def iter_slices(self, state: Mapping[str, Any] | None = None) -> Iterator[Slice]:
        """The slices of a read from ``state``. A stream sliced by date windows alone makes
        them as they are taken (a range of a billion windows costs nothing before the first
        request); other slicers, whose state moves when their slices run out (per-partition
        cursors, parents), list theirs first."""
        cursor = self.cursor
        if cursor is not None and state:
            cursor.set_initial_state(state)
        slices = self.slicer.slices(state)
        if state:  # as the reference, only a first sync reads a parent's embedded child lists
            slices = map(_requested_in_full, slices)
        return iter(slices if isinstance(self.slicer, DatetimeBasedCursor) else list(slices))

    def first_slice(self) -> Slice | None:
        """The first slice of a fresh read, without working out the others (parents stay unread)."""
        return next(iter(self.slicer.slices(None)), None)

    def read_slice(self, stream_slice: Slice, stats: RequestStats | None = None) -> Iterator[dict]:
        """The records of one slice; errors name this stream and slice. The cursor observes each
        record as the caller takes it, so its state never runs ahead of the records taken."""
        stats = stats if stats is not None else RequestStats()
        cursor = self.cursor
        with self._reading(stream_slice, stats):
            if cursor is None:  # no per-record work: delegate without a Python-level loop
                yield from self.retriever.read_slice(stream_slice, stats)
                return
            for record in self.retriever.read_slice(stream_slice, stats):
                if cursor.feed_exhausted(stream_slice, record):
                    return  # closing the retriever's generator sends no further request
                if not cursor.keep(stream_slice, record):
                    continue
                cursor.observe(stream_slice, record)
                yield record

    def read_pages(
        self, stream_slice: Slice, stats: RequestStats | None = None
    ) -> Iterator[list[dict]]:
        """`read_slice` a page at a time, for callers that take every record of a page at once
        (one step per page instead of one per record). The cursor observes a whole page before
        it is handed over: a caller that states the cursor part-way through a page must use
        `read_slice`. Retrievers without pages hand their records one per list."""
        stats = stats if stats is not None else RequestStats()
        cursor = self.cursor
        read_pages = getattr(self.retriever, "read_pages", None)
        with self._reading(stream_slice, stats):
            if read_pages is None:
                pages = ([record] for record in self.retriever.read_slice(stream_slice, stats))
            else:
                pages = read_pages(stream_slice, stats)
            if cursor is None:
                yield from pages
                return
            for page in pages:
                kept = []
                for record in page:
                    if cursor.feed_exhausted(stream_slice, record):
                        if kept:
                            yield kept
                        return
                    if cursor.keep(stream_slice, record):
                        cursor.observe(stream_slice, record)
                        kept.append(record)
                if kept:
                    yield kept

    @contextmanager
    def _reading(self, stream_slice: Slice, stats: RequestStats) -> Iterator[None]:
        """Errors of a slice's read name this stream and slice; its warnings are logged."""
        warned = len(stats.warnings)
        try:
            yield
        except ReadError as error:
            raise error.with_context(
                stream=self.name, stream_slice=stream_slice, mask=self.mask
            ) from None
        finally:
            for warning in stats.warnings[warned:]:
                where = f", slice {describe_slice(stream_slice)}" if stream_slice else ""
                text = f"stream {self.name!r}{where}: {warning}"
                logger.warning("%s", self.mask(text) if self.mask else text)

    def take_warnings(self) -> list[str]:
        """Warnings of the read so far (records whose cursor value did not parse), each once."""
        cursor = self.cursor
        return [f"stream {self.name!r}: {w}" for w in cursor.take_warnings()] if cursor else []

    def read_records(self, state: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every record of every slice, sequentially (the simple Python API)."""
        for stream_slice in self.iter_slices(state):
            yield from self.read_slice(stream_slice)
            if self.cursor is not None:
                self.cursor.close_slice(stream_slice)

    def catalog_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.name,
            "json_schema": self.json_schema,
            "supported_sync_modes": ["full_refresh", "incremental"]
            if self.supports_incremental
            else ["full_refresh"],
        }
        if self.supports_incremental:
            entry["source_defined_cursor"] = True
            entry["default_cursor_field"] = list(self.cursor_field)
        if self.primary_key:
            entry["source_defined_primary_key"] = self.primary_key
        return entry


def _requested_in_full(stream_slice: Slice) -> Slice:
    """The slice without the child list its parent embeds (see engine.slicing.substream), so
    its first page is requested. In place: slicers may know their slices by identity."""
    extra = stream_slice.get(EXTRA_FIELDS)
    if isinstance(extra, dict):
        extra.pop(CHILD_RESPONSE, None)
    return stream_slice
