"""SimpleRetriever: the request loop of one slice, page after page.

For a slice: start a page cursor, then repeat: build the request from the requester's own
options, the slicer's options for the slice and the paginator's options for the token; send it;
select the page's records; ask the paginator for the next token. Records are yielded as soon as
their page is decoded, so memory holds at most one page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import requests

from engine.errors import EngineError, ReadError
from engine.http.client import Page, RequestStats
from engine.http.decoders import BodyStream
from engine.http.error_handling import PageSizeReductionRequired
from engine.http.options import RequestOptions
from engine.http.requester import HttpRequester
from engine.records.extract import RecordSelector
from engine.slicing.base import CHILD_RESPONSE, EXTRA_FIELDS, Cursor, Slicer
from engine.streams.page_size_reduction import PageSizeReducer, PageSizeReduction
from engine.streams.pagination import PageInfo, Paginator
from engine.streams.pagination_reset import PaginationReset
from engine.streams.query_properties import MergedRecords, QueryProperties


@dataclass
class SimpleRetriever:
    requester: HttpRequester
    record_selector: RecordSelector
    paginator: Paginator
    slicer: Slicer
    ignore_slicer_options_on_later_pages: bool = False
    query_properties: QueryProperties | None = None
    pagination_reset: PaginationReset | None = None
    lazy_refusal: EngineError | None = None
    """Raised instead of reading a parent's embedded list as the first page, where airbyte-cdk
    7 refuses that read (see :mod:`engine.factory.lazy_read`)."""
    page_size_reduction: PageSizeReduction | None = None
    sleep: Callable[[float], None] = time.sleep

    def read_slice(
        self, stream_slice: Mapping[str, Any], stats: RequestStats
    ) -> Iterator[dict[str, Any]]:
        for records in self.read_pages(stream_slice, stats):
            yield from records

    def read_pages(
        self, stream_slice: Mapping[str, Any], stats: RequestStats
    ) -> Iterator[list[dict[str, Any]]]:
        """The records of one slice, a page at a time (the next request is sent when the caller
        asks for the next page). The caller must not change the lists: pagination reads them."""
        original = stream_slice
        tracker = self.pagination_reset.tracker() if self.pagination_reset else None
        cursor = self.paginator.start()
        slice_options = self.slicer.request_options(stream_slice)
        first = True
        reducer = self._page_size_reducer()
        while True:
            override = reducer.override if reducer is not None else None
            page_options, url_override = cursor.request_options(override)
            options = page_options
            if first or not self.ignore_slicer_options_on_later_pages:
                options = slice_options.merge(page_options)
            token = cursor.next_page_token
            context = {"stream_slice": stream_slice, "next_page_token": token}
            request = _PageRequest(stream_slice, context, token, options, url_override)
            embedded = (stream_slice.get(EXTRA_FIELDS) or {}).get(CHILD_RESPONSE, _NOT_LAZY)
            try:
                if first and embedded is not _NOT_LAZY:
                    if self.lazy_refusal is not None:
                        raise self.lazy_refusal
                    page, records, raw_count = self._embedded_page(embedded, request, stats)
                elif self.query_properties is None:
                    page, records, raw_count = self._read_page(request, stats)
                else:
                    page, records, raw_count = self._read_in_chunks(request, stats)
            except PageSizeReductionRequired as asked:
                if reducer is None:
                    raise ReadError(
                        "the error handler answered REDUCE_PAGE_SIZE but the retriever has no "
                        f"page_size_reduction to send a smaller page ({asked})",
                        failure_type="config_error",
                    ) from None
                reducer.reduce(asked.message)
                continue  # the same page again (same token, same slice), smaller
            if reducer is not None:
                reducer.page_succeeded()
            first = False
            if page is None:  # an ignored error response ends the slice
                return
            stats.records += len(records)
            if records:
                yield records
            if tracker is not None:
                for record in records:
                    tracker.observe(record)
                if tracker.reached():  # see engine.streams.pagination_reset
                    stream_slice = tracker.restart(stream_slice, original)
                    cursor = self.paginator.start()
                    slice_options = self.slicer.request_options(stream_slice)
                    first = True
                    continue
            if isinstance(page.body, BodyStream):
                # As in the reference runner, pagination reads no body of a line-oriented
                # response: its ``response`` is empty (headers and last_page_size remain).
                page = Page(page.response, {})
            last = records[-1] if records else None
            cursor.advance(PageInfo(page, raw_count, last, records, override))
            if cursor.done:
                if cursor.stop_reason:
                    stats.warnings.append(cursor.stop_reason)
                return

    def _page_size_reducer(self) -> PageSizeReducer | None:
        """A fresh reduced size per slice: slices read concurrently share the retriever."""
        if self.page_size_reduction is None:
            return None
        strategy = self.paginator.strategy
        configured = strategy.page_size if self.paginator.page_size_option and strategy else None
        return self.page_size_reduction.start(configured, self.sleep)

    def _read_page(self, request: _PageRequest, stats: RequestStats) -> _PageRead:
        state: dict[str, Any] = {}
        if getattr(self.requester, "templates_read_state", False):
            # The 2022 runtime's stream_state: records are observed as they are taken, so the
            # previous pages' count here (a stream without a cursor has the state {}).
            current = (
                self.slicer.current_state(request.stream_slice)
                if isinstance(self.slicer, Cursor)
                else {}
            )
            state = {"stream_state": current}
        page = self.requester.send(
            stream_slice=request.stream_slice,
            next_page_token=request.next_page_token,
            extra=request.options,
            url_override=request.url_override,
            stats=stats,
            **state,
        )
        if page.body is None:
            return None, [], 0
        records, raw_count = self.record_selector.select(
            page.body, request.context, page.response, stats.warnings, **state
        )
        return page, records, raw_count

    def _embedded_page(self, body: Any, request: _PageRequest, stats: RequestStats) -> _PageRead:
        """A lazily read child's first page, as airbyte-cdk 7 reads it on a first sync: the
        list its parent record embeds, selected like a response (no request, no headers); the
        paginator then decides from it whether to ask the API for the next page."""
        response = requests.Response()  # what the paginator sees: a 200 without headers
        response.status_code = 200
        response._content = json.dumps(body).encode()
        records, raw_count = self.record_selector.select(
            body, request.context, response, stats.warnings
        )
        return Page(response, body), records, raw_count

    def _read_in_chunks(self, request: _PageRequest, stats: RequestStats) -> _PageRead:
        """One page asked once per chunk of query properties (see engine.streams.query_properties);
        the paginator then sees the last chunk's response and the page's records."""
        properties = self.query_properties
        assert properties is not None
        merged = MergedRecords(properties.chunking)
        records: list[dict[str, Any]] = []
        page: Page | None = None
        for chunk in properties.chunks():
            # As the reference: the chunk replaces the slice's extra fields.
            chunk_slice = {**request.stream_slice, EXTRA_FIELDS: {"query_properties": chunk}}
            options = request.options
            if properties.parameter is not None:
                chosen = RequestOptions(params={properties.parameter: ",".join(chunk)})
                options = chosen.merge(options)
            context = {**request.context, "stream_slice": chunk_slice}
            chunk_request = replace(
                request, stream_slice=chunk_slice, context=context, options=options
            )
            page, found, _ = self._read_page(chunk_request, stats)
            if page is None:
                return None, [], 0
            records.extend(record for record in found if not merged.add(record))
        records.extend(merged.records())
        return page, records, len(records)


@dataclass(frozen=True)
class _PageRequest:
    """One page's request: its slice, the templates' variables, the token and options."""

    stream_slice: Mapping[str, Any]
    context: dict[str, Any]
    next_page_token: Mapping[str, Any] | None
    options: RequestOptions
    url_override: str | None


_NOT_LAZY = object()

# A page read: the page (None when an ignored error ended the slice), its records, and how many
# the paginator counts.
_PageRead = tuple[Page | None, list[dict[str, Any]], int]
