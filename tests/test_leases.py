"""Leases that prove their holder alive: heartbeats, lapsed holders taken over, runs that overlap.

The lease table is the only judge of who may sync a partition: a holder that stops renewing loses
its partitions after the TTL whatever its Dagster run status says, and a run longer than the TTL
keeps them because its heartbeat renews them. A run that overlaps a live holder writes every other
partition and fails naming the held ones (or waits for them a bounded time).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from support.api_collections import RecordCollection
from support.api_server import ApiServer, DateFilter, Pagination, RecordedRequest, Response
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets
from engine.state.leases import LeaseKeeper, LeaseLost, LeasesHeld
from engine.state.store import StateStore

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
DAYS = 10
KEYS = [(DAY0 + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in range(DAYS)]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.dispose()


def test_a_heartbeat_keeps_a_lease_past_its_ttl_and_a_silent_holder_loses_it(
    store: StateStore,
) -> None:
    with LeaseKeeper(store, "shop", "events", "run-a", ttl_seconds=1.0) as alive:
        assert alive.acquire(["p1"]) == []
        time.sleep(3.0)  # three TTLs: only the heartbeat keeps the lease
        assert store.acquire_leases("shop", "events", ["p1"], "run-b", 1.0) == ["p1"]
        alive.check(["p1"])
    assert store.lease_owner("shop", "events", "p1") is None  # released on exit

    silent = LeaseKeeper(store, "shop", "events", "run-c", ttl_seconds=0.3)  # never entered
    assert silent.acquire(["p2"]) == []
    assert store.acquire_leases("shop", "events", ["p2"], "run-d", 5) == ["p2"]
    time.sleep(0.4)
    assert store.acquire_leases("shop", "events", ["p2"], "run-d", 5) == []


def test_a_holder_whose_lease_was_taken_over_may_not_commit(store: StateStore) -> None:
    stalled = LeaseKeeper(store, "shop", "events", "run-a", ttl_seconds=0.2)
    assert stalled.acquire(["p1", "p2"]) == []
    time.sleep(0.3)  # no heartbeat: the lease lapses and another run takes p1
    assert store.acquire_leases("shop", "events", ["p1"], "run-b", 5) == []
    stalled.renew()
    stalled.check(["p2"])
    with pytest.raises(LeaseLost, match="p1"):
        stalled.check(["p1", "p2"])


def test_claims_come_free_partitions_first_then_held_ones_after_a_bounded_wait(
    store: StateStore,
) -> None:
    assert store.acquire_leases("shop", "events", ["b", "d"], "other-run", 60) == []
    keeper = LeaseKeeper(store, "shop", "events", "run-a")
    claims = keeper.claim_in_turn(["a", "b", "c", "d"], wait_seconds=0.3, poll_seconds=0.05)
    assert next(claims) == ["a", "c"]
    started = time.monotonic()
    with pytest.raises(LeasesHeld) as held:
        next(claims)
    assert 0.25 < time.monotonic() - started < 10
    assert held.value.holders == {"b": "other-run", "d": "other-run"}
    assert "b (held by other-run), d (held by other-run)" in str(held.value)

    claims = keeper.claim_in_turn(["b", "d"], wait_seconds=5, poll_seconds=0.05)
    threading.Timer(0.2, store.release_leases, ("shop", "events", ["d"], "other-run")).start()
    threading.Timer(0.4, store.release_leases, ("shop", "events", ["b"], "other-run")).start()
    assert next(claims) == ["d"]
    assert next(claims) == ["b"]
    assert next(claims, None) is None


# -- through Dagster -------------------------------------------------------------------------


@pytest.fixture
def manifest(api_server: ApiServer, tmp_path: Path) -> Path:
    api_server.add_collection(
        "/events", daily_records(DAY0, DAYS), date_filter=DateFilter("updated_at")
    )
    return _write_manifest(api_server, tmp_path)


def _write_manifest(api_server: ApiServer, tmp_path: Path) -> Path:
    end = f"{KEYS[-1]}T23:59:59Z"
    cursor = date_cursor("2024-01-01T00:00:00Z", end, step="P1D", cursor_granularity="PT1S")
    stream = modern_stream(api_server.url, "events", "/events", incremental=cursor, retries=False)
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(modern(stream)))
    return path


def _backfill(
    manifest: Path, tmp_path: Path, instance: dg.DagsterInstance, **settings: float
) -> dg.ExecuteInProcessResult:
    (asset,) = build_declarative_assets(manifest)
    resource = DeclarativeSourceResource(
        state_url=f"sqlite:///{tmp_path / 'state.db'}",
        warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
        **settings,
    )
    return dg.materialize(
        [asset],
        instance=instance,
        resources={"declarative_source": resource},
        run_config=QUIET,
        tags={
            "dagster/asset_partition_range_start": KEYS[0],
            "dagster/asset_partition_range_end": KEYS[-1],
        },
        raise_on_error=False,
    )


def _deadline_watchers() -> int:
    """Live request-deadline threads: one per HTTP client that sent a request and is open."""
    return sum(t.name == "request-deadlines" and t.is_alive() for t in threading.enumerate())


def test_an_overlapping_run_writes_every_free_partition_and_names_the_held_ones(
    manifest: Path, tmp_path: Path, store: StateStore
) -> None:
    held = [KEYS[2], KEYS[5], KEYS[6]]
    with (
        dg.instance_for_test() as instance,
        LeaseKeeper(store, "shop", "events", "live-run") as holder,
    ):
        assert holder.acquire(held) == []
        result = _backfill(manifest, tmp_path, instance, lease_wait_seconds=0)
        assert not result.success
        materialized = {e.partition for e in result.get_asset_materialization_events()}
        assert materialized == set(KEYS) - set(held)
        message = result.get_step_failure_events()[0].step_failure_data.error.message
        for key in held:
            assert f"{key} (held by live-run)" in message
    assert set(store.load_all("shop", "events")) == set(KEYS) - set(held)


def test_an_overlapping_run_waits_for_held_partitions_and_then_writes_them(
    manifest: Path, tmp_path: Path, store: StateStore
) -> None:
    watchers = _deadline_watchers()
    with dg.instance_for_test() as instance:
        holder = LeaseKeeper(store, "shop", "events", "finishing-run")
        with holder:
            assert holder.acquire([KEYS[0], KEYS[9]]) == []
            threading.Timer(1.0, holder.__exit__, (None, None, None)).start()
            result = _backfill(manifest, tmp_path, instance, lease_wait_seconds=30)
        assert result.success
        assert sorted(e.partition for e in result.get_asset_materialization_events()) == KEYS
    # the source reopened for the second turn is closed too (its deadline watcher ends)
    waited = time.monotonic() + 5
    while _deadline_watchers() > watchers and time.monotonic() < waited:
        time.sleep(0.05)
    assert _deadline_watchers() == watchers
    states = store.load_all("shop", "events")
    assert states[KEYS[0]] == {"updated_at": "2024-01-01T01:00:00Z"}
    assert states[KEYS[9]] == {"updated_at": "2024-01-10T01:00:00Z"}


def test_a_lease_of_a_run_that_stopped_heartbeating_is_taken_over_whatever_its_status(
    manifest: Path, tmp_path: Path, store: StateStore
) -> None:
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    with dg.instance_for_test() as instance:
        killed = create_run_for_test(instance, status=DagsterRunStatus.STARTED)
        assert store.acquire_leases("shop", "events", KEYS, killed.run_id, 60) == []
        refused = _backfill(manifest, tmp_path, instance, lease_wait_seconds=0)
        assert not refused.success
        assert f"held by {killed.run_id}" in str(refused.get_step_failure_events()[0])
        # Its last heartbeat, then it was killed: the lease lapses unrenewed.
        assert store.renew_leases("shop", "events", KEYS, killed.run_id, 0.01) == []
        time.sleep(0.05)
        assert _backfill(manifest, tmp_path, instance, lease_wait_seconds=0).success
        assert instance.get_run_by_id(killed.run_id).status == DagsterRunStatus.STARTED


def test_a_run_longer_than_its_lease_ttl_keeps_its_partitions(
    api_server: ApiServer, tmp_path: Path, store: StateStore
) -> None:
    """The API answers one day slowly (6 TTLs); meanwhile another owner tries to take it."""
    collection = RecordCollection(
        daily_records(DAY0, DAYS),
        api_server.url,
        Pagination("none"),
        "data",
        DateFilter("updated_at"),
    )
    intruder_refused: list[list[str]] = []

    def slow_day_three(request: RecordedRequest) -> Response:
        if (request.param("updated_since") or "").startswith(KEYS[2]):
            time.sleep(3.0)
            intruder_refused.append(store.acquire_leases("shop", "events", [KEYS[2]], "other", 5))
        return collection(request)

    api_server.add_route("GET", "/events", slow_day_three)
    manifest = _write_manifest(api_server, tmp_path)
    with dg.instance_for_test() as instance:
        result = _backfill(manifest, tmp_path, instance, lease_ttl_seconds=0.5)
    assert result.success
    assert intruder_refused == [[KEYS[2]]]
