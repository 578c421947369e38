"""Asking the same page again with a smaller page size (``page_size_reduction``).

Some APIs answer a page they find too heavy with an error (GitHub's GraphQL answers 502/504 when
a query cannot finish in time). A response filter with ``action: REDUCE_PAGE_SIZE`` names that
response; the retriever's ``page_size_reduction`` says how to react, as airbyte-cdk 7 does
(``PageSizeReducer``): the same page is requested again, with the page size divided by
``reduction_factor`` (never below ``minimum_page_size``), after ``backoff_seconds`` times the
number of reductions in a row. ``max_attempts`` bounds the reductions in a row without a page
getting through; once the size is at its floor the page is re-sent unchanged
``retries_at_minimum_page_size`` times, then the read fails. A page that succeeds restarts both
counts; with ``reset_policy: AFTER_SUCCESSFUL_PAGE`` it also restores the configured size
(``NEVER``, the default, keeps the reduced size for the rest of the slice).

The configuration is shared by the stream; the size in effect lives in one
:class:`PageSizeReducer` per slice read, so concurrent slices never see each other's size.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import ConfigError, ReadError

NEVER, AFTER_SUCCESSFUL_PAGE = "NEVER", "AFTER_SUCCESSFUL_PAGE"
RESET_POLICIES = (NEVER, AFTER_SUCCESSFUL_PAGE)


@dataclass(frozen=True)
class PageSizeReduction:
    """A retriever's ``page_size_reduction`` block (defaults as in airbyte-cdk 7's schema)."""

    reduction_factor: float = 2.0
    minimum_page_size: int = 1
    max_attempts: int = 5
    reset_policy: str = NEVER
    backoff_seconds: float = 0.5
    retries_at_minimum_page_size: int = 0
    failure_message: str | None = None

    def start(
        self, configured: int | None, sleep: Callable[[float], None] = time.sleep
    ) -> PageSizeReducer:
        return PageSizeReducer(self, configured, sleep)


class PageSizeReducer:
    """The page size of one slice read while the API asks for smaller pages."""

    def __init__(
        self, config: PageSizeReduction, configured: int | None, sleep: Callable[[float], None]
    ) -> None:
        self._config = config
        self._configured = configured
        self._sleep = sleep
        self.override: int | None = None
        """The reduced size to request; None while the configured size is in effect."""
        self._in_a_row = 0
        self._at_floor = 0

    def reduce(self, rejection: str | None) -> None:
        """Called when the page just asked for was answered REDUCE_PAGE_SIZE: shrinks the size
        (and waits) for the same page again, or raises once nothing is left to try."""
        if self._configured is None:
            raise ConfigError(
                "the API asked for a smaller page (REDUCE_PAGE_SIZE) but the paginator sends no "
                "page size: set page_size on the pagination strategy and page_size_option"
            )
        current = self.override if self.override is not None else self._configured
        detail = f"; the API said: {rejection}" if rejection else ""
        reduced = max(self._config.minimum_page_size, int(current // self._config.reduction_factor))
        if reduced >= current:
            self._retry_at_floor(current, detail)
            return
        self._in_a_row += 1
        if self._in_a_row > self._config.max_attempts:
            raise ReadError(
                self._with_failure_message(
                    f"the API kept rejecting the page at every page size asked for, down to "
                    f"{current} ({self._config.max_attempts} reductions in a row){detail}"
                ),
                failure_type="transient_error",
            )
        self.override = reduced
        self._sleep(self._config.backoff_seconds * self._in_a_row)

    def _retry_at_floor(self, current: int, detail: str) -> None:
        if self._at_floor < self._config.retries_at_minimum_page_size:
            self._at_floor += 1
            self._sleep(self._config.backoff_seconds * self._at_floor)
            return
        if self.override is None and self._config.minimum_page_size > 1:
            raise ConfigError(
                f"the page size ({current}) is not above page_size_reduction's minimum_page_size "
                f"({self._config.minimum_page_size}), so it can never be reduced{detail}"
            )
        raise ReadError(
            self._with_failure_message(
                f"the API still rejects the page at the smallest page size allowed ({current})"
                f"{detail}"
            ),
            failure_type="transient_error",
        )

    def _with_failure_message(self, message: str) -> str:
        extra = (self._config.failure_message or "").strip()
        return f"{message}. {extra}" if extra else message

    def page_succeeded(self) -> None:
        """Restarts the counts; restores the configured size under AFTER_SUCCESSFUL_PAGE."""
        self._in_a_row = self._at_floor = 0
        if self._config.reset_policy == AFTER_SUCCESSFUL_PAGE:
            self.override = None
