"""Sending one request until it succeeds, fails for good, or runs out of retries.

:class:`HttpClient` owns what all requests of a source share: the bounded transport
(:mod:`engine.http.transport`: one pooled session, the timeout, the deadline, the response size
limit, the secret masker), an optional request-rate limit shared across worker threads, and
counters. Retries are driven by tenacity; *whether* and *how long* to wait comes from the
manifest's error handler.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from engine.errors import ReadError
from engine.http.backoff import WaitTooLong
from engine.http.error_handling import (
    FAIL,
    IGNORE,
    REDUCE_PAGE_SIZE,
    RETRYING,
    Decision,
    ErrorHandler,
    PageSizeReductionRequired,
)
from engine.http.outcome import Outcome
from engine.http.redirects import withhold_credentials
from engine.http.response_cache import ResponseCache
from engine.http.transport import (
    MAX_REDIRECTS,
    TRANSPORT_ERRORS,
    BoundedTransport,
)

MAX_RETRY_SECONDS = 600.0
MAX_SINGLE_WAIT = 86_400.0  # what any backoff may wait at once, whatever the manifest says


@dataclass
class RequestStats:
    """Counters of one slice (or one whole read), shown as run metadata."""

    requests: int = 0
    retries: int = 0
    pages: int = 0
    bytes: int = 0
    records: int = 0
    # What a reader should know although the slice succeeded (a page token repeated, records
    # that were not objects); the stream logs them naming itself and the slice.
    warnings: list[str] = field(default_factory=list)

    def add(self, other: RequestStats) -> None:
        self.requests += other.requests
        self.retries += other.retries
        self.pages += other.pages
        self.bytes += other.bytes
        self.records += other.records
        self.warnings.extend(other.warnings)


class RateLimiter:
    """At most ``rate`` requests per second across all threads (a token bucket of size 1)."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            time.sleep(slot - now)


@dataclass(frozen=True)
class Page:
    """A successful response and its decoded body (``None`` when the page was ignored)."""

    response: requests.Response | None
    body: Any

    @property
    def headers(self) -> Any:
        return self.response.headers if self.response is not None else {}


@dataclass(frozen=True)
class RetryWait:
    """A wait before sending a request again, as a run log shows it (never a secret)."""

    request: str
    """``METHOD url``, masked."""
    status: str
    """The HTTP status, or the transport error, that caused the retry."""
    seconds: float
    source: str
    """Where the wait came from: ``header Retry-After``, ``exponential``, ``constant``..."""
    attempt: int
    """The attempt that failed (1 is the first send)."""
    attempts: int
    """How many attempts the error handler allows."""

    def describe(self) -> str:
        return (
            f"retrying {self.request} after {self.status}: waiting {self.seconds:.1f} s "
            f"({self.source}), attempt {self.attempt + 1} of {self.attempts}"
        )


class _Retry(Exception):
    def __init__(self, decision: Decision, outcome: Outcome, wait: float) -> None:
        super().__init__(decision.message)
        self.decision = decision
        self.outcome = outcome
        self.wait = wait


