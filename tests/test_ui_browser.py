"""The example in the Dagster UI, driven in headless Chromium (Debian's package, via Playwright).

The instance is first seeded as ``scripts/demo`` leaves it (the 2022-dialect source synced for a
day), then ``dagster dev -w workspace.yaml`` loads the example and the tests walk what a new user
does: the catalog lists the stream assets and the daily ``customers`` asset materializes its
latest partition with per-slice lines in the run log; ``demo_3day/customers`` (a ``P3D`` step, no
Dagster calendar has it) materializes one window; a ``notes`` partition (a parent id) logs its
first slice within a second of its step's start (no parent read); the partition page shows
``dagster/partition_row_count`` and the asset's columns carry the database's types. The server
runs in its own process group with a temporary ``DAGSTER_HOME`` and is always killed as a group
(it may ignore SIGTERM); the browser may only talk to 127.0.0.1. On failure, screenshots and the
server log are kept in ``ui-browser-artifacts/`` at the repository root.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from example_project.demo_api import start_in_background

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "ui-browser-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 120
RUN_SECONDS = 180
LOCATION_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI is set, so the browser test must run")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def wait_for_location(base: str, process: subprocess.Popen, log: Path) -> None:
    """Until the webserver answers and the example's code location has loaded, or say why not."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = graphql(base, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, KeyError, TimeoutError):
            entries = []
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [
                e["locationOrLoadError"]["message"]
                for e in entries
                if e["locationOrLoadError"]["__typename"] == "PythonError"
            ]
            assert not errors, f"the code location failed to load: {errors}"
            return
        time.sleep(1)
    pytest.fail(f"dagster dev did not load the example in {STARTUP_SECONDS}s:\n{log.read_text()}")


def stop_group(process: subprocess.Popen) -> None:
    """SIGINT to the whole group, then SIGKILL whatever is left of it."""
    for sent in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
    # the group leader may be gone while its children (code server, daemon) live on
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def seed_instance(home: Path, api_url: str) -> None:
    """What a user has after ``scripts/demo``: the 2022-dialect source synced for a day, so the
    UI has materialized partitions, table columns and registered parent ids to show."""
    environment = {**os.environ, "DAGSTER_HOME": str(home), "DEMO_API_URL": api_url}
    done = subprocess.run(
        [sys.executable, "-m", "example_project.run_demo", "--source", "demo_2022", "--days", "1"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The UI's base URL and the server log; the demo API runs in this process on a free port."""
    require_chromium()
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
    api_url, stop_api = start_in_background()
    seed_instance(home, api_url)
    port = free_port()
    log = home / "dagster-dev.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DEMO_API_URL": api_url,
    }
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml"]
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_location(base, process, log)
        yield base, log
    finally:
        stop_group(process)
        stop_api()


@dataclass
class Browser:
    """A Chromium page that can reach only 127.0.0.1, and what it saw besides the UI."""

    page: Any
    server_log: Path
    blocked: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def keep_artifacts(self, name: str) -> Path:
        """Screenshot, server log and browser errors in ``ui-browser-artifacts/<name>``."""
        folder = ARTIFACTS / name
        folder.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(folder / "page.png"), full_page=True)
        shutil.copy(self.server_log, folder / "dagster-dev.log")
        (folder / "browser.txt").write_text(
            "page errors:\n"
            + "\n".join(self.page_errors)
            + "\n\nblocked requests (not loopback, expected):\n"
            + "\n".join(self.blocked)
        )
        return folder


@pytest.fixture
def browser(dagster_dev: tuple[str, Path], tmp_path: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        session = Browser(context.new_page(), dagster_dev[1])

        def only_loopback(route: Any) -> None:
            if urlsplit(route.request.url).hostname == "127.0.0.1":
                route.continue_()
            else:
                session.blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        session.page.set_default_timeout(30_000)
        session.page.on("pageerror", lambda error: session.page_errors.append(str(error)))
        try:
            yield session
        finally:
            context.close()


def test_materialize_a_daily_partition_from_the_ui(
    dagster_dev: tuple[str, Path], browser: Browser
) -> None:
    try:
        materialize_latest_customers_partition(dagster_dev[0], browser.page)
    except BaseException:
        folder = browser.keep_artifacts("test_materialize_a_daily_partition_from_the_ui")
        print(f"UI test artifacts in {folder}", file=sys.stderr)
        raise


def materialize_latest_customers_partition(base: str, page: Any) -> None:
    """Catalog -> demo/customers -> Materialize latest partition -> run succeeds -> slice logs."""

    page.goto(f"{base}/assets")
    for source in ("demo", "demo_2022"):
        for stream in ("customers", "orders", "notes"):
            # names are truncated in the middle on screen; the links keep the full key
            page.locator(f'a[href$="/assets/{source}/{stream}"]').first.wait_for()

    page.goto(f"{base}/assets/demo/customers")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Latest", exact=True).click()
    dialog.get_by_role("button", name="Launch 1 run").click()

    page.get_by_text("Launched run", exact=False).first.wait_for()
    page.goto(f"{base}/runs")
    page.locator('a[href^="/runs/"]').first.click()
    page.wait_for_url("**/runs/*")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=RUN_SECONDS * 1000)

    log_filter = page.get_by_placeholder("Filter", exact=False).first
    log_filter.fill("slice")
    page.get_by_text(": done,", exact=False).first.wait_for()
    logs = page.inner_text("body")
    assert "slice start_time=" in logs and "records" in logs


