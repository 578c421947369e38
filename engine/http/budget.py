"""The manifest's ``api_budget``: client-side call-rate limits, per kind of request.

An ``HTTPAPIBudget`` lists policies; each request is counted against the first policy whose
matchers it matches (a policy without matchers matches every request), and waits until that
policy allows one more call. ``MovingWindowCallRatePolicy`` allows ``limit`` calls in any
``interval`` (several rates may apply at once), ``FixedWindowCallRatePolicy`` ``call_limit``
calls per ``period`` counted from the first call, ``UnlimitedCallRatePolicy`` exempts the
requests it matches from every later policy.

The limit has to see each request (method, URL, parameters, headers) before it leaves, and
retries count too, so it sits in the transport: :class:`BudgetAdapter` wraps the session's
adapter. The response-side fields (``status_codes_for_ratelimit_hit``, the reset/remaining
headers) are left to the error handler, which already backs off on 429 and reads wait headers.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter

from engine.durations import parse_duration
from engine.errors import ManifestError
from engine.templates.interpolation import InterpolatedString

Clock = Callable[[], float]


@dataclass(frozen=True)
class RequestMatcher:
    """``HttpRequestRegexMatcher``: every field given must agree with the request."""

    method: str | None = None
    url_base: str | None = None
    url_path_pattern: re.Pattern[str] | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def matches(self, request: requests.PreparedRequest) -> bool:
        url = request.url or ""
        parts = urlsplit(url)
        if self.method and (request.method or "GET").upper() != self.method.upper():
            return False
        if self.url_base and not url.startswith(self.url_base.rstrip("/")):
            return False
        if self.url_path_pattern and not self.url_path_pattern.search(parts.path):
            return False
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if any(query.get(k) != str(v) for k, v in self.params.items()):
            return False
        sent = {k.lower(): v for k, v in (request.headers or {}).items()}
        return all(sent.get(k.lower()) == str(v) for k, v in self.headers.items())


class Policy:
    """Counts calls; ``reserve`` returns how long to wait before the call may go (0: now)."""

    def __init__(self, matchers: Sequence[RequestMatcher]) -> None:
        self.matchers = list(matchers)

    def applies_to(self, request: requests.PreparedRequest) -> bool:
        return not self.matchers or any(m.matches(request) for m in self.matchers)

    def reserve(self, now: float) -> float:
        return 0.0


class MovingWindowPolicy(Policy):
    def __init__(
        self, rates: Sequence[tuple[int, float]], matchers: Sequence[RequestMatcher]
    ) -> None:
        super().__init__(matchers)
        self.rates = list(rates)
        self._calls: deque[float] = deque()
        self._longest = max((interval for _, interval in self.rates), default=0.0)

    def reserve(self, now: float) -> float:
        while self._calls and self._calls[0] <= now - self._longest:
            self._calls.popleft()
        wait = 0.0
        for limit, interval in self.rates:
            recent = [t for t in self._calls if t > now - interval]
            if len(recent) >= limit:
                # The call may go once the oldest call that fills the window has left it.
                wait = max(wait, recent[-limit] + interval - now)
        if wait <= 0:
            self._calls.append(now)
        return max(wait, 0.0)


class FixedWindowPolicy(Policy):
    def __init__(self, period: float, call_limit: int, matchers: Sequence[RequestMatcher]) -> None:
        super().__init__(matchers)
        self.period, self.call_limit = period, call_limit
        self._window_start: float | None = None
        self._count = 0

    def reserve(self, now: float) -> float:
        if self._window_start is None or now >= self._window_start + self.period:
            self._window_start, self._count = now, 0
        if self._count >= self.call_limit:
            return self._window_start + self.period - now
        self._count += 1
        return 0.0


class ApiBudget:
    """All policies of a manifest; thread-safe, since slices are read by a pool of workers."""

    def __init__(
        self, policies: Sequence[Policy], clock: Clock = time.monotonic, sleep=time.sleep
    ) -> None:
        self.policies = list(policies)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def acquire(self, request: requests.PreparedRequest) -> None:
        policy = next((p for p in self.policies if p.applies_to(request)), None)
        if policy is None:
            return
        while True:
            with self._lock:
                wait = policy.reserve(self._clock())
            if wait <= 0:
                return
            self._sleep(wait)


class BudgetAdapter(BaseAdapter):
    """A transport adapter that takes a call from the budget, then lets the wrapped one send."""

    def __init__(self, inner: BaseAdapter, budget: ApiBudget) -> None:
        super().__init__()
        self.inner, self.budget = inner, budget

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.budget.acquire(request)
        return self.inner.send(request, **kwargs)

    def close(self) -> None:
        self.inner.close()


def install_budget(session: requests.Session, budget: ApiBudget) -> None:
    """Route every request of ``session`` through ``budget``."""
    for prefix in ("https://", "http://"):
        session.mount(prefix, BudgetAdapter(session.get_adapter(prefix), budget))


# -- building from the manifest -----------------------------------------------------------------


def budget_from_manifest(
    definition: Mapping[str, Any], config: Mapping[str, Any], file: str | None = None
) -> ApiBudget | None:
    """The manifest's ``api_budget`` (templates read ``config``), or None when it has none."""
    budget = definition.get("api_budget")
    if not budget:
        return None
    policies = []
    for index, policy in enumerate(budget.get("policies") or []):
        path = f"api_budget.policies[{index}]"
        policies.append(_policy(policy, config, path, file))
    return ApiBudget(policies)


def _value(raw: Any, config: Mapping[str, Any]) -> Any:
    return InterpolatedString(raw).eval(config) if isinstance(raw, str) else raw


def _seconds(raw: Any, config: Mapping[str, Any], path: str, file: str | None) -> float:
    value = _value(raw, config)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_duration(str(value)).total_seconds_estimate()
    except ValueError:
        raise ManifestError(
            f"{value!r} is not a duration", path=path, file=file, expected="an ISO 8601 duration"
        ) from None


def _count(raw: Any, config: Mapping[str, Any], path: str, file: str | None) -> int:
    value = _value(raw, config)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ManifestError(
            f"{value!r} is not a number of calls", path=path, file=file, expected="an integer"
        ) from None


def _policy(d: Mapping[str, Any], config: Mapping[str, Any], path: str, file: str | None) -> Policy:
    matchers = [
        RequestMatcher(
            method=_value(m.get("method"), config),
            url_base=_value(m.get("url_base"), config),
            url_path_pattern=re.compile(m["url_path_pattern"])
            if m.get("url_path_pattern")
            else None,
            params=dict(m.get("params") or {}),
            headers=dict(m.get("headers") or {}),
        )
        for m in d.get("matchers") or []
    ]
    kind = d["type"]
    if kind == "MovingWindowCallRatePolicy":
        rates = [
            (
                _count(r["limit"], config, f"{path}.rates[{i}].limit", file),
                _seconds(r["interval"], config, f"{path}.rates[{i}].interval", file),
            )
            for i, r in enumerate(d.get("rates") or [])
        ]
        return MovingWindowPolicy(rates, matchers)
    if kind == "FixedWindowCallRatePolicy":
        return FixedWindowPolicy(
            _seconds(d["period"], config, f"{path}.period", file),
            _count(d["call_limit"], config, f"{path}.call_limit", file),
            matchers,
        )
    return Policy(matchers)
