"""The waits between retries, pinned to each reference runtime's sequence.

A faulty API answers the first requests with errors; the client's ``sleep`` records the waits
instead of sleeping them, so each test asserts the exact sequence the engine asked for.

- 2022 runtime: the first *truthy* wait of the strategies; a handler without strategies has
  ``ExponentialBackoffStrategy(factor=5)`` (10, 20, 40 s); when the strategies give no wait
  (``Retry-After: 0`` or a missing header) and for transport errors, the fallback
  ``5 * 2^n`` with n from 0 (5, 10, 20 s).
- today's runtime (airbyte-cdk 7): the first truthy wait of the strategies, otherwise
  ``2^n`` with n from 0 (1, 2, 4 s), for 429s and other retried errors alike.
"""

from __future__ import annotations

import pytest
from manifests import legacy, modern
from support.api_server import ApiServer, Response

from engine import load_source

ITEMS = [{"id": 1}, {"id": 2}]
HEADER_STRATEGY = "{type: WaitTimeFromHeader, header: Retry-After}"


def _waits(server: ApiServer, manifest: str, *faults: Response) -> list[float]:
    server.add_collection("/items", ITEMS)
    server.fail_next("/items", *faults)
    source = load_source(manifest, {}, timeout=(2.0, 0.2))
    waits: list[float] = []
    source.client.sleep = waits.append
    try:
        assert list(source.read_records("items")) == ITEMS
    finally:
        source.close()
    assert len(server.requests) == len(faults) + 1
    return waits


def _manifest(server: ApiServer, dialect: str, strategies: str | None = None) -> str:
    handler = None
    if strategies is not None:
        handler = f"type: DefaultErrorHandler\nbackoff_strategies: [{strategies}]"
    build = legacy if dialect == "legacy" else modern
    return build(server.url, error_handler=handler)


def test_2022_default_strategy_waits_ten_twenty_forty(api_server: ApiServer) -> None:
    faults = [Response(500, {"error": "boom"})] * 3
    assert _waits(api_server, _manifest(api_server, "legacy"), *faults) == [10.0, 20.0, 40.0]


@pytest.mark.parametrize(
    "fault",
    [Response.rate_limited(0), Response(503, {"error": "later"})],
    ids=["retry-after-0", "no-header"],
)
def test_2022_strategies_without_a_wait_fall_back_to_five_ten_twenty(
    api_server: ApiServer, fault: Response
) -> None:
    manifest = _manifest(api_server, "legacy", HEADER_STRATEGY)
    assert _waits(api_server, manifest, fault, fault, fault) == [5.0, 10.0, 20.0]


def test_2022_transport_errors_use_the_fallback_not_the_strategies(
    api_server: ApiServer,
) -> None:
    manifest = _manifest(
        api_server, "legacy", "{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.5}"
    )
    faults = [Response(fault="drop")] * 2
    assert _waits(api_server, manifest, *faults) == [5.0, 10.0]


def test_2022_first_truthy_strategy_wins(api_server: ApiServer) -> None:
    manifest = _manifest(
        api_server,
        "legacy",
        f"{HEADER_STRATEGY}, {{type: ConstantBackoffStrategy, backoff_time_in_seconds: 3}}",
    )
    faults = [Response.rate_limited(0), Response.rate_limited(7)]
    assert _waits(api_server, manifest, *faults) == [3.0, 7.0]


@pytest.mark.parametrize(
    "fault",
    [Response(500, {"error": "boom"}), Response(429, {"error": "slow down"})],
    ids=["500", "429"],
)
def test_today_default_waits_one_two_four(api_server: ApiServer, fault: Response) -> None:
    manifest = _manifest(api_server, "modern")
    assert _waits(api_server, manifest, fault, fault, fault) == [1.0, 2.0, 4.0]


def test_today_retry_after_zero_is_no_wait_and_falls_back(api_server: ApiServer) -> None:
    manifest = _manifest(api_server, "modern", HEADER_STRATEGY)
    faults = [Response.rate_limited(0), Response.rate_limited(0), Response.rate_limited(3)]
    assert _waits(api_server, manifest, *faults) == [1.0, 2.0, 3.0]


def test_today_transport_errors_ask_the_strategies(api_server: ApiServer) -> None:
    manifest = _manifest(
        api_server, "modern", "{type: ConstantBackoffStrategy, backoff_time_in_seconds: 0.5}"
    )
    assert _waits(api_server, manifest, Response(fault="drop")) == [0.5]


@pytest.mark.parametrize("dialect", ["legacy", "modern"])
def test_exponential_strategy_counts_attempts_from_one(api_server: ApiServer, dialect: str) -> None:
    manifest = _manifest(api_server, dialect, "{type: ExponentialBackoffStrategy, factor: 2}")
    faults = [Response(500, {"error": "boom"})] * 3
    assert _waits(api_server, manifest, *faults) == [4.0, 8.0, 16.0]