@dataclass
class HttpClient(BoundedTransport):
    """A source's requests: each sent until it succeeds, fails for good, or runs out of
    retries, at most ``rate_limiter`` allows, answered from ``response_cache`` when it can."""

    rate_limiter: RateLimiter | None = None
    sleep: Callable[[float], None] = time.sleep
    response_cache: ResponseCache | None = None
    """Set while a check or read reuses parent responses (see engine/streams/parent_reuse.py)."""
    on_wait: Callable[[RetryWait], None] | None = None
    """Told of every wait before a retry, before the wait starts (from the reading thread)."""

    def send(
        self,
        request: requests.Request,
        *,
        error_handler: ErrorHandler,
        decode: Callable[[requests.Response], Any],
        stats: RequestStats,
        cacheable: bool = False,
        foreign: bool = False,
        acquire: Callable[[requests.PreparedRequest], None] | None = None,
    ) -> Page:
        """Send until success; returns the decoded page or raises ReadError.

        ``acquire`` is called with the request before every attempt (a call budget of the
        requester's own: it waits until the budget allows one more call).

        A ``cacheable`` request (a parent stream's) is answered from the response cache when one
        is kept and holds it, and its successful response is kept there. A ``foreign`` request
        (its URL came from the API and leads to none of the manifest's own origins) goes
        without credentials, or not at all when its URL or body holds a secret."""
        try:
            prepared = self.session.prepare_request(request)
        except (requests.RequestException, ValueError) as error:
            raise self.unsendable(error, request.method, request.url) from None
        problem = withhold_credentials(prepared, self.masker) if foreign else None
        if problem:
            raise ReadError(
                f"a request to another origin than the manifest's was not sent: {problem}",
                url=self.masker.request_label(prepared.method, prepared.url),
                failure_type="config_error",
            )
        cache = self.response_cache if cacheable else None
        if cache is not None and (cached := cache.get(prepared)) is not None:
            stats.pages += 1
            return Page(cached, decode(cached))
        retrying = Retrying(
            retry=retry_if_exception_type(_Retry),
            stop=stop_after_attempt(error_handler.max_retries + 1)
            | stop_after_delay(MAX_RETRY_SECONDS),
            wait=_wait_from_decision,
            sleep=self.sleep,
            before_sleep=lambda state: self._announce(state, prepared, error_handler),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number > 1:
                        stats.retries += 1
                    if acquire is not None:
                        acquire(prepared)
                    page = self._attempt(prepared, error_handler, decode, stats, number)
                    if cache is not None and page.body is not None:
                        cache.put(prepared, page.response)
                    return page
        except _Retry as exhausted:
            raise self._failure(
                exhausted.decision,
                exhausted.outcome,
                prepared,
                attempts=retrying.statistics.get("attempt_number", 1),
                exhausted=True,
            ) from None
        raise AssertionError("unreachable: tenacity ends by returning or raising")

    def _attempt(
        self,
        prepared: requests.PreparedRequest,
        error_handler: ErrorHandler,
        decode: Callable[[requests.Response], Any],
        stats: RequestStats,
        number: int,
    ) -> Page:
        if self.rate_limiter is not None:
            self.rate_limiter.wait()
        stats.requests += 1
        try:
            outcome = Outcome(self._send_bounded(prepared))
        except TRANSPORT_ERRORS as error:
            outcome = Outcome(None, error)
        except requests.TooManyRedirects:
            raise ReadError(
                f"more than {MAX_REDIRECTS} redirects", url=self.masker.mask_url(prepared.url or "")
            ) from None
        except (requests.RequestException, UnicodeError) as error:
            # Not a passing network trouble (InvalidHeader, InvalidSchema, RedirectRefused ...):
            # sending again would fail the same way.
            raise self.unsendable(error, prepared.method, prepared.url) from None
        decision = error_handler.interpret(outcome)
        if decision.action == IGNORE:
            return Page(outcome.response, None)
        if decision.action in RETRYING:
            raise _Retry(decision, outcome, self._backoff(error_handler, outcome, number, prepared))
        if decision.action == FAIL:
            raise self._failure(decision, outcome, prepared, attempts=number)
        if decision.action == REDUCE_PAGE_SIZE:
            raise PageSizeReductionRequired(
                self.masker.mask(decision.message)[:500] if decision.message else None
            )
        response = outcome.response
        assert response is not None
        stats.bytes += len(response.content)
        try:
            body = decode(response)
        except ValueError as error:
            raise _Retry(
                Decision("RETRY", f"the response body could not be decoded: {error}"),
                outcome,
                self._backoff(error_handler, outcome, number, prepared),
            ) from None
        stats.pages += 1
        return Page(response, body)

    def _announce(
        self, state: RetryCallState, prepared: requests.PreparedRequest, handler: ErrorHandler
    ) -> None:
        error = state.outcome.exception() if state.outcome else None
        if self.on_wait is None or not isinstance(error, _Retry):
            return
        outcome = error.outcome
        status = (
            f"status {outcome.status}"
            if outcome.status is not None
            else self.masker.mask(outcome.error_message() or "a transport error")
        )
        self.on_wait(
            RetryWait(
                request=self.masker.request_label(prepared.method, prepared.url),
                status=status,
                seconds=error.wait,
                source=getattr(error.wait, "source", "backoff"),
                attempt=state.attempt_number,
                attempts=handler.max_retries + 1,
            )
        )

    def _backoff(
        self,
        error_handler: ErrorHandler,
        outcome: Outcome,
        attempt: int,
        prepared: requests.PreparedRequest,
    ) -> float:
        try:
            seconds = error_handler.backoff(outcome, attempt)
        except WaitTooLong as error:
            raise ReadError(
                str(error), url=self.masker.mask_url(prepared.url or ""), status=outcome.status
            ) from None
        if not math.isfinite(seconds) or seconds > MAX_SINGLE_WAIT:
            raise ReadError(
                f"the backoff asked to wait {seconds:g} s, more than the {MAX_SINGLE_WAIT:g} s "
                "one wait may last",
                url=self.masker.mask_url(prepared.url or ""),
                status=outcome.status,
            )
        return max(seconds, 0.0)

    def _failure(
        self,
        decision: Decision,
        outcome: Outcome,
        prepared: requests.PreparedRequest,
        *,
        attempts: int,
        exhausted: bool = False,
    ) -> ReadError:
        detail = decision.message or outcome.error_message()
        if exhausted:
            reason = (
                "the API rate limit was still exceeded"
                if outcome.status == 429
                else ("the request kept failing")
            )
            reason += " after all retries"
        else:
            reason = "the request failed"
        if detail:
            reason += f": {self.masker.mask(detail)[:500]}"
        return ReadError(
            reason,
            url=self.masker.request_label(prepared.method, prepared.url),
            status=outcome.status,
            attempts=attempts,
            failure_type=decision.failure_type,
        )


def _wait_from_decision(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return error.wait if isinstance(error, _Retry) else 0.0
