"""Slices are made as they are read, and settings that would never end are refused at load.

A start date in year 1 with a one-minute step is about a billion windows: the first request
goes out at once, sequentially and in a pool, and memory holds a few windows, not all of them.
A zero or negative step, a page size below 1, an unknown datetime directive and a concurrency
above the ceiling are clear errors before anything is sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest
from manifests import modern as modern_text
from support.api_server import ApiServer, Response
from support.slicing_manifests import date_cursor, modern, modern_stream

from engine import load_source
from engine.errors import ConfigError, ManifestError
from engine.source import MAX_CONCURRENCY


def _year_one(url: str, concurrency: int | None = None, **cursor: object) -> dict:
    settings = {"step": "PT1M", "cursor_granularity": "PT1S", **cursor}
    incremental = date_cursor("0001-01-01T00:00:00Z", None, **settings)
    return modern(
        modern_stream(url, "items", "/items", incremental=incremental), concurrency=concurrency
    )


def _first_record_within(records, seconds: float = 60) -> dict:
    """The first record, taken in a thread: an eager slice list would never hand it over."""
    taken: list = []
    thread = threading.Thread(target=lambda: taken.append(next(records)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert taken, "no record after a minute: the slices were not made lazily"
    return taken[0]


@pytest.mark.parametrize("concurrency", [None, 8])
def test_a_start_in_year_one_with_a_minute_step_reads_at_once(
    api_server: ApiServer, concurrency: int | None
) -> None:
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 1}]}))
    source = load_source(_year_one(api_server.url, concurrency), {})
    tracemalloc.start()
    events = source.read()
    first = _first_record_within(m for m in events if m["type"] == "RECORD")
    for _ in range(200):
        next(events)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    events.close()
    source.close()
    assert first["record"]["stream"] == "items"
    # (strftime writes year 1 as "1" on Linux, as the reference runner does too)
    windows = {(r.param("updated_since"), r.param("updated_until")) for r in api_server.requests}
    assert ("1-01-01T00:00:00Z", "1-01-01T00:00:59Z") in windows
    assert peak < 50 * 1024 * 1024


def test_the_command_line_starts_reading_at_once(api_server: ApiServer, tmp_path: Path) -> None:
    api_server.add_route("GET", "/items", lambda r: Response(200, {"data": [{"id": 1}]}))
    manifest, config = tmp_path / "m.json", tmp_path / "c.json"
    manifest.write_text(json.dumps(_year_one(api_server.url)))
    config.write_text("{}")
    command = [sys.executable, "-m", "engine", "read", "--manifest", str(manifest)]
    with subprocess.Popen(
        [*command, "--config", str(config), "--concurrency", "4"], stdout=subprocess.PIPE
    ) as process:
        try:
            lines = [json.loads(process.stdout.readline()) for _ in range(3)]  # type: ignore[union-attr]
        finally:
            process.kill()
    assert [line["type"] for line in lines] == ["RECORD"] * 3


@pytest.mark.parametrize("step", ["PT0S", "P0D", "-P1D", "-PT1M"])
def test_a_step_that_does_not_move_forward_is_a_manifest_error(step: str) -> None:
    source = load_source(_year_one("http://127.0.0.1:9", step=step), {})
    with pytest.raises(ManifestError, match="step must be longer than zero") as caught:
        source.stream("items")
    assert "streams[0].incremental_sync" in str(caught.value)


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%Q", "%Y-%m-%d %", "%Y-%!m", "%k:%M"])
def test_an_unknown_datetime_directive_is_a_manifest_error(fmt: str) -> None:
    source = load_source(_year_one("http://127.0.0.1:9", datetime_format=fmt), {})
    with pytest.raises(ManifestError, match="has the unknown directive"):
        source.stream("items")


def test_the_format_own_directives_are_known() -> None:
    for fmt in ("%s", "%ms", "%s_as_float", "%epoch_microseconds", "%Y-%m-%dT%H:%M:%S.%_msZ"):
        source = load_source(_year_one("http://127.0.0.1:9", datetime_format=fmt), {})
        assert source.stream("items").cursor is not None


@pytest.mark.parametrize("size", [0, -5])
@pytest.mark.parametrize("strategy", ["PageIncrement", "OffsetIncrement"])
def test_a_page_size_below_one_is_a_manifest_error(strategy: str, size: int) -> None:
    paginator = f"""
    type: DefaultPaginator
    pagination_strategy: {{type: {strategy}, page_size: {size}}}
    page_token_option: {{type: RequestOption, inject_into: request_parameter, field_name: p}}
    """
    source = load_source(modern_text("http://127.0.0.1:9", paginator=paginator), {})
    with pytest.raises(ManifestError, match=f"page_size must be at least 1, found {size}"):
        source.stream("items")


@pytest.mark.parametrize("concurrency", [0, -1, MAX_CONCURRENCY + 1, 10**9])
def test_a_concurrency_out_of_range_is_refused(concurrency: int) -> None:
    with pytest.raises(ConfigError, match=f"concurrency must be from 1 to {MAX_CONCURRENCY}"):
        load_source(_year_one("http://127.0.0.1:9"), {}, concurrency=concurrency)


def test_a_manifest_concurrency_above_the_ceiling_is_refused() -> None:
    with pytest.raises(ManifestError, match="asks for 100000 slices at once; at most 256"):
        load_source(_year_one("http://127.0.0.1:9", concurrency=100_000), {})
