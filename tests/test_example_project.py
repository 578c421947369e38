"""The offline example: the demo API, its two manifests, and the main job's sync path."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from engine import Manifest, UnsupportedComponentError, load_manifest, load_source
from example_project.demo_api import (
    DEMO_API_KEY,
    THROTTLE_EVERY,
    DemoApiError,
    ensure_running,
    is_demo_api,
    start_in_background,
)
from example_project.demo_data import CUSTOMER_COUNT, ORDER_COUNT, DemoData, format_timestamp
from example_project.run_demo import main as run_demo_main

EXAMPLE = Path(__file__).resolve().parent.parent / "example_project"
MANIFESTS = sorted((EXAMPLE / "manifests").glob("demo*.yaml"))
ANCHOR = datetime(2024, 6, 1, tzinfo=timezone.utc)
SLICING_MISSING = "the engine cannot slice streams yet (incremental_sync / partition_router)"


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    url, stop = start_in_background(data=DemoData.generate(ANCHOR))
    yield url
    stop()


def get(url: str, key: str | None = DEMO_API_KEY) -> tuple[int, dict[str, str], Any]:
    """Status, headers and JSON body of a GET; a 429 is retried so tests see real answers."""
    for _ in range(2):
        request = urllib.request.Request(url, headers={"X-Api-Key": key} if key else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 429:
                return error.code, dict(error.headers), json.loads(error.read())
    raise AssertionError("two 429 answers in a row")


def unsliced(path: Path) -> Manifest:
    """The manifest with its slicers taken out: what the engine can read before slicing lands."""
    manifest = load_manifest(path)
    for stream in manifest.definition["streams"]:
        stream.pop("incremental_sync", None)
        stream["retriever"].pop("partition_router", None)
    manifest.definition["streams"] = [
        s for s in manifest.definition["streams"] if s["name"] != "notes"
    ]
    return manifest


def config(url: str) -> dict[str, str]:
    """The manifests' config for the 7 days before ANCHOR."""
    return {
        "base_url": url,
        "api_key": DEMO_API_KEY,
        "start_date": format_timestamp(ANCHOR - timedelta(days=7)),
        "end_date": format_timestamp(ANCHOR - timedelta(seconds=1)),
    }


# -- the demo API ------------------------------------------------------------------------------


def test_every_resource_needs_the_api_key(demo_url: str) -> None:
    for path in ("/customers", "/orders", "/customers/1/notes"):
        assert get(demo_url + path, key=None)[0] == 401
        assert get(demo_url + path, key="wrong")[0] == 401
    status, _, body = get(demo_url + "/health", key=None)
    assert (status, body["status"]) == (200, "ok")


def test_customers_are_paged_and_filtered_by_updated_at(demo_url: str) -> None:
    _, _, first = get(demo_url + "/customers?per_page=100")
    _, _, last = get(demo_url + "/customers?per_page=100&page=5")
    assert first["total"] == CUSTOMER_COUNT
    assert len(first["data"]) == 100 and len(last["data"]) == CUSTOMER_COUNT - 400
    assert {c["id"] for c in first["data"]}.isdisjoint(c["id"] for c in last["data"])

    since, until = "2024-05-30T00:00:00Z", "2024-05-30T23:59:59Z"
    _, _, day = get(
        f"{demo_url}/customers?per_page=100&updated_since={since}&updated_until={until}"
    )
    assert day["data"], "the days before the anchor have customers"
    assert all(since <= c["updated_at"] <= until for c in day["data"])
    edge = day["data"][0]["updated_at"]
    _, _, exact = get(f"{demo_url}/customers?updated_since={edge}&updated_until={edge}")
    assert edge in {c["updated_at"] for c in exact["data"]}, "bounds are inclusive"
    assert get(demo_url + "/customers?updated_since=yesterday")[0] == 400
    assert get(demo_url + "/customers?per_page=1000")[0] == 400


