"""Every date step becomes partitions whose keys select exactly the engine's windows: the steps
published manifests use (read from the corpus) and a list of common and odd durations."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from support.api_server import ApiServer, DateFilter
from support.slicing_manifests import daily_records, date_cursor, modern, modern_stream

from dagster_declarative import DeclarativeSourceResource, build_declarative_assets
from dagster_declarative.partitions import PartitionMappingError, slices_for_partitions
from dagster_declarative.translator import DeclarativeTranslator, StreamDescription
from engine import StreamPartitions, load_manifest, load_source
from engine.durations import parse_duration
from engine.templates.interpolation import InterpolatedString

CORPUS = Path(
    os.environ.get("CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
LISTED_STEPS = ["P1D", "P3D", "P7D", "P14D", "P30D", "P1M", "P3M", "P1Y", "P365D", "PT6H", "PT15M"]
CALENDAR_OR_CRON = {"P1D", "P7D", "P1W", "P1M", "P3M", "P1Y", "PT6H", "PT15M"}
START = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)
LAST_END = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _walk_steps(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("step"), str):
            yield node["step"]
        for value in node.values():
            yield from _walk_steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_steps(item)


def corpus_steps() -> list[str]:
    """Every date step of the corpus, templates rendered with the config's defaults."""
    found: set[str] = set()
    for manifest in sorted(CORPUS.glob("*/manifest.yaml")) if CORPUS.is_dir() else []:
        for text in _walk_steps(load_manifest(manifest).definition):
            found.add(InterpolatedString(text).eval_str({}))
    return sorted(found)


def _stream(
    step: str, start: dt.datetime, end: dt.datetime | None = None
) -> tuple[Any, StreamDescription]:
    """A date-cursor stream with ``step``, ending after about three and a half windows."""
    if end is None:
        duration = parse_duration(step)
        end = duration.add_to(duration.add_to(duration.add_to(start)))
        end = min(end + (duration.add_to(end) - end) / 2, LAST_END)
    cursor = date_cursor(
        start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        step=step,
        cursor_granularity="PT1S",
    )
    manifest = modern(modern_stream("http://127.0.0.1:9", "events", "/e", incremental=cursor))
    stream = load_source(manifest, {}).streams["events"]
    description = StreamDescription(
        source_name="shop",
        stream_name="events",
        primary_key=(("id",),),
        cursor_field=("updated_at",),
        json_schema={},
        parents=(),
        manifest_hash="x",
        partitioning=StreamPartitions(stream).describe(),
    )
    return stream, description


def _assert_keys_select_engine_windows(step: str, start: dt.datetime) -> dg.PartitionsDefinition:
    stream, description = _stream(step, start)
    partitions_def = DeclarativeTranslator().get_partitions_def(description)
    assert partitions_def is not None
    keys = partitions_def.get_partition_keys()
    engine_slices = [dict(s) for s in stream.slices(None)]
    mapped = [s for _, s in slices_for_partitions(stream, partitions_def, keys)]
    assert mapped == engine_slices, step
    assert len(set(keys)) == len(keys) >= 1
    return partitions_def


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
def test_the_corpus_has_steps_to_test() -> None:
    steps = corpus_steps()
    assert {"P30D", "P365D", "P1W", "P1M"} <= set(steps), steps


@pytest.mark.parametrize("step", sorted({*LISTED_STEPS, *corpus_steps()}))
def test_every_step_maps_partition_keys_to_the_engine_windows(step: str) -> None:
    partitions_def = _assert_keys_select_engine_windows(step, START)
    if step in CALENDAR_OR_CRON:
        assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
    else:
        assert isinstance(partitions_def, dg.StaticPartitionsDefinition)


@pytest.mark.parametrize("step", ["P1D", "P1W", "P1M", "P3M", "PT6H", "PT15M", "P3D", "PT7H"])
def test_windows_that_start_off_midnight_keep_their_offset(step: str) -> None:
    _assert_keys_select_engine_windows(step, START.replace(hour=3, minute=5))


@pytest.mark.parametrize("step", ["P1M", "P3M", "P1Y"])
def test_month_steps_from_the_31st_follow_the_engine_clamping(step: str) -> None:
    partitions_def = _assert_keys_select_engine_windows(step, START.replace(day=31))
    assert isinstance(partitions_def, dg.StaticPartitionsDefinition)


def test_too_many_windows_are_refused_with_the_step_as_written() -> None:
    _, description = _stream("PT7S", START, START + dt.timedelta(days=3))
    with pytest.raises(PartitionMappingError, match=r"step of PT7S .* more than 25000 windows"):
        DeclarativeTranslator().get_partitions_def(description)


def test_a_three_day_partition_materializes_exactly_its_window(
    api_server: ApiServer, tmp_path: Path
) -> None:
    day0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    api_server.add_collection(
        "/events", daily_records(day0, 12), date_filter=DateFilter("updated_at")
    )
    cursor = date_cursor(
        "2024-01-01T00:00:00Z", "2024-01-12T23:59:59Z", step="P3D", cursor_granularity="PT1S"
    )
    manifest = modern(modern_stream(api_server.url, "events", "/events", incremental=cursor))
    (asset,) = build_declarative_assets(manifest, source_name="shop")
    assert asset.partitions_def.get_partition_keys() == [
        "2024-01-01",
        "2024-01-04",
        "2024-01-07",
        "2024-01-10",
    ]
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    planned = asset.metadata_by_key[asset.key]["dagster/column_schema"]
    assert [c.name for c in planned.columns][-4:] == [
        "_dd_extras",
        "_dd_extracted_at",
        "_dd_partition",
        "_dd_run_id",
    ]
    resources = {
        "declarative_source": DeclarativeSourceResource(
            state_url=f"sqlite:///{tmp_path / 'state.db'}",
            warehouse_url=f"duckdb:///{tmp_path / 'wh.duckdb'}",
        )
    }
    dg.materialize([asset], partition_key="2024-01-10", resources=resources, run_config=QUIET)
    result = dg.materialize(
        [asset], partition_key="2024-01-04", resources=resources, run_config=QUIET
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    # days 3, 4, 5 hold 1 + 2 + 3 records; days 9, 10, 11 as many
    assert metadata["records"].value == 6
    assert metadata["dagster/partition_row_count"].value == 6
    assert metadata["dagster/row_count"].value == 12
    columns = {c.name: c.type for c in metadata["dagster/column_schema"].schema.columns}
    assert columns["_dd_extras"] == "JSON" and columns["_dd_partition"] == "VARCHAR"
    assert columns["_dd_extracted_at"].startswith("TIMESTAMP")
    assert metadata["slice/start_time"].value == "2024-01-04T00:00:00Z"
    assert metadata["slice/end_time"].value == "2024-01-06T23:59:59Z"
