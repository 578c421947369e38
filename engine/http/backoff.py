"""Backoff strategies: how long to wait before sending a request again.

A strategy gives a wait for a failed attempt (or nothing, leaving the choice to the next
strategy); the error handler (:mod:`engine.http.error_handling`) decides *whether* to retry.
Waits an API asks for in a header are capped, so an API cannot park a read for days.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Any

from engine.http.outcome import Outcome
from engine.templates import limits


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
        match = limits.match(regex, value)
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
