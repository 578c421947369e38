"""Adapter for custom pagination strategies.

A strategy is asked, after each page, for the next token with what the reference gives it: the
``requests.Response``, the page's record count, its last record (a ``Record``) and the current
token. (airbyte-cdk 7 has no custom paginator: its retrievers take a DefaultPaginator or
NoPagination, so a ``CustomPaginator`` written against it is refused, see
:mod:`engine.custom.builder`.)
"""

from __future__ import annotations

import inspect
from typing import Any

from engine.custom import values
from engine.custom.scope import ConnectorScope, scoped
from engine.streams.pagination import PageInfo, Strategy


def _last_record(info: PageInfo) -> Any:
    return values.record(info.last_record) if info.last_record is not None else None


class ReferenceStrategy(Strategy):
    """A custom ``PaginationStrategy``."""

    def __init__(self, component: Any, scope: ConnectorScope) -> None:
        self.component = component
        self.scope = scope
        self.page_size = component.get_page_size()

    @scoped
    def initial_token(self) -> Any:
        return self.component.initial_token

    def page_size_reduction_refusal(self) -> str | None:
        """Why the component cannot be told a reduced page size (airbyte-cdk 7's check for
        ``page_size_reduction``), or None: it must take a ``page_size_override`` keyword and
        not be a PageIncrement (whose pages are numbered by size)."""
        from airbyte_cdk.sources.declarative.requesters.paginators.strategies import PageIncrement

        name = type(self.component).__name__
        if isinstance(self.component, PageIncrement):
            return f"the custom strategy {name}, a PageIncrement (pages numbered by size)"
        try:
            parameters = inspect.signature(self.component.next_page_token).parameters.values()
        except (TypeError, ValueError) as error:
            return f"the custom strategy {name}, whose next_page_token cannot be inspected: {error}"
        if any(p.name == "page_size_override" or p.kind is p.VAR_KEYWORD for p in parameters):
            return None
        return f"the custom strategy {name}, whose next_page_token takes no page_size_override"

    @scoped
    def next_token(self, info: PageInfo, current: Any) -> Any:
        if info.page.response is None:
            return None
        override = info.page_size_override
        try:
            return self.component.next_page_token(
                response=info.page.response,
                last_page_size=info.raw_count,
                last_record=_last_record(info),
                last_page_token_value=current,
                **({"page_size_override": override} if override is not None else {}),
            )
        except Exception as error:
            raise values.failure(self.component, error) from None
