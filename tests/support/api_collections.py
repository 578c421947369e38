"""Serving a list of records the way real REST APIs do: filtered by date and field, then paged.

A `RecordCollection` is a route handler built from plain settings (`Pagination`, `DateFilter`),
so every pagination style behaves identically apart from how the next page is announced. Records
are read at request time from the objects the test passed in, so a test can append records
between syncs to simulate new data.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlencode

from .api_messages import RecordedRequest, Response, json_error

Record = dict[str, Any]
RecordSource = (
    Sequence[Record]
    | Mapping[Any, Sequence[Record]]
    | Callable[[dict[str, str]], Sequence[Record] | None]
)
"""The records of a collection: one list; or, for a templated path such as
``/projects/{id}/events``, a mapping from the path parameter's value (str or int keys) to a list,
or a callable taking all path parameters and returning a list (None for an unknown parent: 404)."""

PaginationStyle = Literal["none", "page", "offset", "cursor", "link", "next_url"]


@dataclass(frozen=True)
class Pagination:
    """How a collection splits its records into pages.

    - ``none``: everything in one response;
    - ``page``: ``?page=N`` counting from ``first_page``;
    - ``offset``: ``?offset=N`` (``offset_param``);
    - ``cursor``: the body's ``next_key`` holds an opaque token to send back as ``?cursor=``;
    - ``link``: an RFC 8288 ``Link: <full next URL>; rel="next"`` header;
    - ``next_url``: the body's ``next_key`` holds the full next URL.

    The page size is ``page_size`` unless the request says otherwise in ``size_param``
    (default ``limit`` for the offset style, ``per_page`` for the others). The last page of the
    cursor and next_url styles carries ``next_key: null``; the link style omits the header.
    """

    style: PaginationStyle = "none"
    page_size: int = 10
    size_param: str | None = None
    page_param: str = "page"
    first_page: int = 1
    offset_param: str = "offset"
    cursor_param: str = "cursor"
    next_key: str = "next"

    @property
    def effective_size_param(self) -> str:
        if self.size_param is not None:
            return self.size_param
        return "limit" if self.style == "offset" else "per_page"


@dataclass(frozen=True)
class DateFilter:
    """Keep records whose ``field`` lies within ``[since, until]`` (both ends inclusive).

    Both the query values and the record values may be ISO 8601 (``Z`` or an offset; naive means
    UTC) or integer epoch seconds, and are compared as instants. An unparseable query value gets a
    400, as a strict API would answer.
    """

    field: str
    since_param: str | None = "updated_since"
    until_param: str | None = "updated_until"


def parse_instant(value: object) -> datetime:
    """An aware datetime from ISO 8601 text or epoch seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), timezone.utc)
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


class BadRequest(Exception):
    """A query parameter the API rejects; its message is sent back in a 400 body."""


def _as_text(value: object) -> str:
    """A record value as it would appear in a query string (JSON spelling for literals)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _int_param(request: RecordedRequest, name: str, default: int, minimum: int) -> int:
    raw = request.param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}, got {value}")
    return value


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, _, offset = base64.urlsafe_b64decode(padded).decode().partition(":")
        if kind == "offset" and offset.isdigit():
            return int(offset)
    except ValueError:
        pass
    raise BadRequest("cursor is not a token this API issued")


@dataclass(frozen=True)
class RecordCollection:
    """A GET route handler serving ``records`` under ``base_url`` (for next-page URLs)."""

    records: RecordSource
    base_url: str
    pagination: Pagination = field(default_factory=Pagination)
    records_key: str | None = "data"
    date_filter: DateFilter | None = None
    filter_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.records_key is None and self.pagination.style in ("cursor", "next_url"):
            raise ValueError(
                f"{self.pagination.style} pagination puts the next token in the body object, "
                "so records_key cannot be None"
            )

    def __call__(self, request: RecordedRequest) -> Response:
        records = self._records_for(request.path_params)
        if records is None:
            return json_error(404, "not_found", f"no such resource: {request.path}")
        try:
            selected = self._select(records, request)
            return self._page(selected, request)
        except BadRequest as error:
            return json_error(400, "bad_request", str(error))

    def _records_for(self, path_params: dict[str, str]) -> Sequence[Record] | None:
        if callable(self.records):
            return self.records(path_params)
        if not isinstance(self.records, Mapping):
            return self.records
        if len(path_params) != 1:
            raise ValueError("records given as a mapping need a path with exactly one parameter")
        (value,) = path_params.values()
        if value in self.records:
            return self.records[value]
        return self.records.get(int(value)) if value.lstrip("-").isdigit() else None

    def _select(self, records: Sequence[Record], request: RecordedRequest) -> list[Record]:
        selected = list(records)
        for name in self.filter_fields:
            wanted = request.param(name)
            if wanted is not None:
                selected = [r for r in selected if _as_text(r.get(name)) == wanted]
        if self.date_filter is not None:
            selected = self._within_dates(selected, request, self.date_filter)
        return selected

    @staticmethod
    def _within_dates(
        records: list[Record], request: RecordedRequest, dates: DateFilter
    ) -> list[Record]:
        bounds = []
        for param in (dates.since_param, dates.until_param):
            raw = request.param(param) if param else None
            try:
                bounds.append(None if raw is None else parse_instant(raw))
            except ValueError:
                raise BadRequest(f"{param} is not a date or epoch seconds: {raw!r}") from None
        since, until = bounds
        if since is None and until is None:
            return records
        kept = []
        for record in records:
            if record.get(dates.field) is None:
                continue
            instant = parse_instant(record[dates.field])
            if (since is None or since <= instant) and (until is None or instant <= until):
                kept.append(record)
        return kept

    def _page(self, records: list[Record], request: RecordedRequest) -> Response:
        paging = self.pagination
        if paging.style == "none":
            return self._response(records, None, {})
        size = _int_param(request, paging.effective_size_param, paging.page_size, minimum=1)
        if paging.style == "offset":
            start = _int_param(request, paging.offset_param, 0, minimum=0)
        elif paging.style == "cursor":
            token = request.param(paging.cursor_param)
            start = 0 if token is None else _decode_cursor(token)
        else:
            page = _int_param(request, paging.page_param, paging.first_page, paging.first_page)
            start = (page - paging.first_page) * size
        end = start + size
        has_next = end < len(records)
        page_records = records[start:end]
        if paging.style == "cursor":
            return self._response(page_records, _encode_cursor(end) if has_next else None, {})
        next_url = self._next_page_url(request, size) if has_next else None
        if paging.style == "next_url":
            return self._response(page_records, next_url, {})
        if paging.style == "link" and next_url is not None:
            return self._response(page_records, None, {"Link": f'<{next_url}>; rel="next"'})
        return self._response(page_records, None, {})

    def _next_page_url(self, request: RecordedRequest, size: int) -> str:
        """The request's own URL with the page number advanced, other parameters kept."""
        paging = self.pagination
        query = dict(request.query)
        current = _int_param(request, paging.page_param, paging.first_page, paging.first_page)
        query[paging.page_param] = [str(current + 1)]
        query[paging.effective_size_param] = [str(size)]
        return f"{self.base_url}{request.path}?{urlencode(query, doseq=True)}"

    def _response(
        self, records: list[Record], next_value: str | None, headers: dict[str, str]
    ) -> Response:
        if self.records_key is None:
            return Response(200, records, headers)
        body: dict[str, Any] = {self.records_key: records}
        if self.pagination.style in ("cursor", "next_url"):
            body[self.pagination.next_key] = next_value
        return Response(200, body, headers)
