"""Adapters for custom pagination strategies and paginators.

A strategy is asked, after each page, for the next token with what the reference gives it: the
``requests.Response``, the page's record count, its last record (a ``Record``) and the current
token. A paginator also decides the request options of the next page and where it goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.custom import values
from engine.http.options import EMPTY, RequestOptions
from engine.pagination import PageInfo, Paginator, Strategy


def _last_record(info: PageInfo) -> Any:
    return values.record(info.last_record) if info.last_record is not None else None


class ReferenceStrategy(Strategy):
    """A custom ``PaginationStrategy``."""

    def __init__(self, component: Any) -> None:
        self.component = component
        self.page_size = component.get_page_size()

    def initial_token(self) -> Any:
        return self.component.initial_token

    def next_token(self, info: PageInfo, current: Any) -> Any:
        if info.page.response is None:
            return None
        try:
            return self.component.next_page_token(
                response=info.page.response,
                last_page_size=info.raw_count,
                last_record=_last_record(info),
                last_page_token_value=current,
            )
        except Exception as error:
            raise values.failure(self.component, error) from None


class ReferencePaginator(Paginator):
    """A custom ``Paginator``: each slice gets a :class:`ReferencePageCursor`."""

    def __init__(self, component: Any) -> None:
        super().__init__()
        self.component = component

    def start(self) -> Any:
        return ReferencePageCursor(self.component)


class ReferencePageCursor:
    """Pagination state of one slice, kept as the reference's paginator keeps it: the mapping
    its ``next_page_token`` returned (``{"next_page_token": ...}``)."""

    def __init__(self, component: Any) -> None:
        self.component = component
        initial = component.get_initial_token()
        self.next_page_token: Mapping[str, Any] | None = (
            {"next_page_token": initial} if initial is not None else None
        )
        self.done = False

    def request_options(self) -> tuple[RequestOptions, str | None]:
        token = self.next_page_token
        kwargs = {"stream_state": {}, "stream_slice": None, "next_page_token": token}
        options = RequestOptions(
            params=dict(self.component.get_request_params(**kwargs) or {}),
            headers=dict(self.component.get_request_headers(**kwargs) or {}),
            body_data=self.component.get_request_body_data(**kwargs) or None,
            body_json=self.component.get_request_body_json(**kwargs) or None,
        )
        path = self.component.path(next_page_token=token) if token else None
        return (options if not options.is_empty() else EMPTY), path

    def advance(self, info: PageInfo) -> None:
        if info.page.response is None or not info.page.response.ok:
            self.done = True
            return
        previous = self.next_page_token
        self.next_page_token = self.component.next_page_token(
            response=info.page.response,
            last_page_size=info.raw_count,
            last_record=_last_record(info),
            last_page_token_value=(previous or {}).get("next_page_token"),
        )
        self.done = not self.next_page_token or self.next_page_token == previous
