"""Slices to partitions: the date cursor's described step picks the partitions definition, and a
partition key maps back to the slice the cursor produces for that window.

The engine's DatetimeBasedCursor is not merged yet, so these tests use a stand-in that exposes the
agreed ``describe()`` / ``slice_for_window()`` API.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace

import dagster as dg
import pytest

from dagster_declarative.partitions import (
    PartitionMappingError,
    partitions_def_for,
    slices_for_partitions,
)
from engine.datetimes import parse_duration

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


@dataclass
class WindowCursor:
    step: str
    timezone: str = "UTC"

    def describe(self) -> SimpleNamespace:
        return SimpleNamespace(start=START, step=parse_duration(self.step), timezone=self.timezone)

    def slice_for_window(self, start: dt.datetime, end: dt.datetime) -> dict:
        return {"start_time": start.isoformat(), "end_time": end.isoformat()}


def _data(cursor: WindowCursor) -> SimpleNamespace:
    return SimpleNamespace(slicer_kind="datetime", slicer=cursor, stream_name="events")


@pytest.mark.parametrize(
    ("step", "kind"),
    [
        ("PT1H", dg.HourlyPartitionsDefinition),
        ("P1D", dg.DailyPartitionsDefinition),
        ("P1W", dg.WeeklyPartitionsDefinition),
        ("P1M", dg.MonthlyPartitionsDefinition),
    ],
)
def test_calendar_steps_map_to_their_definitions(step: str, kind: type) -> None:
    assert isinstance(partitions_def_for(_data(WindowCursor(step))), kind)


def test_six_hour_step_uses_a_cron_window() -> None:
    definition = partitions_def_for(_data(WindowCursor("PT6H")))
    assert definition.cron_schedule == "0 */6 * * *"
    assert definition.get_first_partition_key() == "2024-01-01T00:00"


def test_step_without_cron_equivalent_is_refused() -> None:
    with pytest.raises(PartitionMappingError, match="get_partitions_def"):
        partitions_def_for(_data(WindowCursor("P2D")))


def test_daily_key_maps_to_the_window_slice() -> None:
    cursor = WindowCursor("P1D", timezone="America/New_York")
    definition = partitions_def_for(_data(cursor))
    stream = SimpleNamespace(slicer=cursor, name="events")
    ((key, stream_slice),) = slices_for_partitions(stream, definition, ["2024-03-10"])
    assert key == "2024-03-10"
    assert stream_slice == {
        "start_time": "2024-03-10T00:00:00-05:00",
        "end_time": "2024-03-11T00:00:00-04:00",
    }


def test_list_router_keys_map_to_their_slices() -> None:
    router = SimpleNamespace(values=["us", "eu/west"])
    data = SimpleNamespace(slicer_kind="list", slicer=router, stream_name="orders")
    definition = partitions_def_for(data)
    assert definition.get_partition_keys() == ["us", "eu_west"]
    stream = SimpleNamespace(
        name="orders", slices=lambda: [{"region": "us"}, {"region": "eu/west"}]
    )
    assert slices_for_partitions(stream, definition, ["eu_west"]) == [
        ("eu_west", {"region": "eu/west"})
    ]