def _keeping_artifacts(name: str, browser: Browser, check: Any, *args: Any) -> None:
    try:
        check(*args)
    except BaseException:
        folder = browser.keep_artifacts(name)
        print(f"UI test artifacts in {folder}", file=sys.stderr)
        raise


def text_once_shown(page: Any, url: str, text: str) -> str:
    """The page's text once ``text`` shows at ``url`` (reloaded: partition pages do not follow a
    run that ends after they loaded)."""
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        page.goto(url)
        try:
            page.get_by_text(text, exact=True).first.wait_for(timeout=5_000)
            return page.inner_text("body")
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(2)


def test_a_three_day_window_partition_materializes_from_the_ui(
    dagster_dev: tuple[str, Path], browser: Browser
) -> None:
    _keeping_artifacts(
        "test_a_three_day_window_partition_materializes_from_the_ui",
        browser,
        materialize_a_listed_window,
        dagster_dev[0],
        browser.page,
    )


def materialize_a_listed_window(base: str, page: Any) -> None:
    """demo_3day/customers (step P3D, no Dagster calendar has it): pick a window, launch, and
    see the run succeed with the partition's slice covering exactly three days."""
    page.goto(f"{base}/assets/demo_3day/customers")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem").filter(has_text="2026-10-04").first.click()
    page.keyboard.press("Escape")
    dialog.get_by_role("button", name="Launch 1 run").click()
    page.get_by_text("Launched run", exact=False).first.wait_for()
    url = f"{base}/assets/demo_3day/customers?view=partitions&partition=2026-10-04"
    text = text_once_shown(page, url, "slice/end_time")
    assert "2026-10-04T00:00:00Z" in text and "2026-10-06T23:59:59Z" in text


def test_a_child_partition_run_logs_its_first_slice_within_seconds(
    dagster_dev: tuple[str, Path], browser: Browser
) -> None:
    _keeping_artifacts(
        "test_a_child_partition_run_logs_its_first_slice_within_seconds",
        browser,
        run_one_notes_partition,
        dagster_dev[0],
        browser.page,
    )


def run_one_notes_partition(base: str, page: Any) -> None:
    """demo_2022/notes, one parent id: the slice is built from the key, so the run's first
    slice shows in its log in seconds, not after reading every customer (90 s before)."""
    page.goto(f"{base}/assets/demo_2022/notes")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select a partition or create one").click()
    keys = page.get_by_role("menuitem").filter(has_not_text=re.compile("Add partition|Select all"))
    keys.first.click()
    page.keyboard.press("Escape")
    dialog.get_by_role("button", name=re.compile("^Launch")).click()
    page.get_by_text("Launched run", exact=False).first.wait_for()
    page.goto(f"{base}/runs")
    page.locator('a[href^="/runs/"]').first.click()
    page.wait_for_url("**/runs/*")
    page.get_by_text("slice customer_id=", exact=False).first.wait_for(timeout=RUN_SECONDS * 1000)
    # Dagster's own run and step processes take their time to start on two busy cores; from
    # the step's start the first slice takes well under a second (no parent is read)
    run_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    started = first_event_time(base, run_id, "ExecutionStepStartEvent")
    sliced = first_event_time(base, run_id, "MaterializationEvent")
    assert sliced - started < 10, f"the first slice came {sliced - started:.1f} s after the start"


def first_event_time(base: str, run_id: str, kind: str) -> float:
    """Seconds since the epoch of the run's first event of ``kind`` (from the GraphQL API)."""
    query = (
        f'{{ logsForRun(runId: "{run_id}") {{ ... on EventConnection {{ events {{ '
        "__typename ... on MessageEvent { timestamp } } } } }"
    )
    events = graphql(base, query)["logsForRun"]["events"]
    return next(int(e["timestamp"]) / 1000 for e in events if e["__typename"] == kind)


def test_partition_metadata_and_table_columns_show_in_the_ui(
    dagster_dev: tuple[str, Path], browser: Browser
) -> None:
    _keeping_artifacts(
        "test_partition_metadata_and_table_columns_show_in_the_ui",
        browser,
        check_partition_and_columns,
        dagster_dev[0],
        browser.page,
    )


def check_partition_and_columns(base: str, page: Any) -> None:
    """The seeded partition (yesterday) shows its own row count beside the table's, and the
    asset's columns carry the database's types, the _dd_ columns included."""
    yesterday = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    page.goto(f"{base}/assets/demo_2022/customers?view=partitions&partition={yesterday}")
    page.get_by_text("dagster/partition_row_count", exact=True).first.wait_for()
    assert "dagster/row_count" in page.inner_text("body")
    page.goto(f"{base}/assets/demo_2022/customers")
    page.get_by_text("_dd_extracted_at", exact=True).first.wait_for()
    overview = page.inner_text("body")
    for column, kind in (("id", "BIGINT"), ("_dd_extras", "JSON"), ("_dd_partition", "VARCHAR")):
        assert column in overview and kind in overview, (column, kind)
    assert "TIMESTAMP WITH TIME ZONE" in overview
