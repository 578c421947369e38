"""Deciding what a response means, and how long to wait before trying again.

An error handler looks at one response (or transport failure) and returns a :class:`Decision`:
success, fail, ignore (the page yields nothing), or retry after some backoff. Response filters are
checked first, in order; what no filter claims falls to the handler's :class:`ErrorDefaults`:
today's runtime has a table per status (:data:`STATUS_TABLE`); the 2022 runtime retried only 429
and 5xx and failed everything else (:data:`RETRY_429_AND_5XX`). The normalised manifest names
which in ``error_defaults``.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from engine import template_limits
from engine.interpolation import InterpolatedBoolean, InterpolatedString

SUCCESS, FAIL, IGNORE, RETRY, RATE_LIMITED = "SUCCESS", "FAIL", "IGNORE", "RETRY", "RATE_LIMITED"
ACTIONS = (SUCCESS, FAIL, IGNORE, RETRY, RATE_LIMITED)
RETRYING = (RETRY, RATE_LIMITED)
ERROR_MESSAGE_KEYS = ("message", "messages", "error", "errors", "failures", "failure", "detail")


@dataclass(frozen=True)
class Decision:
    action: str
    message: str | None = None
    backoff: float | None = None
    failure_type: str = "system_error"


class Outcome:
    """One attempt's result as the handlers see it: a response, or the exception instead."""

    __slots__ = ("_body", "error", "response")

    def __init__(self, response: requests.Response | None, error: Exception | None = None) -> None:
        self.response = response
        self.error = error
        self._body: Any = ...

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    @property
    def body(self) -> Any:
        """The JSON body, or ``{}`` when there is none (what predicates see)."""
        if self._body is ...:
            self._body = {}
            if self.response is not None and self.response.content:
                try:
                    self._body = self.response.json()
                except ValueError:
                    self._body = {}
        return self._body

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers if self.response is not None else {}

    def error_message(self) -> str:
        """The API's own error text, found under the usual keys of a JSON error body."""
        found = find_message(self.body)
        if found:
            return found
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        if self.response is not None:
            return (self.response.reason or "").strip()
        return ""


def find_message(body: Any) -> str:
    """The text under the usual error keys of a JSON body (``""`` when it has none)."""
    if isinstance(body, dict):
        for key in ERROR_MESSAGE_KEYS:
            if body.get(key):
                return find_message(body[key]) or str(body[key])
        return ""
    if isinstance(body, list):
        return ", ".join(filter(None, (find_message(item) or str(item) for item in body)))
    if isinstance(body, str):
        return body
    return ""


# -- backoff strategies --------------------------------------------------------------------------


class Wait(float):
    """Seconds to wait before a retry, and where the number came from (``Retry-After``,
    ``exponential``, ``constant``...), for the run log. It is a float everywhere else."""

    source: str

    def __new__(cls, seconds: float, source: str) -> Wait:
        wait = super().__new__(cls, seconds)
        wait.source = source
        return wait


class BackoffStrategy:
    source = "backoff"
    """How the run log names this strategy's waits."""

    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        raise NotImplementedError

    def describe(self) -> str:
        return self.source


@dataclass(frozen=True)
class ExponentialBackoff(BackoffStrategy):
    factor: float = 5.0
    jitter: float = 0.0
    source = "exponential"

    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        return self.factor * 2**attempt + _jitter(self.jitter)


@dataclass(frozen=True)
class ConstantBackoff(BackoffStrategy):
    seconds: float
    jitter: float = 0.0
    source = "constant"

    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        return self.seconds + _jitter(self.jitter)


def _jitter(range_seconds: float) -> float:
    """Today's runtime draws the wait from ``[wait, wait + 2 * jitter_range_in_seconds]``."""
    return random.uniform(0, 2 * range_seconds) if range_seconds else 0.0


DEFAULT_MAX_HEADER_WAIT = 600.0


@dataclass(frozen=True)
class WaitTimeFromHeader(BackoffStrategy):
    """Wait the number of seconds (or until the HTTP date) a header such as Retry-After says.

    A header is the API's word, not the manifest's: a wait above ``max_wait`` (the manifest's
    ``max_waiting_time_in_seconds``, else :data:`DEFAULT_MAX_HEADER_WAIT`) fails the request
    instead of holding the sync, and a value that is not a number (``nan``) is ignored.
    """

    header: str
    regex: Any = None
    max_wait: float | None = None

    def describe(self) -> str:
        return f"header {self.header}"

    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        value = _header_value(outcome, self.header, self.regex)
        if value is None:
            return None
        return _capped(_seconds_or_http_date(value), self.header, value, self.max_wait)


@dataclass(frozen=True)
class WaitUntilTimeFromHeader(BackoffStrategy):
    """Wait until the epoch timestamp a header names (e.g. X-RateLimit-Reset), capped like
    :class:`WaitTimeFromHeader`."""

    header: str
    min_wait: float | None = None
    regex: Any = None
    max_wait: float | None = None

    def describe(self) -> str:
        return f"header {self.header} (a time to wait until)"

    def backoff(self, outcome: Outcome, attempt: int) -> float | None:
        value = _header_value(outcome, self.header, self.regex)
        if value is None:
            return self.min_wait
        until = _header_number(value)
        if until is None:
            return self.min_wait
        wait = until - time.time()
        if self.min_wait is not None:
            wait = max(wait, self.min_wait)
        if wait < 0:
            return None
        return _capped(wait, self.header, value, self.max_wait)


class WaitTooLong(Exception):
    """The API asked for a wait above the ceiling: the request fails rather than hang."""

    def __init__(self, header: str, value: str, seconds: float, limit: float | None) -> None:
        asked = f"{seconds:,.0f} s" if math.isfinite(seconds) else "forever"
        ceiling = (
            f"the manifest's max_waiting_time_in_seconds of {limit:,.0f} s"
            if limit is not None
            else f"the default ceiling of {DEFAULT_MAX_HEADER_WAIT:,.0f} s (raise it with the "
            "backoff strategy's max_waiting_time_in_seconds)"
        )
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(f"the API asked to wait {asked} ({header}: {shown}), more than {ceiling}")


def _capped(seconds: float | None, header: str, value: str, limit: float | None) -> float | None:
    if seconds is None:
        return None
    ceiling = DEFAULT_MAX_HEADER_WAIT if limit is None else limit
    if seconds >= ceiling:
        raise WaitTooLong(header, value, seconds, limit)
    return seconds


def _header_value(outcome: Outcome, header: str, regex: Any) -> str | None:
    value = outcome.headers.get(header)
    if value is None:
        return None
    if regex is not None:
        match = template_limits.match(regex, value)
        return match.group(0) if match else None
    return value


def _header_number(value: str) -> float | None:
    """``value`` as a number: ``inf`` and numbers past float range are infinite (too long to
    wait), ``nan`` is no number at all."""
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _seconds_or_http_date(value: str) -> float | None:
    number = _header_number(value)
    if number is not None:
        return max(number, 0.0)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return max(moment.timestamp() - time.time(), 0.0)


# -- response filters and handlers ----------------------------------------------------------------


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
            if decision.action in (SUCCESS, IGNORE, *RETRYING):
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
