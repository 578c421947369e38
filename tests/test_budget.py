"""The manifest's ``api_budget``: each policy's arithmetic on a fake clock, which policy a request
counts against, the errors a wrong budget gets, and a read that a real local server sees paced."""

from __future__ import annotations

import re
import time

import pytest
import requests
from manifests import modern
from support.api_server import Pagination

from engine import load_source
from engine.errors import ManifestError
from engine.http.budget import (
    ApiBudget,
    FixedWindowPolicy,
    MovingWindowPolicy,
    Policy,
    RequestMatcher,
    budget_from_manifest,
)


def _request(url: str, method: str = "GET", **headers: str) -> requests.PreparedRequest:
    return requests.Request(method, url, headers=headers).prepare()


class FakeClock:
    """A clock that only moves when a wait is slept, so waits are exact and cost nothing."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_a_moving_window_lets_a_call_go_once_the_oldest_call_of_a_full_window_leaves_it():
    policy = MovingWindowPolicy([(2, 10.0)], [])
    assert [policy.reserve(t) for t in (0.0, 1.0)] == [0.0, 0.0]
    assert policy.reserve(2.0) == pytest.approx(8.0)  # the call at 0.0 leaves the window at 10.0
    assert policy.reserve(10.0) == 0.0
    assert policy.reserve(10.5) == pytest.approx(0.5)  # now the call at 1.0 fills it


def test_every_rate_of_a_moving_window_must_allow_the_call():
    policy = MovingWindowPolicy([(3, 1.0), (4, 60.0)], [])
    assert [policy.reserve(t) for t in (0.0, 0.1, 0.2)] == [0.0, 0.0, 0.0]
    assert policy.reserve(0.3) == pytest.approx(0.7)  # three a second
    assert policy.reserve(1.0) == 0.0
    assert policy.reserve(2.0) == pytest.approx(58.0)  # four a minute


def test_a_fixed_window_counts_from_its_first_call_and_starts_again_after_its_period():
    policy = FixedWindowPolicy(5.0, 2, [])
    assert [policy.reserve(t) for t in (0.0, 4.0)] == [0.0, 0.0]
    assert policy.reserve(4.5) == pytest.approx(0.5)
    assert policy.reserve(5.0) == 0.0  # a new window from 5.0
    assert policy.reserve(6.0) == 0.0
    assert policy.reserve(7.0) == pytest.approx(3.0)


def test_a_request_counts_against_the_first_policy_that_matches_it_alone():
    clock = FakeClock()
    unlimited = Policy([RequestMatcher(url_path_pattern=re.compile("^/health$"))])
    posts = FixedWindowPolicy(60.0, 1, [RequestMatcher(method="POST")])
    everything = MovingWindowPolicy([(1, 1.0)], [])
    budget = ApiBudget([unlimited, posts, everything], clock=clock, sleep=clock.sleep)

    for _ in range(3):
        budget.acquire(_request("http://127.0.0.1/health"))  # exempt from every later policy
    budget.acquire(_request("http://127.0.0.1/items", "POST"))
    budget.acquire(_request("http://127.0.0.1/items"))  # the GET has its own window
    assert clock.slept == []
    budget.acquire(_request("http://127.0.0.1/items", "POST"))
    assert clock.slept == [60.0]
    budget.acquire(_request("http://127.0.0.1/items"))  # a minute later: its window is free
    assert clock.slept == [60.0]


def test_matchers_compare_url_base_parameters_and_headers():
    matcher = RequestMatcher(
        url_base="http://127.0.0.1/api/", params={"kind": "big"}, headers={"X-Tier": "gold"}
    )
    assert matcher.matches(_request("http://127.0.0.1/api/items?kind=big", **{"x-tier": "gold"}))
    assert not matcher.matches(_request("http://127.0.0.1/api/items?kind=small", X_Tier="gold"))
    assert not matcher.matches(_request("http://127.0.0.1/other?kind=big", **{"X-Tier": "gold"}))
    assert not matcher.matches(_request("http://127.0.0.1/api/items?kind=big"))


def test_a_budget_reads_its_numbers_from_the_config_and_names_the_field_it_cannot_read():
    definition = {
        "api_budget": {
            "type": "HTTPAPIBudget",
            "policies": [
                {
                    "type": "MovingWindowCallRatePolicy",
                    "rates": [{"limit": "{{ config['calls'] }}", "interval": "PT1M"}],
                    "matchers": [],
                }
            ],
        }
    }
    budget = budget_from_manifest(definition, {"calls": "2"})
    assert budget is not None
    (policy,) = budget.policies
    assert isinstance(policy, MovingWindowPolicy) and policy.rates == [(2, 60.0)]

    with pytest.raises(ManifestError, match=r"api_budget\.policies\[0\]\.rates\[0\]\.limit"):
        budget_from_manifest(definition, {"calls": "many"})
    definition["api_budget"]["policies"][0]["rates"][0]["interval"] = "a while"
    with pytest.raises(ManifestError, match=r"rates\[0\]\.interval.*ISO 8601 duration"):
        budget_from_manifest(definition, {"calls": 2})
    assert budget_from_manifest({}, {}) is None


def test_a_read_waits_for_its_budget_so_the_server_sees_the_calls_paced(api_server):
    """Six pages at two calls per 0.4 s: the server receives them in three pairs, 0.4 s apart."""
    api_server.add_collection(
        "/items", [{"id": i} for i in range(12)], pagination=Pagination("page", page_size=2)
    )
    text = modern(
        api_server.url,
        paginator="""
        type: DefaultPaginator
        page_token_option: {type: RequestOption, inject_into: request_parameter, field_name: page}
        page_size_option: {inject_into: request_parameter, field_name: per_page}
        pagination_strategy: {type: PageIncrement, page_size: 2, start_from_page: 1}
        """,
    )
    text += """
api_budget:
  type: HTTPAPIBudget
  policies:
    - type: MovingWindowCallRatePolicy
      rates: [{limit: 2, interval: PT0.4S}]
      matchers: [{url_path_pattern: "^/items$"}]
"""
    started = time.monotonic()
    with load_source(text, {}) as source:
        records = [m for m in source.read() if m["type"] == "RECORD"]
    took = time.monotonic() - started

    assert len(records) == 12
    arrivals = [r.timestamp for r in api_server.requests if r.path == "/items"]
    assert len(arrivals) == 7  # six full pages and the empty one that ends the read
    assert took >= 1.2
    for earlier, later in zip(arrivals, arrivals[2:], strict=False):
        assert later - earlier >= 0.39, "a third call went within the window of two"
