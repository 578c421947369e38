"""Deciding what a response means: success, fail, ignore, or retry (waits: engine.http.backoff).

An error handler looks at one response (or transport failure) and returns a :class:`Decision`:
success, fail, ignore (the page yields nothing), or retry after some backoff. Response filters are
checked first, in order; what no filter claims falls to the handler's :class:`ErrorDefaults`:
today's runtime has a table per status (:data:`STATUS_TABLE`); the 2022 runtime retried only 429
and 5xx and failed everything else (:data:`RETRY_429_AND_5XX`). The normalised manifest names
which in ``error_defaults``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.http.backoff import BackoffStrategy, ExponentialBackoff, Wait
from engine.http.outcome import Outcome
from engine.templates.interpolation import InterpolatedBoolean, InterpolatedString

SUCCESS, FAIL, IGNORE, RETRY, RATE_LIMITED = "SUCCESS", "FAIL", "IGNORE", "RETRY", "RATE_LIMITED"
REDUCE_PAGE_SIZE = "REDUCE_PAGE_SIZE"
"""Not retried by the client: the retriever asks the same page with a smaller page size
(see :mod:`engine.streams.page_size_reduction`)."""
ACTIONS = (SUCCESS, FAIL, IGNORE, RETRY, RATE_LIMITED, REDUCE_PAGE_SIZE)
RETRYING = (RETRY, RATE_LIMITED)


class PageSizeReductionRequired(Exception):
    """A response its error handler resolved to REDUCE_PAGE_SIZE; ``message`` is the filter's."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message or "the API asked for a smaller page")
        self.message = message


@dataclass(frozen=True)
class Decision:
    action: str
    message: str | None = None
    backoff: float | None = None
    failure_type: str = "system_error"


@dataclass(frozen=True)
class ResponseFilter:
    action: str
    http_codes: frozenset[int] = frozenset()
    error_message_contains: str | None = None
    predicate: InterpolatedBoolean | None = None
    error_message: InterpolatedString | None = None
    failure_type: str | None = None

    def matches(self, outcome: Outcome, config: Mapping[str, Any]) -> bool:
        if outcome.status in self.http_codes:
            return True
        if outcome.response is None:
            return False
        if self.predicate is not None and self.predicate.eval(
            config, response=outcome.body, headers=outcome.headers
        ):
            return True
        return bool(
            self.error_message_contains and self.error_message_contains in outcome.error_message()
        )

    def decide(self, outcome: Outcome, config: Mapping[str, Any]) -> Decision:
        message = None
        if self.error_message is not None:
            message = self.error_message.eval_str(
                config, response=outcome.body, headers=outcome.headers
            )
        return Decision(
            self.action,
            message or None,
            failure_type=self.failure_type or _default_failure_type(outcome.status),
        )


class ErrorHandler:
    max_retries: int = 5

    def interpret(self, outcome: Outcome) -> Decision:
        raise NotImplementedError

    def backoff(self, outcome: Outcome, attempt: int) -> float:
        raise NotImplementedError


