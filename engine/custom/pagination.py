"""Adapter for custom pagination strategies.

A strategy is asked, after each page, for the next token with what the reference gives it: the
``requests.Response``, the page's record count, its last record (a ``Record``) and the current
token. (airbyte-cdk 7 has no custom paginator: its retrievers take a DefaultPaginator or
NoPagination, so a ``CustomPaginator`` written against it is refused, see
:mod:`engine.custom.builder`.)
"""

from __future__ import annotations

from typing import Any

from engine.custom import values
from engine.pagination import PageInfo, Strategy


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