def test_orders_use_cursor_pagination_and_region_filter(demo_url: str) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        query = "limit=200" + (f"&cursor={cursor}" if cursor else "")
        _, _, page = get(f"{demo_url}/orders?{query}")
        seen += [order["id"] for order in page["data"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, ORDER_COUNT + 1))

    _, _, eu = get(demo_url + "/orders?region=eu&limit=200")
    assert eu["data"] and {order["region"] for order in eu["data"]} == {"eu"}
    assert get(demo_url + "/orders?region=mars")[0] == 400
    forged = base64.urlsafe_b64encode(b"nonsense").decode()
    assert get(f"{demo_url}/orders?cursor={forged}")[0] == 400


def test_notes_are_a_child_resource_with_offset_pagination(demo_url: str) -> None:
    data = DemoData.generate(ANCHOR)
    customer, notes = next((c, n) for c, n in data.notes_by_customer.items() if len(n) >= 2)
    _, _, first = get(f"{demo_url}/customers/{customer}/notes?limit=1")
    _, _, second = get(f"{demo_url}/customers/{customer}/notes?limit=1&offset=1")
    assert first["total"] == len(notes)
    assert [first["data"][0]["id"], second["data"][0]["id"]] == [n["id"] for n in notes[:2]]
    assert all(n["customer_id"] == customer for n in first["data"] + second["data"])
    assert get(f"{demo_url}/customers/{CUSTOMER_COUNT + 1}/notes")[0] == 404