@dataclass
class DefaultErrorHandler(ErrorHandler):
    config: Mapping[str, Any]
    response_filters: Sequence[ResponseFilter] = ()
    backoff_strategies: Sequence[BackoffStrategy] = ()
    max_retries: int = 5
    defaults: ErrorDefaults = dataclasses.field(default_factory=lambda: STATUS_TABLE)

    def interpret(self, outcome: Outcome) -> Decision:
        for response_filter in self.response_filters or self.defaults.filters:
            if response_filter.matches(outcome, self.config):
                return response_filter.decide(outcome, self.config)
        if outcome.error is not None:
            return Decision(RETRY, outcome.error_message(), failure_type="transient_error")
        if outcome.response is not None and outcome.response.ok:
            return Decision(SUCCESS)
        return self.defaults.unclaimed(outcome.status)

    def backoff(self, outcome: Outcome, attempt: int) -> float:
        """The wait before retry ``attempt + 1`` (``attempt`` counts from 1).

        Both runtimes take the first *truthy* wait of the strategies: a strategy that gives
        nothing or 0 (``Retry-After: 0``) leaves the choice to the next one, and when none
        gives a wait the runtime's own exponential fallback waits ``factor * 2^(n-1)``: 1, 2,
        4 ... s today, 5, 10, 20 ... s in 2022. A 2022 handler without strategies had
        ``ExponentialBackoffStrategy(factor=5)`` (10, 20, 40 ... s), and a 2022 transport
        error went to the fallback without asking the strategies.
        """
        strategies = self.backoff_strategies or self.defaults.strategies
        if outcome.error is not None and not self.defaults.transport_errors_ask_strategies:
            strategies = ()
        for strategy in strategies:
            seconds = strategy.backoff(outcome, attempt)
            if seconds:
                return Wait(seconds, strategy.describe())
        return Wait(self.defaults.fallback_factor * 2 ** (attempt - 1), "exponential")


@dataclass(frozen=True)
class ErrorDefaults:
    """What a DefaultErrorHandler does where its manifest says nothing."""

    name: str
    filters: tuple[ResponseFilter, ...]
    """The filters of a handler that lists none."""
    unclaimed: Callable[[int | None], Decision]
    """The decision for a failed response no filter claims, by its status."""
    strategies: tuple[BackoffStrategy, ...]
    """The backoff strategies of a handler that lists none."""
    transport_errors_ask_strategies: bool
    """Whether a transport error (no response) asks the strategies for its wait."""
    fallback_factor: float
    """When no strategy gives a wait: ``factor * 2^(n-1)`` seconds (``backoff.expo``)."""


@dataclass
class CompositeErrorHandler(ErrorHandler):
    handlers: Sequence[ErrorHandler]

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return self.handlers[0].max_retries

    def interpret(self, outcome: Outcome) -> Decision:
        decision = Decision(FAIL)
        for handler in self.handlers:
            decision = handler.interpret(outcome)
            if decision.action in (SUCCESS, IGNORE, REDUCE_PAGE_SIZE, *RETRYING):
                return decision
        return decision

    def backoff(self, outcome: Outcome, attempt: int) -> float:
        for handler in self.handlers:
            if handler.interpret(outcome).action in RETRYING:
                return handler.backoff(outcome, attempt)
        return self.handlers[0].backoff(outcome, attempt)


_STANDARD = {
    400: (FAIL, "system_error"),
    401: (FAIL, "config_error"),
    403: (FAIL, "config_error"),
    404: (FAIL, "system_error"),
    405: (FAIL, "system_error"),
    408: (RETRY, "transient_error"),
    429: (RATE_LIMITED, "transient_error"),
}


def _standard_decision(status: int | None) -> Decision:
    action, failure_type = _STANDARD.get(status or 0, (RETRY, "system_error"))
    return Decision(action, failure_type=failure_type)


def _default_failure_type(status: int | None) -> str:
    return "config_error" if status in (401, 403) else "system_error"


STATUS_TABLE = ErrorDefaults(
    name="status_table",
    filters=(),
    unclaimed=_standard_decision,
    strategies=(),
    transport_errors_ask_strategies=True,
    fallback_factor=1.0,
)
RETRY_429_AND_5XX = ErrorDefaults(
    name="retry_429_and_5xx",
    filters=(ResponseFilter(RETRY, frozenset({429, *range(500, 600)})),),
    unclaimed=lambda status: Decision(FAIL, failure_type=_default_failure_type(status)),
    strategies=(ExponentialBackoff(factor=5.0),),
    transport_errors_ask_strategies=False,
    fallback_factor=5.0,
)
ERROR_DEFAULTS = {defaults.name: defaults for defaults in (STATUS_TABLE, RETRY_429_AND_5XX)}
"""The defaults by the name a normalised manifest gives in ``error_defaults``."""
