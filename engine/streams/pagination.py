"""Paginators: where the next page's token comes from and where it goes.

A paginator is built once per stream; each slice starts a fresh :class:`PageCursor` from it, so
concurrent slices never share pagination state. Strategies decide the next token from the page
just read; the paginator injects it (and the page size) into the next request.

Page and offset strategies stop on a short page counted *before* the record filter: counting
after it (as the reference runner long did) ends pagination early whenever a filter drops records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from requests.structures import CaseInsensitiveDict

from engine.errors import ConfigError, ReadError
from engine.http.client import Page
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.templates.interpolation import InterpolatedBoolean, InterpolatedString


@dataclass(frozen=True)
class PageInfo:
    """What strategies may look at after a page: the page, its record count, its last record."""

    page: Page
    raw_count: int
    last_record: Mapping[str, Any] | None
    records: list
    page_size_override: int | None = None
    """The page size the request asked for when a reduction changed it (a short page is one
    shorter than that; see engine.streams.page_size_reduction)."""

    def requested(self, configured: int | None) -> int | None:
        return self.page_size_override or configured


def template_headers(page: Page) -> Mapping[str, Any]:
    """Response headers as templates see them: ``link`` parsed into ``{rel: {url, ...}}``."""
    response = page.response
    if response is None:
        return {}
    headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(response.headers)
    headers["link"] = response.links if "link" in response.headers else {}
    return headers


_NO_HEADERS: Mapping[str, Any] = MappingProxyType({})


class Strategy:
    page_size: int | None = None

    def initial_token(self) -> Any:
        return None

    def next_token(self, info: PageInfo, current: Any) -> Any:
        raise NotImplementedError


@dataclass
class PageIncrement(Strategy):
    page_size: int | None = None
    start_from_page: int = 0
    inject_on_first_request: bool = False

    def initial_token(self) -> Any:
        return self.start_from_page if self.inject_on_first_request else None

    def next_token(self, info: PageInfo, current: Any) -> Any:
        size = info.requested(self.page_size)
        if info.raw_count == 0 or (size and info.raw_count < size):
            return None
        return (self.start_from_page if current is None else int(current)) + 1


@dataclass
class OffsetIncrement(Strategy):
    page_size: int | None = None
    inject_on_first_request: bool = False

    def initial_token(self) -> Any:
        return 0 if self.inject_on_first_request else None

    def next_token(self, info: PageInfo, current: Any) -> Any:
        size = info.requested(self.page_size)
        if info.raw_count == 0 or (size and info.raw_count < size):
            return None
        return (int(current) if current is not None else 0) + info.raw_count


@dataclass
class CursorPagination(Strategy):
    config: Mapping[str, Any]
    cursor_value: InterpolatedString
    stop_condition: InterpolatedBoolean | None = None
    page_size: int | None = None

    def __post_init__(self) -> None:
        # Parsing the response headers (and their Link header) for every page is wasted work
        # when neither template can name them; a template that does contains the word.
        templates = (self.cursor_value.raw, self.stop_condition.raw if self.stop_condition else "")
        self._reads_headers = any("headers" in str(text) for text in templates)

    def next_token(self, info: PageInfo, current: Any) -> Any:
        context = {
            "response": info.page.body if info.page.body is not None else {},
            "headers": template_headers(info.page) if self._reads_headers else _NO_HEADERS,
            "last_record": info.last_record,
            "last_records": info.records,
            "last_page_size": info.raw_count,
        }
        if self.stop_condition is not None and self.stop_condition.eval(self.config, **context):
            return None
        token = self.cursor_value.eval(self.config, **context)
        return token if token not in ("", None, {}, 0, [], False) else None


@dataclass(frozen=True)
class PageLimits:
    """How far one slice may page before the read fails: a paginator that always finds a next
    page (a full page every time, a fresh token every time) would otherwise never end."""

    max_pages: int | None = None
    max_records: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_pages", "max_records"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} per slice must be a whole number of at least 1")

    def check(self, pages: int, records: int) -> None:
        """Called when a slice has read ``pages`` pages and ``records`` records and the
        paginator asks for one more page."""
        for limit, count, unit, setting in (
            (self.max_pages, pages, "pages", "max_pages_per_slice"),
            (self.max_records, records, "records", "max_records_per_slice"),
        ):
            if limit is not None and count >= limit:
                raise ReadError(
                    f"the paginator still asks for another page after {count:,} {unit}, the "
                    f"limit of {limit:,} per slice ({setting}); the API may page without end"
                )


NO_LIMITS = PageLimits()
# Tokens of one slice remembered to notice a cycle (A, B, A); a longer cycle is ended by the
# page limits.
_REMEMBERED_TOKENS = 1_000


@dataclass
class Paginator:
    """DefaultPaginator (and NoPagination, which is a paginator without a strategy)."""

    strategy: Strategy | None = None
    page_size_option: RequestOption | None = None
    page_token_option: RequestOption | None = None
    token_is_url: bool = False
    limits: PageLimits = NO_LIMITS

    def start(self) -> PageCursor:
        return PageCursor(self)


class PageCursor:
    """Pagination state of one slice.

    ``stop_reason`` says why pagination ended early (a token the API had already handed out:
    following it would read the same pages again, forever); None when it ended normally.
    """

    __slots__ = ("_pages", "_paginator", "_records", "_seen", "done", "stop_reason", "token")

    def __init__(self, paginator: Paginator) -> None:
        self._paginator = paginator
        strategy = paginator.strategy
        self.token = strategy.initial_token() if strategy else None
        self.done = False
        self.stop_reason: str | None = None
        self._seen: dict[str, None] = {}
        self._pages = self._records = 0

    @property
    def next_page_token(self) -> Mapping[str, Any] | None:
        return {"next_page_token": self.token} if self.token is not None else None

    def request_options(
        self, page_size_override: int | None = None
    ) -> tuple[RequestOptions, str | None]:
        """The next request's options (and URL, when the token is one); the page size sent is
        ``page_size_override`` when a reduction set one."""
        paginator = self._paginator
        options = EMPTY
        if paginator.page_size_option is not None and paginator.strategy is not None:
            size = page_size_override or paginator.strategy.page_size
            options = paginator.page_size_option.options_for(size)
        if self.token is None:
            return options, None
        if paginator.token_is_url:
            return options, str(self.token)
        if paginator.page_token_option is not None:
            options = options.merge(paginator.page_token_option.options_for(self.token))
        return options, None

    def advance(self, info: PageInfo) -> None:
        strategy = self._paginator.strategy
        if strategy is None or info.page.response is None or not info.page.response.ok:
            self.done = True
            return
        self._pages += 1
        self._records += info.raw_count
        previous, self.token = self.token, strategy.next_token(info, self.token)
        if self.token is None:
            self.done = True
            return
        if self._repeated(previous):
            self.done = True
            return
        self._paginator.limits.check(self._pages, self._records)

    def _repeated(self, previous: Any) -> bool:
        """A token from the API that it already handed out in this slice (the same page
        again, or a cycle): following it would read the same pages forever."""
        seen = self._seen
        if previous is not None:
            seen[repr(previous)] = None
        key = repr(self.token)
        if key in seen:
            again = (
                "the page token just sent" if self.token == previous else "an earlier page token"
            )
            self.stop_reason = (
                f"the API answered page {self._pages} with {again} as the next one; "
                "pagination stopped there"
            )
            return True
        if len(seen) >= _REMEMBERED_TOKENS:
            del seen[next(iter(seen))]
        return False