def test_every_37th_request_is_rate_limited_with_retry_after() -> None:
    url, stop = start_in_background()
    try:
        statuses = []
        for _ in range(THROTTLE_EVERY):
            request = urllib.request.Request(
                url + "/orders?limit=1", headers={"X-Api-Key": DEMO_API_KEY}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    statuses.append((response.status, None))
            except urllib.error.HTTPError as error:
                statuses.append((error.code, error.headers.get("Retry-After")))
    finally:
        stop()
    assert statuses[:-1] == [(200, None)] * (THROTTLE_EVERY - 1)
    assert statuses[-1] == (429, "0")


def test_ensure_running_reuses_a_running_demo_api(demo_url: str) -> None:
    host, port = demo_url.removeprefix("http://").split(":")
    assert ensure_running(host, int(port)) == demo_url
    assert is_demo_api(demo_url)


def test_a_port_held_by_another_program_gets_a_free_one(
    api_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DemoApiError, match="something other than the demo API"):
        is_demo_api(api_server.url)
    host, port = api_server.url.removeprefix("http://").split(":")
    url = ensure_running(host, int(port))
    assert url != api_server.url and is_demo_api(url)
    assert f"serving it on {url} instead" in capsys.readouterr().err


def test_generated_data_is_deterministic_and_recent() -> None:
    first, second = DemoData.generate(ANCHOR), DemoData.generate(ANCHOR)
    assert first == second
    newest = max(c["updated_at"] for c in first.customers)
    assert "2024-05-31T00:00:00Z" <= newest < "2024-06-01T00:00:00Z"


# -- the manifests -----------------------------------------------------------------------------


def test_both_dialects_define_the_same_streams() -> None:
    assert [p.name for p in MANIFESTS] == ["demo.yaml", "demo_2022.yaml"]
    loaded = [load_manifest(path) for path in MANIFESTS]
    assert all(not manifest.warnings for manifest in loaded)
    names = [[s["name"] for s in manifest.stream_definitions] for manifest in loaded]
    assert names == [["customers", "orders", "notes"]] * 2
    for manifest in loaded:
        spec = manifest.spec["connection_specification"]
        assert spec["properties"]["api_key"]["airbyte_secret"] is True


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_unsliced_streams_read_end_to_end(path: Path, demo_url: str) -> None:
    source = load_source(unsliced(path), config(demo_url))
    assert source.check() == (True, None)
    customers = list(source.read_records("customers"))
    orders = list(source.read_records("orders"))
    assert sorted(c["id"] for c in customers) == list(range(1, CUSTOMER_COUNT + 1))
    assert sorted(o["id"] for o in orders) == list(range(1, ORDER_COUNT + 1))
    assert set(source.stream("customers").json_schema["properties"]) >= {"id", "updated_at"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_sliced_streams_read_one_partition_each(path: Path, demo_url: str) -> None:
    source = load_source(path, config(demo_url))
    try:
        streams = source.streams
    except UnsupportedComponentError:
        pytest.skip(SLICING_MISSING)
    days = streams["customers"].slices()
    assert len(days) == 7
    assert str(days[-1]["start_time"]).startswith("2024-05-31")
    for record in streams["customers"].read_slice(days[-1]):
        assert record["updated_at"].startswith("2024-05-31")
    regions = [s["region"] for s in streams["orders"].slices()]
    assert regions == ["eu", "us", "apac"]
    notes = list(source.read_records("notes"))
    recent_customers = {c["id"] for d in days for c in streams["customers"].read_slice(d)}
    assert {note["customer_id"] for note in notes} <= recent_customers


# -- the Dagster definitions and the main job --------------------------------------------------


@pytest.fixture
def example_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh DAGSTER_HOME and a demo API (today's data) on a free port, as the environment."""
    url, stop = start_in_background()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("DEMO_API_URL", url)
    monkeypatch.delenv("DEMO_API_KEY", raising=False)
    yield tmp_path
    stop()


def test_definitions_load_both_sources_from_the_defs_folder(example_env: Path) -> None:
    from example_project.definitions import load_example_definitions

    defs = load_example_definitions()
    assets = {a.key.to_user_string(): a for a in defs.assets or ()}
    assert sorted(assets) == [
        f"{source}/{stream}"
        for source in ("demo", "demo_2022", "demo_3day")
        for stream in ("customers", "notes", "orders")
    ]
    three_days = assets["demo_3day/customers"].partitions_def
    assert isinstance(three_days, dg.StaticPartitionsDefinition)
    assert three_days.get_partition_keys()[:2] == ["2026-10-01", "2026-10-04"]
    for source in ("demo", "demo_2022"):
        assert isinstance(
            assets[f"{source}/customers"].partitions_def, dg.DailyPartitionsDefinition
        )
        assert assets[f"{source}/orders"].partitions_def.get_partition_keys() == [
            "eu",
            "us",
            "apac",
        ]
        resource = defs.resources[f"declarative_{source}"]
        assert resource.get_state_url() == f"sqlite:///{example_env}/declarative/state.db"
        assert resource.get_warehouse_url().endswith(f"{example_env}/declarative/warehouse.duckdb")
    schedules = {schedule.name for schedule in defs.schedules or ()}
    assert "demo__customers_job_schedule" in schedules
    assert os.environ["DEMO_API_KEY"] == DEMO_API_KEY, "the key falls back to the demo constant"


def test_main_job_materializes_recent_partitions_through_dagster(
    example_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_demo_main(["--days", "2"]) == 0
    out = capsys.readouterr().out
    assert "demo/customers     2 partitions" in out
    assert "demo/orders        3 partitions" in out
    assert f"DAGSTER_HOME={example_env} " in out and "/dg dev" in out
    look = next(line for line in out.splitlines() if "look inside:" in line)
    command = look.split("look inside: ", 1)[1]
    shown = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "orders" in shown.stdout, shown.stderr

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 3 and all(run.is_success for run in runs)
        assert {run.job_name for run in runs} == {
            f"demo__{stream}_job" for stream in ("customers", "orders", "notes")
        }
        customers = instance.get_materialized_partitions(dg.AssetKey(["demo", "customers"]))
        notes_keys = instance.get_dynamic_partitions("demo__notes")
        assert len(customers) == 2 and notes_keys
        assert instance.get_materialized_partitions(dg.AssetKey(["demo", "notes"])) == set(
            notes_keys
        )
    warehouse = example_env / "declarative" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        (orders,) = connection.execute("select count(*) from demo.orders").fetchone()
    assert orders == ORDER_COUNT


def test_a_failed_demo_run_prints_its_cause(
    example_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEMO_API_KEY", "not-the-key")
    assert run_demo_main(["--days", "1"]) == 1
    err = capsys.readouterr().err
    assert "The example failed: the run of demo/customers failed" in err
    assert "401" in err and "not-the-key" not in err
