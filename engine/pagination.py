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

from engine.http.client import Page
from engine.http.options import EMPTY, RequestOption, RequestOptions
from engine.interpolation import InterpolatedBoolean, InterpolatedString


@dataclass(frozen=True)
class PageInfo:
    """What strategies may look at after a page: the page, its record count, its last record."""

    page: Page
    raw_count: int
    last_record: Mapping[str, Any] | None
    records: list


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
        if info.raw_count == 0 or (self.page_size and info.raw_count < self.page_size):
            return None
        return (self.start_from_page if current is None else int(current)) + 1


@dataclass
class OffsetIncrement(Strategy):
    page_size: int | None = None
    inject_on_first_request: bool = False

    def initial_token(self) -> Any:
        return 0 if self.inject_on_first_request else None

    def next_token(self, info: PageInfo, current: Any) -> Any:
        if info.raw_count == 0 or (self.page_size and info.raw_count < self.page_size):
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


@dataclass
class Paginator:
    """DefaultPaginator (and NoPagination, which is a paginator without a strategy)."""

    strategy: Strategy | None = None
    page_size_option: RequestOption | None = None
    page_token_option: RequestOption | None = None
    token_is_url: bool = False

    def start(self) -> PageCursor:
        return PageCursor(self)


class PageCursor:
    """Pagination state of one slice."""

    __slots__ = ("_paginator", "done", "token")

    def __init__(self, paginator: Paginator) -> None:
        self._paginator = paginator
        strategy = paginator.strategy
        self.token = strategy.initial_token() if strategy else None
        self.done = False

    @property
    def next_page_token(self) -> Mapping[str, Any] | None:
        return {"next_page_token": self.token} if self.token is not None else None

    def request_options(self) -> tuple[RequestOptions, str | None]:
        paginator = self._paginator
        options = EMPTY
        if paginator.page_size_option is not None and paginator.strategy is not None:
            options = paginator.page_size_option.options_for(paginator.strategy.page_size)
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
        previous, self.token = self.token, strategy.next_token(info, self.token)
        # A cursor the API hands back unchanged would request the same page forever.
        self.done = self.token is None or self.token == previous
