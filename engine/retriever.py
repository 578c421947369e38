"""SimpleRetriever: the request loop of one slice, page after page.

For a slice: start a page cursor, then repeat: build the request from the requester's own
options, the slicer's options for the slice and the paginator's options for the token; send it;
select the page's records; ask the paginator for the next token. Records are yielded as soon as
their page is decoded, so memory holds at most one page.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.decoders import BodyStream
from engine.errors import ReadError
from engine.extract import RecordSelector
from engine.http.client import Page, RequestStats
from engine.http.requester import HttpRequester
from engine.pagination import PageInfo, Paginator
from engine.slicing.base import Slicer


@dataclass
class SimpleRetriever:
    requester: HttpRequester
    record_selector: RecordSelector
    paginator: Paginator
    slicer: Slicer
    ignore_slicer_options_on_later_pages: bool = False

    def read_slice(
        self, stream_slice: Mapping[str, Any], stats: RequestStats
    ) -> Iterator[dict[str, Any]]:
        cursor = self.paginator.start()
        slice_options = self.slicer.request_options(stream_slice)
        context = {"stream_slice": stream_slice}
        first = True
        while True:
            page_options, url_override = cursor.request_options()
            options = page_options
            if first or not self.ignore_slicer_options_on_later_pages:
                options = slice_options.merge(page_options)
            page = self.requester.send(
                stream_slice=stream_slice,
                next_page_token=cursor.next_page_token,
                extra=options,
                url_override=url_override,
                stats=stats,
            )
            first = False
            if page.body is None:  # an ignored error response ends the slice
                return
            context["next_page_token"] = cursor.next_page_token
            records, raw_count = self.record_selector.select(
                page.body, context, page.response, stats.warnings
            )
            stats.records += len(records)
            yield from records
            if isinstance(page.body, BodyStream):
                # As in the reference runner, pagination reads no body of a line-oriented
                # response: its ``response`` is empty (headers and last_page_size remain).
                page = Page(page.response, {})
            cursor.advance(PageInfo(page, raw_count, records[-1] if records else None, records))
            if cursor.done:
                if cursor.stop_reason:
                    stats.warnings.append(cursor.stop_reason)
                return


def with_stream_context(
    error: ReadError, stream: str, stream_slice: Mapping[str, Any]
) -> ReadError:
    return error.with_context(stream=stream, stream_slice=stream_slice)
